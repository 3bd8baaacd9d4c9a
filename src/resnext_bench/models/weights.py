"""Default weights (seeded init + calibration) and loading checkpoint files.

Nothing can be downloaded, so the default weights are made here. PyTorch's plain init gives
logits with a std of ~0.02 and top-1 margins of ~1e-3, and calibrating BatchNorm alone makes
every input predict the same class (pooled features collapse onto their mean). Parity on such a
net proves nothing, and neither does parity on inputs that all land in one class.

Calibration version 1 used smooth noise only, and collapsed elsewhere: on resnext50_32x4d, 18
crops of a photo got 3 distinct top-1 classes with a logit std of 41, and 16 white-noise inputs 2
classes with a logit std of 206. Version 2 calibrated on a seeded *mixture* of the three input
kinds of :mod:`.inputs` (smooth noise, white noise, random crops of the built-in photos), but sat
in a regime no trained network is in: small numerical errors grew on the way through (bf16 logit
cosine 0.90 and top-1 agreement 0.25 on resnext50_32x4d, fp16 max_rel_err 0.07), so every
reduced-precision parity verdict described the weights, not the runtime. Version 3 (this one):

1. Residual branches small against the identity path, as trained ResNets are and as
   zero-init-residual, Fixup and SkipInit start: the last BatchNorm of every residual branch
   (``bn3`` of a bottleneck, ``bn2`` of a basic block) gets gamma :data:`RESIDUAL_GAMMA`; the
   pre-activation WRN block, which ends in a conv, has that conv's weights scaled by it.
   Chosen by measurement (torch bf16 and fp16 against fp32 on the built-in photos): on
   resnext50_32x4d gamma 1 (v2) gave fp16 max_rel_err 0.074 and bf16 cosine 0.90; 0.3 gave
   0.005 / 0.9990 (too close to the 0.999 target); 0.15 gave 0.003 / 0.9998 but OpenVINO bf16
   still flipped 2 of 16 top-1 classes; 0.08 gave 0.0016 / 0.99987, 0.05 no better. 0.1 holds
   on the deepest net measured too (resnext101_32x8d: bf16 cosine 0.99978, top-1 1.0), with
   every input kind keeping >= 11 distinct top-1 classes of 16.
2. BatchNorm running statistics: cumulative averages over batches that mix the kinds
   (precise-BN), so every kind lands in the range the layers were normalized for.
3. Classifier: the pooled features are centred and divided per channel by
   ``sqrt(std^2 + median(std)^2)`` (folded into ``fc``) and projected with a seeded Gaussian
   matrix. Version 2 divided by the std alone, which multiplied the rounding noise of
   near-constant channels (4.6x in logit error on resnext50_32x4d in bf16); the floor at the
   median std bounds that gain. The directions along which the kinds' mean features differ are
   removed from the projection, so the logits vary *within* each kind instead of telling the
   kinds apart; the matrix is then scaled so the logits over the mixture have a std of
   :data:`TARGET_LOGIT_STD`.

:func:`prediction_spread` measures the result: on resnext50_32x4d at 224 px every kind gets at
least 14 distinct top-1 classes over 16 inputs with a logit std of 2 to 4
(``benchmarks/default_weights.py`` records it for several archs).

Calibrated weights depend only on (arch, classes, seed, calibration version), are computed at a
fixed small image size per family, and are cached as a state-dict file so that every export and
every parity reference use byte-identical weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core.errors import UsageError
from ..core.fileio import atomic_path
from .inputs import photo_crops, synthetic_images, white_noise_images
from .spec import ArchSpec
from .versions import CALIBRATION_VERSION

TARGET_LOGIT_STD = 3.0
#: calibration version 4: the random projection's share of the classifier (the "floor" every
#: class has), and the gain of the photo pseudo-classes (in logits per unit cosine, over the
#: mean normalized feature length); chosen by measurement, see the module doc
FLOOR_SCALE = 0.75
PROTOTYPE_GAIN = 55.0
PROTOTYPE_CROPS_PER_PHOTO = 4
#: pseudo-classes need a head with at least twice this many classes (the built-in photos)
PROTOTYPE_MIN_CLASSES = 16
#: gamma of the last BatchNorm of each residual branch (calibration version 3)
RESIDUAL_GAMMA = 0.1
CALIBRATION_PER_KIND = 16
CALIBRATION_BATCH = 24
CALIBRATION_SIZE = {"imagenet": 128, "cifar_resnext": 32, "cifar_wrn": 32}
INPUT_KINDS = ("smooth noise", "white noise", "photos")


def _set_stochastic(model: nn.Module, enabled: bool) -> None:
    """Put dropout / drop-path in train (enabled) or eval mode, leaving BatchNorm alone."""
    from .blocks import DropPath

    for m in model.modules():
        if isinstance(m, (nn.Dropout, DropPath)):
            m.train(enabled)


def input_kinds(n: int, image_size: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` seeded inputs of each kind of :data:`INPUT_KINDS` (photos: random crops of the
    built-in set)."""
    return {"smooth noise": synthetic_images(n, image_size, seed + 1_000_003),
            "white noise": white_noise_images(n, image_size, seed + 2_000_003),
            "photos": photo_crops(n, image_size, seed + 3_000_003)}


