"""Seeded synthetic images, and real images from a folder, as normalized NCHW float tensors.

Three kinds of input, all normalized the ImageNet way:

* smooth noise (:func:`synthetic_images`): a sum of upsampled Gaussian noise at several scales,
  with spatial structure like natural images; the default parity inputs;
* white noise (:func:`white_noise_images`): independent uniform pixels, what a user tries first;
* photos (:func:`folder_images`, :func:`photo_crops`): real images, e.g. the built-in set.

The default weights are calibrated on a seeded mixture of all three (:mod:`.weights`), so that
each kind gets varied predictions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.errors import UsageError
from .imagefiles import IMAGE_SUFFIXES, image_files, resolve_image_dir

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def synthetic_images(n: int, image_size: int, seed: int) -> np.ndarray:
    """``n`` seeded images [n, 3, H, W] float32 with per-channel mean ~0 and std ~1."""
    rng = np.random.default_rng(seed)
    h = w = image_size
    out = np.zeros((n, 3, h, w), dtype=np.float32)
    for scale in (1, 4, 16):
        sh, sw = max(1, -(-h // scale)), max(1, -(-w // scale))
        coarse = rng.standard_normal((n, 3, sh, sw)).astype(np.float32)
        up = np.repeat(np.repeat(coarse, scale, axis=2), scale, axis=3)[:, :, :h, :w]
        out += up * (scale ** 0.5)
    out -= out.mean(axis=(2, 3), keepdims=True) * 0.5  # keep some per-image brightness shift
    out /= out.std(axis=(0, 2, 3), keepdims=True) + 1e-6
    return out


def white_noise_images(n: int, image_size: int, seed: int) -> np.ndarray:
    """``n`` seeded images of independent uniform [0, 1) pixels, ImageNet-normalized."""
    rng = np.random.default_rng(seed)
    a = rng.random((n, image_size, image_size, 3), dtype=np.float32)
    return ((a - IMAGENET_MEAN) / IMAGENET_STD).transpose(0, 3, 1, 2).astype(np.float32)


def _normalized(img) -> np.ndarray:
    a = np.asarray(img, dtype=np.float32) / 255.0
    return ((a - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)


def photo_crops(n: int, image_size: int, seed: int, folder: str | Path = "builtin") -> np.ndarray:
    """``n`` seeded random square crops (40-100 % of the side, mirrored half the time) of the
    photos in ``folder`` (default: the built-in set), taken in turn, resized to ``image_size``."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    photos = [Image.open(f).convert("RGB") for f in image_files(folder)]
    out = []
    for i in range(n):
        img = photos[i % len(photos)]
        w, h = img.size
        side = max(1, int(min(w, h) * rng.uniform(0.4, 1.0)))
        left, top = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        crop = img.crop((left, top, left + side, top + side)).resize((image_size, image_size),
                                                                     Image.BILINEAR)
        if rng.random() < 0.5:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        out.append(_normalized(crop))
    return np.stack(out).astype(np.float32)


def folder_images(folder: str | Path, image_size: int, limit: int | None = None,
                  flag: str = "--images") -> np.ndarray:
    """Images from ``folder`` resized the ImageNet way (shorter side to size/0.875, centre crop)
    and normalized with ImageNet mean/std. Needs Pillow (pulled in by matplotlib). ``flag``:
    the option the folder came with, as errors and warnings name it."""
    return labeled_folder_images(folder, image_size, limit, flag)[0]


def labeled_folder_images(folder: str | Path, image_size: int, limit: int | None = None,
                          flag: str = "--images"):
    """(images, labels): :func:`folder_images` of a folder, with the class index of each image
    when the folder is labeled (class subfolders, :func:`..imagefiles.labeled_image_files`),
    else labels ``None``. Pillow's warnings on a file (a palette with transparency, a huge
    image) become one ``warning:`` line naming the file, not Pillow's raw text."""
    import sys
    import warnings

    from .imagefiles import labeled_image_files

    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - matplotlib depends on pillow
        raise UsageError(f"{flag} needs Pillow: pip install pillow") from exc
    folder = resolve_image_dir(folder)
    if not folder.is_dir():
        raise UsageError(f"{flag} {folder}: not a directory")
    labeled = labeled_image_files(folder)
    files = [p for p, _ in labeled] if labeled is not None else image_files(folder)
    if limit:
        files = files[:limit]
    if not files:
        raise UsageError(f"{flag} {folder}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    resize = int(round(image_size / 0.875))
    arrays = []
    for f in files:
        shown = str(f).encode("utf-8", "backslashreplace").decode("utf-8")  # a non-UTF-8 name
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                img = Image.open(f).convert("RGB")
        except Exception as exc:
            raise UsageError(f"{flag}: cannot read {shown}: {exc}") from exc
        for w in caught:
            sys.stderr.write(f"warning: {flag}: {shown}: {str(w.message).splitlines()[0]}\n")
        w, h = img.size
        scale = resize / min(w, h)
        img = img.resize((max(image_size, round(w * scale)), max(image_size, round(h * scale))),
                         Image.BILINEAR)
        w, h = img.size
        left, top = (w - image_size) // 2, (h - image_size) // 2
        img = img.crop((left, top, left + image_size, top + image_size))
        arrays.append(_normalized(img))
    labels = (np.array([k for _, k in labeled[:len(files)]], dtype=np.int64)
              if labeled is not None else None)
    return np.stack(arrays).astype(np.float32), labels
