"""Which files of a folder are images, and the built-in photo set (pure Python: the
configuration checks ``--images`` with it before any work, without importing numpy or Pillow).

``--images builtin`` (and ``--calib-images builtin``) name the sixteen public-domain / CC0 photos
shipped in ``builtin_images/`` (their sources and licences are in its SOURCES.md), so every user
has a natural-image parity check without data of their own. A folder that happens to be called
``builtin`` is still reachable as ``./builtin``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

IMAGE_SUFFIXES = (".bmp", ".jpeg", ".jpg", ".png", ".ppm", ".webp")
BUILTIN = "builtin"
BUILTIN_DIR = Path(__file__).resolve().parent / "builtin_images"


def resolve_image_dir(folder: str | Path) -> Path:
    """The folder an ``--images`` value names: the built-in set for ``builtin``."""
    return BUILTIN_DIR if str(folder) == BUILTIN else Path(folder)


def image_files(folder: str | Path) -> list[Path]:
    """The image files of ``folder`` (or of the built-in set) by suffix, sorted."""
    folder = resolve_image_dir(folder)
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def images_digest(folder: str | Path, limit: int | None = None) -> str:
    """``images:<16 hex>`` (``builtin:<16 hex>`` for the built-in set) over the names and sizes
    of the image files that ``folder_images`` reads (the first ``limit``): part of the cache keys
    of what is computed from them, and what a result row says its parity inputs were."""
    files = image_files(folder)[:limit]
    blob = "".join(f"{p.name}:{p.stat().st_size};" for p in files)
    prefix = BUILTIN if str(folder) == BUILTIN else "images"
    return f"{prefix}:" + hashlib.sha256(blob.encode()).hexdigest()[:16]
