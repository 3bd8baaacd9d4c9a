"""The trained reference: a narrow CIFAR-family ResNeXt trained on scikit-learn's digits.

The default weights are calibrated, not trained; a reduced-precision verdict on them says how an
untrained net of the architecture behaves. This module gives the suite one *trained* network and
one real accuracy-drop measurement, offline: scikit-learn ships 1,797 labeled 8x8 digits.

* :func:`digits_folder` writes each split once as PNG class folders (``0`` ... ``9``, the
  ImageFolder convention), so the trained net is fed through exactly the path a user's labeled
  folder takes (``--images digits``: :func:`..inputs.folder_images`, resized the ImageNet way to
  32 px). The split is stratified and seeded: 1,400 training images, 397 held out.
* :func:`trained_state` trains the net on the training split, deterministically (seeded init,
  seeded order, fixed recipe), and caches the state dict with a JSON sidecar that records the
  held-out top-1 accuracy, the epochs and the seconds. ``--weights digits`` loads it.

Recipe (version :data:`..versions.DIGITS_RECIPE_VERSION`): AdamW (lr 4e-3, weight decay 5e-4)
with a one-cycle schedule, batch 50, :data:`EPOCHS` epochs, random shifts of up to 2 px as
the only augmentation.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from ..core.errors import UsageError
from .versions import DIGITS_RECIPE_VERSION

HELDOUT = 397
SPLIT_SEED = 0
EPOCHS = 6
BATCH = 50
LR = 4e-3
WEIGHT_DECAY = 5e-4
IMAGE_SIZE = 32
#: the arch the benchmark and README use as the trained reference
REFERENCE_ARCH = "resnext29_2x8d"


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


def digits_folder(split: str) -> Path:
    """The folder of one split (``train`` or ``heldout``), written on first use (atomically: a
    whole folder or none)."""
    if split not in ("train", "heldout"):
        raise ValueError(split)
    root = cache_root() / f"digits-r{DIGITS_RECIPE_VERSION}"
    dest = root / split
    if (dest / ".complete").is_file():
        return dest
    from PIL import Image

    images, target, splits = _load_digits()
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{split}-", dir=root))
    try:
        for i in splits[split]:
            cls_dir = tmp / str(int(target[i]))
            cls_dir.mkdir(exist_ok=True)
            pixels = np.clip(images[i] * (255.0 / 16.0), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(cls_dir / f"{int(i):04d}.png")
        (tmp / ".complete").write_text(f"{len(splits[split])} images\n")
        if dest.exists():  # an incomplete earlier attempt
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if (dest / ".complete").is_file():  # a concurrent writer finished first
            return dest
        raise
    return dest


def load_split(split: str, image_size: int = IMAGE_SIZE, limit: int | None = None):
    """(images [N,3,H,W] float32, labels [N]) of a split, through the labeled-folder path."""
    from .inputs import labeled_folder_images

    x, y = labeled_folder_images(digits_folder(split), image_size, limit=limit)
    return x, y


def check_trainable(spec) -> None:
    if spec.family not in ("cifar_resnext", "cifar_wrn") or spec.num_classes != 10:
        raise UsageError(f"--weights digits trains a 10-class CIFAR-family net (e.g. "
                         f"{REFERENCE_ARCH}); {spec.name} is not one")


def train(model, spec, seed: int, *, epochs: int = EPOCHS, limit: int | None = None,
          log=None) -> dict:
    """Train ``model`` in place on the training split; returns the record (held-out accuracy,
    seconds). ``limit`` takes the first N training images (tests)."""
    import torch
    from torch import nn

    check_trainable(spec)
    x, y = load_split("train", IMAGE_SIZE, limit=limit)
    xh, yh = load_split("heldout", IMAGE_SIZE)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
    gen = torch.Generator().manual_seed(seed + 11)
    steps_per_epoch = -(-len(xt) // BATCH)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, epochs=epochs,
                                                steps_per_epoch=steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    model.train()
    losses = []
    for epoch in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        shifts = torch.randint(-2, 3, (len(xt), 2), generator=gen)
        total = 0.0
        for s in range(steps_per_epoch):
            idx = order[s * BATCH:(s + 1) * BATCH]
            xb = torch.stack([torch.roll(xt[i], tuple(shifts[i].tolist()), dims=(1, 2)) for i in idx])
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yt[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        losses.append(round(total / len(xt), 5))
        if log:
            log(f"digits epoch {epoch + 1}/{epochs}: loss {total / len(xt):.4f} "
                f"({time.perf_counter() - t0:.0f} s)")
    seconds = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(torch.from_numpy(c)) for c in np.array_split(xh, max(1, len(xh) // 100))])
    acc = float((logits.argmax(1).numpy() == yh).mean())
    return {"arch": spec.name, "seed": seed, "recipe": DIGITS_RECIPE_VERSION, "epochs": epochs,
            "train_images": int(len(xt)), "heldout_images": int(len(yh)),
            "heldout_top1": round(acc, 4), "train_seconds": round(seconds, 1), "epoch_losses": losses,
            "threads": torch.get_num_threads()}


def trained_paths(spec, seed: int, cache_dir: str | Path) -> tuple[Path, Path]:
    base = Path(cache_dir) / "weights" / f"{spec.name}-digits-r{DIGITS_RECIPE_VERSION}-seed{seed}"
    return base.with_suffix(".pt"), base.with_suffix(".json")


def trained_state(model, spec, seed: int, cache_dir: str | Path | None, log=None) -> dict:
    """Load the cached trained weights into ``model``, training them first if needed; returns
    the training record."""
    import torch

    from .weights import atomic_torch_save

    check_trainable(spec)
    if cache_dir is not None:
        pt, meta = trained_paths(spec, seed, cache_dir)
        if pt.is_file() and meta.is_file():
            try:
                model.load_state_dict(torch.load(pt, map_location="cpu", weights_only=True))
                return json.loads(meta.read_text())
            except Exception:
                pass  # damaged: train again
    record = train(model, spec, seed, log=log)
    if cache_dir is not None:
        from ..core.fileio import write_json_atomic

        atomic_torch_save(model.state_dict(), pt)
        write_json_atomic(meta, record)
    return record
