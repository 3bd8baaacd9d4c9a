"""Which files of a folder are images (pure Python: the configuration checks ``--images``
with it before any work, without importing numpy or Pillow)."""

from __future__ import annotations

from pathlib import Path

IMAGE_SUFFIXES = (".bmp", ".jpeg", ".jpg", ".png", ".ppm", ".webp")


def image_files(folder: str | Path) -> list[Path]:
    """The image files of ``folder`` by suffix, sorted."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
