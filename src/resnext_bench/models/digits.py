"""The trained reference: a narrow CIFAR-family ResNeXt trained on scikit-learn's digits.

The default weights are calibrated, not trained; a reduced-precision verdict on them says how an
untrained net of the architecture behaves. This module gives the suite one *trained* network and
one real accuracy-drop measurement, offline: scikit-learn ships 1,797 labeled 8x8 digits.

* :func:`.digits_data.digits_folder` writes each split once as PNG class folders (``0`` ... ``9``, the
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
import time
from pathlib import Path

import numpy as np

from ..core.errors import UsageError
from .digits_data import digits_folder
from .versions import DIGITS_RECIPE_VERSION

EPOCHS = 6
BATCH = 50
LR = 4e-3
WEIGHT_DECAY = 5e-4
IMAGE_SIZE = 32
#: the arch the benchmark and README use as the trained reference
REFERENCE_ARCH = "resnext29_2x8d"


def load_split(split: str, image_size: int = IMAGE_SIZE, limit: int | None = None):
    """(images [N,3,H,W] float32, labels [N]) of a split, through the labeled-folder path."""
    from .inputs import labeled_folder_images

    x, y = labeled_folder_images(digits_folder(split), image_size, limit=limit)
    return x, y


def check_trainable(spec) -> None:
    if spec.family not in ("cifar_resnext", "cifar_wrn") or spec.num_classes != 10:
        raise UsageError(f"--weights digits trains a 10-class CIFAR-family net (e.g. "
                         f"{REFERENCE_ARCH}); {spec.name} is not one")


#: progress lines while training, at most this often (seconds)
PROGRESS_S = 15.0
#: steps timed before the time left is judged against a deadline
DEADLINE_CHECK_STEPS = 5


def _over_deadline(elapsed: float, done: int, total: int, deadline: float,
                   arch: str = REFERENCE_ARCH) -> str | None:
    """Why training cannot finish by ``deadline`` (a ``time.monotonic`` value), judged from the
    steps timed so far, or None."""
    per_step = elapsed / done
    left = deadline - time.monotonic()
    if per_step * (total - done) <= left:
        return None
    return (f"training the trained reference's weights (--weights digits) takes ~"
            f"{per_step * total / 60:.1f} min here (measured on its first {done} of {total} "
            f"steps), more than the budget leaves ({max(left, 0) / 60:.1f} min): raise "
            f"--budget-minutes, or train them once beforehand (`resnext-bench export --arch "
            f"{arch} --weights digits`; cached for every later run)")


def train(model, spec, seed: int, *, epochs: int = EPOCHS, limit: int | None = None,
          log=None, deadline: float | None = None) -> dict:
    """Train ``model`` in place on the training split; returns the record (held-out accuracy,
    seconds). ``limit`` takes the first N training images (tests). ``log`` hears a progress
    line at most every :data:`PROGRESS_S` seconds (with the ETA) and one per epoch;
    ``deadline`` (``time.monotonic``): refused (:class:`UsageError`) as soon as the steps timed
    say it cannot finish by then -- after the first few steps, and again after each epoch."""
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
    t0 = last_log = time.perf_counter()
    total_steps = epochs * steps_per_epoch
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
            done = epoch * steps_per_epoch + s + 1
            now = time.perf_counter()
            if deadline is not None and (done == DEADLINE_CHECK_STEPS or s == steps_per_epoch - 1):
                why = _over_deadline(now - t0, done, total_steps, deadline, spec.name)
                if why:
                    raise UsageError(why)
            if log and now - last_log >= PROGRESS_S:
                last_log = now
                eta = (now - t0) / done * (total_steps - done)
                log(f"digits training: step {done}/{total_steps} (epoch {epoch + 1}/{epochs}), "
                    f"{now - t0:.0f} s, ETA {eta:.0f} s")
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


def trained_state(model, spec, seed: int, cache_dir: str | Path | None, log=None, *,
                  verify: bool = True, deadline: float | None = None) -> dict:
    """Load the cached trained weights into ``model``, training them first if needed; returns
    the training record. A cached file is served only when its recorded digest and source
    match and it holds finite tensors of this arch; otherwise it is retrained with one
    warning line."""
    import torch

    from ..core.cacheentry import drop, entry_problem, record_digest, warn_rebuilt
    from .weights import atomic_torch_save, state_problem

    check_trainable(spec)
    source = f"{spec.name} digits recipe {DIGITS_RECIPE_VERSION} seed {seed}"
    if cache_dir is not None:
        pt, meta = trained_paths(spec, seed, cache_dir)
        if pt.is_file():
            why = entry_problem(pt, source, digest=verify)
            if why is None:
                try:
                    state = torch.load(pt, map_location="cpu", weights_only=True)
                    record = json.loads(meta.read_text())
                    why = state_problem(model, state)
                except Exception as exc:  # noqa: BLE001 -- any unreadable file is retrained
                    why = f"unreadable ({type(exc).__name__})"
                if why is None:
                    model.load_state_dict(state)
                    return record
            warn_rebuilt(pt, why)
            drop(pt)
    record = train(model, spec, seed, log=log, deadline=deadline)
    if cache_dir is not None:
        from ..core.fileio import write_json_atomic

        write_json_atomic(meta, record)
        atomic_torch_save(model.state_dict(), pt)
        record_digest(pt, source)
    return record
