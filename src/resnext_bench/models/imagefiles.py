"""Which files of a folder are images (pure Python: the configuration checks ``--images``
with it before any work, without importing numpy or Pillow)."""

from __future__ import annotations

import hashlib
from pathlib import Path

IMAGE_SUFFIXES = (".bmp", ".jpeg", ".jpg", ".png", ".ppm", ".webp")


def image_files(folder: str | Path) -> list[Path]:
    """The image files of ``folder`` by suffix, sorted."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def images_digest(folder: str | Path, limit: int | None = None) -> str:
    """``images:<16 hex>`` over the names and sizes of the image files that ``folder_images``
    reads (the first ``limit``): part of the cache keys of what is computed from them."""
    files = image_files(folder)[:limit]
    blob = "".join(f"{p.name}:{p.stat().st_size};" for p in files)
    return "images:" + hashlib.sha256(blob.encode()).hexdigest()[:16]
