"""Default weights (seeded init + calibration) and loading checkpoint files.

Nothing can be downloaded, so the default weights are made here. PyTorch's plain init gives
logits with a std of ~0.02 and top-1 margins of ~1e-3, and calibrating BatchNorm alone makes
every input predict the same class (pooled features collapse onto their mean). Parity on such a
net proves nothing, so the default weights are calibrated in two steps on seeded inputs:

1. BatchNorm running statistics: cumulative averages over calibration batches (precise-BN).
2. Classifier: the pooled features are standardized per channel (mean/std over the calibration
   set folded into ``fc``) and projected with a seeded Gaussian matrix scaled so that logits have
   a std of :data:`TARGET_LOGIT_STD`. Different inputs then get different top-1 classes with
   realistic margins.

Calibrated weights depend only on (arch, classes, seed, calibration version), are computed at a
fixed small image size per family, and are cached as a state-dict file so that every export and
every parity reference use byte-identical weights.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..core.errors import UsageError
from ..core.fileio import atomic_path
from .inputs import synthetic_images
from .spec import ArchSpec

CALIBRATION_VERSION = 1
TARGET_LOGIT_STD = 3.0
CALIBRATION_IMAGES = 32
CALIBRATION_BATCH = 16
CALIBRATION_SIZE = {"imagenet": 128, "cifar_resnext": 32, "cifar_wrn": 32}


def _set_stochastic(model: nn.Module, enabled: bool) -> None:
    """Put dropout / drop-path in train (enabled) or eval mode, leaving BatchNorm alone."""
    from .blocks import DropPath

    for m in model.modules():
        if isinstance(m, (nn.Dropout, DropPath)):
            m.train(enabled)


@torch.no_grad()
def calibrate(model: nn.Module, spec: ArchSpec, seed: int) -> None:
    """Calibrate BatchNorm statistics and the classifier in place (see module docstring)."""
    size = CALIBRATION_SIZE[spec.family]
    images = torch.from_numpy(synthetic_images(CALIBRATION_IMAGES, size, seed + 1_000_003))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average
    model.train()
    _set_stochastic(model, False)
    for batch in images.split(CALIBRATION_BATCH):
        model(batch)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.1
    model.eval()
    feats = torch.cat([model.forward_features(b) for b in images.split(CALIBRATION_BATCH)])
    mu = feats.mean(0)
    sigma = feats.std(0).clamp_min(1e-3 * float(feats.std(0).max()) + 1e-12)
    gen = torch.Generator().manual_seed(seed + 7)
    fan_in = feats.shape[1]
    proj = torch.randn(spec.num_classes, fan_in, generator=gen) * (TARGET_LOGIT_STD / fan_in ** 0.5)
    model.fc.weight.copy_(proj / sigma)
    model.fc.bias.copy_(-(proj @ (mu / sigma)))


def weights_cache_path(spec: ArchSpec, seed: int, cache_dir: str | Path) -> Path:
    return Path(cache_dir) / "weights" / (
        f"{spec.name}-c{spec.num_classes}-seed{seed}-cal{CALIBRATION_VERSION}.pt"
    )


def atomic_torch_save(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _unwrap_checkpoint(obj) -> dict:
    """Accept a bare state dict or the common wrappers ({'state_dict': ...}, {'model': ...})
    and DataParallel's ``module.`` prefix."""
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UsageError("weights file does not hold a state dict of tensors")
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def load_weights_file(model: nn.Module, path: str | Path) -> None:
    """Load a checkpoint file into ``model`` (form c), naming the first mismatches on failure."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--weights {path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UsageError(f"--weights {path}: cannot read as a torch checkpoint ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200]})") from exc
    state = _unwrap_checkpoint(obj)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
              for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys (first: {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} keys (first: {', '.join(unexpected[:3])})")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches (first: {'; '.join(shapes[:3])})")
        raise UsageError(f"--weights {path} does not fit this arch: " + "; ".join(parts))
    model.load_state_dict(state)

