"""scikit-learn's digits as image folders: the trained reference's data set (:mod:`.digits`).

Apart from the training so that the folder resolver (:mod:`.imagefiles`: ``--images digits``)
can write the data set without importing the trainer, which reads images through
:mod:`.inputs` -- which resolves folders through :mod:`.imagefiles` (the circle this cut ends).
Each split is written once as PNG class folders (``0`` ... ``9``), atomically, with a manifest of
its files' sha256; the split is stratified and seeded: 1,400 training images, 397 held out.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from ..core.errors import UsageError
from .versions import DIGITS_RECIPE_VERSION

HELDOUT = 397
SPLIT_SEED = 0


def cache_root() -> Path:
    """Where the digits folders are written: ``$RESNEXT_BENCH_CACHE`` or ``~/.cache/resnext-bench``."""
    env = os.environ.get("RESNEXT_BENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "resnext-bench"


def _load_digits():
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise UsageError("the digits data needs scikit-learn: pip install 'resnext-bench[reference]'") from exc
    data = load_digits()
    idx = np.arange(len(data.target))
    train, held = train_test_split(idx, test_size=HELDOUT, stratify=data.target,
                                   random_state=SPLIT_SEED)
    return data.images, data.target, {"train": np.sort(train), "heldout": np.sort(held)}


def _folder_manifest(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` but the manifest itself, by relative path."""
    from ..core.fileio import file_digest

    return {str(f.relative_to(folder)): file_digest(f) for f in sorted(folder.rglob("*"))
            if f.is_file() and f.name != COMPLETE}


def _folder_problem(dest: Path) -> str | None:
    """Why the digits folder ``dest`` must be written again (None: it is as written)."""
    from ..core.fileio import loads_bounded

    try:
        record = loads_bounded((dest / COMPLETE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "incomplete (no manifest)"
    except (OSError, ValueError, UnicodeDecodeError):
        return "its manifest is unreadable (written by an older release?)"
    if not isinstance(record, dict) or record.get("files") != _folder_manifest(dest):
        return "its files differ from the manifest written with them (changed since)"
    return None


COMPLETE = ".complete"


def digits_folder(split: str) -> Path:
    """The folder of one split (``train`` or ``heldout``), written on first use (atomically: a
    whole folder or none) with a manifest of its files' sha256; a folder whose files no longer
    match it is written again, with one warning line."""
    if split not in ("train", "heldout"):
        raise ValueError(split)
    root = cache_root() / f"digits-r{DIGITS_RECIPE_VERSION}"
    dest = root / split
    if dest.exists():
        why = _folder_problem(dest)
        if why is None:
            return dest
        if why != "incomplete (no manifest)":
            from ..core.cacheentry import warn_rebuilt

            warn_rebuilt(dest, why)
    from PIL import Image

    from ..core.fileio import replace_dir, temp_dir_beside

    images, target, splits = _load_digits()
    root.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir_beside(dest)
    try:
        for i in splits[split]:
            cls_dir = tmp / str(int(target[i]))
            cls_dir.mkdir(exist_ok=True)
            pixels = np.clip(images[i] * (255.0 / 16.0), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(cls_dir / f"{int(i):04d}.png")
        (tmp / COMPLETE).write_text(json.dumps({"images": int(len(splits[split])),
                                                "files": _folder_manifest(tmp)}, indent=1))
        replace_dir(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if dest.exists() and _folder_problem(dest) is None:  # a concurrent writer finished first
            return dest
        raise
    return dest