@torch.no_grad()
def shrink_residual_branches(model: nn.Module, gamma: float = RESIDUAL_GAMMA) -> int:
    """Scale every residual branch's output by ``gamma`` against the identity path (step 1 of
    the module docstring); returns how many branches were scaled."""
    from .blocks import BasicBlock, Bottleneck, PreActBlock

    n = 0
    for m in model.modules():
        if isinstance(m, Bottleneck):
            m.bn3.weight.fill_(gamma)
        elif isinstance(m, BasicBlock):
            m.bn2.weight.fill_(gamma)
        elif isinstance(m, PreActBlock):
            m.conv2.weight.mul_(gamma)
        else:
            continue
        n += 1
    return n


@torch.no_grad()
def calibrate(model: nn.Module, spec: ArchSpec, seed: int) -> None:
    """Calibrate BatchNorm statistics and the classifier in place (see module docstring)."""
    shrink_residual_branches(model)
    size = CALIBRATION_SIZE[spec.family]
    kinds = list(input_kinds(CALIBRATION_PER_KIND, size, seed).values())
    # interleaved (image i of every kind, then image i + 1 ...): every batch mixes the kinds
    images = torch.from_numpy(np.stack(kinds, 1).reshape(-1, *kinds[0].shape[1:]))
    kind = torch.arange(len(images)) % len(kinds)
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
    std = feats.std(0)
    sigma = torch.sqrt(std ** 2 + float(std.median()) ** 2).clamp_min(1e-12)
    z = (feats - mu) / sigma
    gen = torch.Generator().manual_seed(seed + 7)
    proj = torch.randn(spec.num_classes, feats.shape[1], generator=gen, dtype=feats.dtype)
    kind_means = torch.stack([z[kind == k].mean(0) for k in range(len(kinds))])
    basis, _ = torch.linalg.qr((kind_means - kind_means.mean(0)).T)  # spans the kinds' offsets
    basis = basis[:, :len(kinds) - 1]
    proj = proj - (proj @ basis) @ basis.T
    proj *= TARGET_LOGIT_STD / float((z @ proj.T).std())
    if spec.num_classes >= 2 * PROTOTYPE_MIN_CLASSES:  # ImageNet heads; a 10-class head keeps v3's
        proj = FLOOR_SCALE * proj + prototype_rows(model, spec, seed, mu, sigma, basis)
    model.fc.weight.copy_(proj / sigma)
    model.fc.bias.copy_(-(proj @ (mu / sigma)))


