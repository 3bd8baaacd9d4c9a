"""Re-create ``src/resnext_bench/models/builtin_images/`` (the ``--images builtin`` set).

Provenance, not run by the tool or CI: the photos come from matplotlib's sample data (installed
with the package's matplotlib) and from the scikit-image wheel's ``skimage/data`` folder (any
recent version: ``pip download scikit-image --no-deps`` and unzip it, then pass the folder). Only
photos that their sources mark public domain or CC0 are used; SOURCES.md lists each with its
licence. Each entry is one square crop, resized to 256 px, saved as JPEG quality 92.

    python scripts/make-builtin-images.py PATH/TO/skimage/data
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib
from PIL import Image

OUT = Path(__file__).resolve().parents[1] / "src/resnext_bench/models/builtin_images"
MPL = Path(matplotlib.get_data_path()) / "sample_data"
SIZE = 256

# (output name, source, file, crop box as fractions (left, top, right, bottom) of the image)
CROPS = [
    ("01_hopper_portrait", "mpl", "grace_hopper.jpg", (0.0, 0.0, 1.0, 0.85)),
    ("02_hopper_face", "mpl", "grace_hopper.jpg", (0.22, 0.05, 0.82, 0.55)),
    ("03_astronaut", "sk", "astronaut.png", (0.0, 0.0, 1.0, 1.0)),
    ("04_astronaut_face", "sk", "astronaut.png", (0.3, 0.0, 0.75, 0.45)),
    ("05_cat", "sk", "chelsea.png", (0.1, 0.0, 0.8, 1.0)),
    ("06_cat_face", "sk", "chelsea.png", (0.25, 0.1, 0.7, 0.75)),
    ("07_coffee", "sk", "coffee.png", (0.15, 0.0, 0.85, 1.0)),
    ("08_coffee_cup", "sk", "coffee.png", (0.3, 0.1, 0.75, 0.75)),
    ("09_rocket_launch", "sk", "rocket.jpg", (0.2, 0.0, 0.8, 0.9)),
    ("10_rocket_detail", "sk", "rocket.jpg", (0.35, 0.1, 0.65, 0.55)),
    ("11_hubble_deep_field", "sk", "hubble_deep_field.jpg", (0.0, 0.0, 1.0, 1.0)),
    ("12_brick_wall", "sk", "brick.png", (0.0, 0.0, 1.0, 1.0)),
    ("13_grass", "sk", "grass.png", (0.0, 0.0, 1.0, 1.0)),
    ("14_gravel", "sk", "gravel.png", (0.0, 0.0, 1.0, 1.0)),
    ("15_retina", "sk", "retina.jpg", (0.0, 0.0, 1.0, 1.0)),
    ("16_cameraman", "sk", "camera.png", (0.0, 0.0, 1.0, 1.0)),
]


def square(img: Image.Image, box) -> Image.Image:
    w, h = img.size
    l, t, r, b = box[0] * w, box[1] * h, box[2] * w, box[3] * h
    side = min(r - l, b - t)
    cx, cy = (l + r) / 2, (t + b) / 2
    crop = img.crop((round(cx - side / 2), round(cy - side / 2), round(cx + side / 2), round(cy + side / 2)))
    return crop.resize((SIZE, SIZE), Image.LANCZOS)


def main(skimage_data: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, source, file, box in CROPS:
        folder = MPL if source == "mpl" else Path(skimage_data)
        img = Image.open(folder / file).convert("RGB")
        square(img, box).save(OUT / f"{name}.jpg", quality=92, optimize=True)
        print(name)


if __name__ == "__main__":
    main(sys.argv[1])
