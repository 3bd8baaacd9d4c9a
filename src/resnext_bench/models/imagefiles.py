"""Which files of a folder are images, and the built-in photo set (pure Python: the
configuration checks ``--images`` with it before any work, without importing numpy or Pillow).

``--images builtin`` (and ``--calib-images builtin``) name the sixteen public-domain / CC0 photos
shipped in ``builtin_images/`` (their sources and licences are in its SOURCES.md), so every user
has a natural-image parity check without data of their own. A folder that happens to be called
``builtin`` is still reachable as ``./builtin``.

``digits`` and ``digits-train`` name the held-out and training splits of scikit-learn's labeled
digits, written once as PNG class folders (:mod:`.digits`): the trained reference's data.

A folder whose subfolders hold images is *labeled* (torchvision's ImageFolder convention): the
sorted subfolder names are the class indices (for ImageNet synset folders, the standard index),
and rows measured on it get accuracy beside agreement. Its files are listed round-robin over the
classes, so that the first N of them (``--parity-images N``) cover every class.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

IMAGE_SUFFIXES = (".bmp", ".jpeg", ".jpg", ".png", ".ppm", ".webp")
BUILTIN = "builtin"
BUILTIN_DIR = Path(__file__).resolve().parent / "builtin_images"
DIGITS = "digits"
DIGITS_TRAIN = "digits-train"
#: ``--calib-images synthetic``: seeded noise instead of images (calibration only)
SYNTHETIC = "synthetic"
#: names that are not paths: what each stands for
IMAGE_KEYWORDS = {BUILTIN: "the 16 shipped photos",
                  DIGITS: "scikit-learn's digits, held-out split (labeled)",
                  DIGITS_TRAIN: "scikit-learn's digits, training split (labeled)"}


def resolve_image_dir(folder: str | Path) -> Path:
    """The folder an ``--images`` value names: the built-in set for ``builtin``, the digits
    splits (written on first use) for ``digits`` / ``digits-train``."""
    if str(folder) == BUILTIN:
        return BUILTIN_DIR
    if str(folder) in (DIGITS, DIGITS_TRAIN):
        from .digits_data import digits_folder

        return digits_folder("heldout" if str(folder) == DIGITS else "train")
    return Path(folder)


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES


def labeled_classes(folder: str | Path) -> list[str] | None:
    """The class names of a labeled folder (sorted subfolders that hold images), else None."""
    folder = resolve_image_dir(folder)
    classes = sorted(d.name for d in folder.iterdir()
                     if d.is_dir() and not d.name.startswith(".") and any(map(_is_image, d.iterdir())))
    return classes or None


def labeled_image_files(folder: str | Path) -> list[tuple[Path, int]] | None:
    """(file, class index) of a labeled folder, round-robin over the classes; None if the
    folder is not labeled."""
    classes = labeled_classes(folder)
    if classes is None:
        return None
    root = resolve_image_dir(folder)
    per_class = [sorted(p for p in (root / c).iterdir() if _is_image(p)) for c in classes]
    out = []
    for i in range(max(map(len, per_class))):
        out += [(files[i], k) for k, files in enumerate(per_class) if i < len(files)]
    return out


def image_files(folder: str | Path) -> list[Path]:
    """The image files of ``folder`` (or of a named set): a labeled folder's in its
    round-robin order, else the folder's own image files, sorted."""
    labeled = labeled_image_files(folder)
    if labeled is not None:
        return [p for p, _ in labeled]
    folder = resolve_image_dir(folder)
    return sorted(p for p in folder.iterdir() if _is_image(p))


def images_digest(folder: str | Path, limit: int | None = None) -> str:
    """``images:<16 hex>`` (``builtin:<16 hex>`` for the built-in set) over the names, class
    folders and *contents* (sha256) of the image files that ``folder_images`` reads (the first
    ``limit``): part of the cache keys of what is computed from them (parity references, int8
    calibration), and what a result row says its parity inputs were. Contents, not sizes: a
    folder whose images were overwritten by others of the same size is other inputs."""
    from ..core.fileio import file_digest

    labeled = labeled_image_files(folder)
    files = image_files(folder)[:limit]
    blob = "".join(f"{p.parent.name + '/' if labeled else ''}{p.name}:{file_digest(p)};" for p in files)
    prefix = str(folder) if str(folder) in IMAGE_KEYWORDS else "images"
    # a file name that is not UTF-8 reaches Python as surrogate escapes: hashed as its bytes
    return f"{prefix}:" + hashlib.sha256(blob.encode("utf-8", "surrogateescape")).hexdigest()[:16]