@torch.no_grad()
def prototype_rows(model: nn.Module, spec: ArchSpec, seed: int, mu, sigma, basis) -> torch.Tensor:
    """The confident part of the classifier (calibration version 4, step 4 of the module doc):
    one pseudo-class per built-in photo -- the mean normalized feature of seeded random crops of
    it, the kinds' offsets removed, unit length (only for heads with at least twice as many
    classes as photos: a 10-class CIFAR head keeps version 3's classifier, its classes too few
    to give most of them to photos). Each gets a seeded class index and
    the row ``PROTOTYPE_GAIN / mean |z|`` times that unit vector; every other row is zero. A
    photo then scores its own pseudo-class far above the floor, while a noise input (no
    component along any photo's direction) is left to the floor's varied random projection."""
    from .imagefiles import image_files

    size = CALIBRATION_SIZE[spec.family]
    photos = len(image_files("builtin"))
    crops = torch.from_numpy(photo_crops(photos * PROTOTYPE_CROPS_PER_PHOTO, size, seed + 4_000_003))
    z = (torch.cat([model.forward_features(b) for b in crops.split(CALIBRATION_BATCH)]) - mu) / sigma
    z = z - (z @ basis) @ basis.T
    source = torch.arange(len(z)) % photos  # photo_crops takes the photos in turn
    means = torch.stack([z[source == j].mean(0) for j in range(photos)])
    k = photos
    unit = means / means.norm(dim=1, keepdim=True).clamp_min(1e-12)
    rows = torch.zeros(spec.num_classes, z.shape[1], dtype=z.dtype)
    classes = torch.randperm(spec.num_classes, generator=torch.Generator().manual_seed(seed + 13))[:k]
    rows[classes] = PROTOTYPE_GAIN / float(z.norm(dim=1).mean()) * unit
    return rows


@torch.no_grad()
def prediction_spread(model: nn.Module, image_size: int, n: int = 16, seed: int = 4242,
                      ) -> dict[str, dict]:
    """Per input kind: how many distinct top-1 classes ``n`` fresh inputs get, the std of their
    logits, and how confident the net is -- the median top-1 softmax probability and the median
    gap between the top two logits in units of that input's logit std (a trained ImageNet net:
    ~0.8 mean top-1 probability on its validation photos). Photos are the built-in set's centre
    crops (its first ``n``) and seeded random crops of it; noise is seeded with ``seed``,
    unlike the calibration inputs."""
    from .inputs import folder_images

    inputs = input_kinds(n, image_size, seed)
    inputs["photos"] = folder_images("builtin", image_size, limit=n)
    inputs["photo crops"] = photo_crops(n, image_size, seed + 1)
    out = {}
    for name, x in inputs.items():
        logits = torch.cat([model(torch.from_numpy(b)) for b in np.array_split(x, max(1, len(x) // 8))])
        top2 = logits.topk(2, dim=1).values
        gap = (top2[:, 0] - top2[:, 1]) / logits.std(dim=1).clamp_min(1e-12)
        out[name] = {"inputs": len(x), "distinct_top1": int(logits.argmax(1).unique().numel()),
                     "logit_std": round(float(logits.std()), 3),
                     "median_top1_prob": round(float(logits.softmax(1).max(1).values.median()), 3),
                     "median_gap_std": round(float(gap.median()), 3)}
    return out


def weights_cache_path(spec: ArchSpec, seed: int, cache_dir: str | Path) -> Path:
    return Path(cache_dir) / "weights" / (
        f"{spec.name}-c{spec.num_classes}-seed{seed}-cal{CALIBRATION_VERSION}.pt"
    )


def default_weights_source(spec: ArchSpec, seed: int) -> str:
    """What a cached default-weights file is made from (its digest record says it)."""
    return f"{spec.name} classes {spec.num_classes} seed {seed} calibration v{CALIBRATION_VERSION}"


def state_findings(model: nn.Module, state: dict) -> dict[str, list[str]]:
    """What keeps ``state`` (a dict of tensors) from being this model's weights: tensors with
    NaN / infinity, missing and unexpected keys, shape mismatches -- each a list, empty when
    fine. One check for a user's checkpoint and for the weights cache."""
    own = model.state_dict()
    return {"nonfinite": [k for k, v in state.items() if v.is_floating_point()
                          and not bool(torch.isfinite(v).all())],
            "missing": [k for k in own if k not in state],
            "unexpected": [k for k in state if k not in own],
            "shapes": [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
                       for k in own if k in state and state[k].shape != own[k].shape]}


def state_problem(model: nn.Module, state) -> str | None:
    """Why a cached ``state`` cannot be this model's weights, in a few words, or None."""
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        return "not a state dict of tensors"
    found = state_findings(model, state)
    if found["nonfinite"]:
        return f"{found['nonfinite'][0]} holds NaN or infinity"
    if found["missing"] or found["unexpected"] or found["shapes"]:
        return "holds other keys or shapes than this arch's"
    return None


def load_default_weights(model: nn.Module, spec: ArchSpec, seed: int,
                         cache_dir: str | Path | None, *, verify: bool = True) -> None:
    """The default calibrated weights into ``model``: from the cache when its recorded digest
    and source match and it holds finite tensors of this arch, else calibrated (one warning
    line when a cached file was refused) and cached with its digest."""
    from ..core.cacheentry import drop, entry_problem, record_digest, warn_rebuilt

    cached = weights_cache_path(spec, seed, cache_dir) if cache_dir else None
    source = default_weights_source(spec, seed)
    if cached is not None and cached.is_file():
        why = entry_problem(cached, source, digest=verify)
        if why is None:
            try:
                state = torch.load(cached, map_location="cpu", weights_only=True)
                why = state_problem(model, state)
            except Exception as exc:  # noqa: BLE001 -- any unreadable file is rebuilt
                why = f"unreadable as a state dict ({type(exc).__name__})"
            if why is None:
                model.load_state_dict(state)
                return
        warn_rebuilt(cached, why)
        drop(cached)
    calibrate(model, spec, seed)
    if cached is not None:
        atomic_torch_save(model.state_dict(), cached)
        record_digest(cached, source)


def atomic_torch_save(obj, path: Path) -> None:
    """``torch.save`` through memory, then one plain write: torch's own file writer turns a
    full disk into ``RuntimeError: unexpected pos``, a plain write into ``OSError(ENOSPC)``
    naming the path (one line, exit 2)."""
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(buf.getbuffer())


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


def _looks_pickled(path: Path) -> bool:
    """A torch zip checkpoint (``PK``) or a pickle of protocol 2+ (``\\x80``): a file the
    weights-only unpickler refused for the objects it holds, not for being something else."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
    except OSError:
        return False
    return head == b"PK" or head[:1] == b"\x80"


def load_weights_file(model: nn.Module, path: str | Path) -> None:
    """Load a checkpoint file into ``model`` (form c), naming the first mismatches on failure."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--weights {path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        # the weights-only unpickler met pickled objects beyond tensors (a torch.save of a module
        # or an argparse Namespace, a plain pickle.dump): refused, not advice to unpickle it
        if "Unsupported global" in str(exc) or ("Weights only load failed" in str(exc)
                                               and _looks_pickled(path)):
            raise UsageError(f"--weights {path}: not a plain state dict (it holds pickled Python "
                             "objects, which can run code on load): not loaded, for safety; save "
                             "model.state_dict() instead") from None
        why = next((line.strip() for line in str(exc).splitlines() if line.strip().startswith(
            ("Unsupported operand", "invalid load key", "PytorchStreamReader"))), None)
        raise UsageError(f"--weights {path}: cannot read as a torch checkpoint ({type(exc).__name__}"
                         + (f": {why[:160]}" if why else "") + ")") from None
    state = _unwrap_checkpoint(obj)
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise UsageError(f"--weights {path}: not a state dict of tensors")
    ints = [k for k, v in model.state_dict().items()
            if k in state and v.is_floating_point() and not state[k].is_floating_point()]
    if ints:
        raise UsageError(f"--weights {path}: {len(ints)} tensor(s) are {state[ints[0]].dtype} where "
                         f"the arch has floating-point weights (first: {', '.join(ints[:3])})")
    found = state_findings(model, state)
    bad, missing, unexpected, shapes = (found[k] for k in ("nonfinite", "missing", "unexpected", "shapes"))
    if bad:
        raise UsageError(f"--weights {path}: {len(bad)} tensor(s) hold NaN or infinity (first: "
                         f"{', '.join(bad[:3])}): every output would be non-finite")
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

