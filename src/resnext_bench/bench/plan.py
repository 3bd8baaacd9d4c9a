"""What to measure: a :class:`~resnext_bench.config.RunConfig` expanded into
:class:`~resnext_bench.core.schema.Combo` s, one per result row, after the runtime names are
resolved against this machine.

A combo's ``key`` is the row identity (:func:`resnext_bench.core.schema.config_key`).
It is what ``--resume`` skips, what ``--shard`` hashes and what ``compare`` matches rows by, so
it must be stable across runs and machines.
"""

from __future__ import annotations

import hashlib
import re

from ..config import (CUDA_ONLY_SETTINGS, INT8_SETTINGS, RUNTIME_NAMES, RUNTIME_ONLY_OPTIONS,
                      RUNTIME_SETTINGS, TORCH_RUNTIMES, RunConfig, cli_flag, default_of,
                      runtime_device, runtime_spec)
from ..core.errors import UsageError
from ..core.schema import Combo
from ..models.spec import parse_arch
from ..runtimes.cuda_probe import cuda_status
from .env import cpu_quota
from ..runtimes.registry import check_available


def why_not(combo: Combo, *, available=None, runtime_class=None) -> str | None:
    """Why ``combo`` cannot run here (None: it can) -- the one answer for ``bench``, ``sweep``
    (skipped rows), ``ab`` and ``tune``'s candidates: the runtime is not usable here, does not
    run the precision (or not on this machine), or not on the device. ``available`` /
    ``runtime_class`` replace the registry's (tests pass fake runtimes)."""
    from ..runtimes.registry import get_runtime_class

    cls = (runtime_class or get_runtime_class)(combo.runtime)
    ok, reason = (available or check_available)(combo.runtime)
    if not ok:
        return f"runtime unavailable: {reason}"
    if combo.precision not in cls.precisions:
        return f"{combo.runtime} does not run {combo.precision} (supports {', '.join(cls.precisions)})"
    problem = cls.precision_problem(combo.precision)
    if problem:
        return problem
    if combo.device not in runtime_spec(combo.runtime).devices:
        return f"{combo.runtime} does not run on {combo.device}"
    return None


def resolve_runtimes(names, *, strict: bool) -> list[str]:
    """Expand ``all``. ``strict`` (bench, parity): ``all`` means the runtimes usable here and a
    named unusable runtime is an error saying why. Not strict (sweep): ``all`` is every runtime
    and unusable ones are kept, to become skipped rows with the reason."""
    if "all" in names:
        names = [n for n in RUNTIME_NAMES if not strict or check_available(n)[0]]
        if not names:
            raise UsageError("no runtime is usable here (see `resnext-bench list`)")
        return names
    if strict:
        for n in names:
            ok, reason = check_available(n)
            if not ok:
                raise UsageError(f"runtime {n} is not usable here: {reason}")
    return list(dict.fromkeys(names))


def torch_device(config: RunConfig, runtimes: list[str], *, strict: bool) -> str:
    """The torch runtime's device: ``auto`` is cuda when torch sees a GPU."""
    device = config.plan.device
    if device == "cpu" or not set(TORCH_RUNTIMES) & set(runtimes):
        return "cpu" if device == "auto" else device
    ok, reason = cuda_status()
    if device == "cuda" and not ok and strict:
        raise UsageError(f"--device cuda: {reason}")
    return device if device == "cuda" else ("cuda" if ok else "cpu")


def combos(config: RunConfig, *, strict: bool) -> list[Combo]:
    """Every combination once, in a stable order; threads apply to CPU rows only; a runtime
    setting with several values (an axis) makes one combo per value for the runtimes that read
    it, and every combo carries its non-default settings (part of its key)."""
    plan = config.plan
    runtimes = resolve_runtimes(plan.runtimes, strict=strict)
    torch_dev = torch_device(config, runtimes, strict=strict)
    seen, out = set(), []
    for arch in plan.archs:
        spec = parse_arch(arch)
        for size in plan.image_sizes or (None,):
            size = spec.resolve_image_size(size)
            for form in plan.forms:
                for runtime in runtimes:
                    device = runtime_device(runtime, torch_dev)
                    for precision in plan.precisions:
                        for batch in plan.batches:
                            for threads in plan.threads or (None,):
                                for settings in config.settings_for(runtime, precision, device):
                                    c = Combo(spec.name, form, runtime, device, precision, batch,
                                              threads if device == "cpu" else None, size,
                                              settings)
                                    if c.key not in seen:
                                        seen.add(c.key)
                                        out.append(c)
    return out


#: the quantization settings: they make int8 artifacts and nothing else
QUANT_ONLY = INT8_SETTINGS + ("calib_images",)


def option_notes(config: RunConfig, *, strict: bool) -> list[str]:
    """Options given that change nothing in this run: an error when the user named the runtimes
    (or precisions) and none of them reads the option, a one-line note when ``all`` made it moot
    for some runtimes; notes for what will not be as asked (threads beyond the CPUs here)."""
    plan = config.plan
    runtimes = resolve_runtimes(plan.runtimes, strict=strict)
    named = "all" not in plan.runtimes
    torch_dev = torch_device(config, runtimes, strict=strict)
    notes: list[str] = []
    readers_of: dict[str, list[str]] = {}
    for rt in runtimes:
        for name in RUNTIME_SETTINGS[rt]:
            if name in CUDA_ONLY_SETTINGS and runtime_device(rt, torch_dev) != "cuda":
                continue
            readers_of.setdefault(name, []).append(rt)
        for name, readers in RUNTIME_ONLY_OPTIONS.items():
            if rt in readers:
                readers_of.setdefault(name, []).append(rt)
    axes = dict(config.axes)
    for name in sorted(config.given):
        changed = name in axes or config.value(name) != default_of(name)
        if not changed:
            continue
        if name in QUANT_ONLY:
            if "int8" not in plan.precisions:
                raise UsageError(f"{cli_flag(name)} applies to int8 rows only, and --precision "
                                 f"is {','.join(plan.precisions)}")
            continue
        everyone = [rt for rt, names in RUNTIME_SETTINGS.items() if name in names] \
            + list(RUNTIME_ONLY_OPTIONS.get(name, ()))
        if not everyone:
            continue
        if name not in readers_of:
            who = ", ".join(everyone) + (" (on cuda)" if name in CUDA_ONLY_SETTINGS else "")
            text = f"{cli_flag(name)} does not apply to {', '.join(runtimes)} (read by {who})"
            if named:
                raise UsageError(text)
            notes.append(f"{text}: ignored in this run")
    if config.export.onnx and set(runtimes) & set(TORCH_RUNTIMES):
        eager = [rt for rt in runtimes if rt in TORCH_RUNTIMES]
        text = (f"--onnx: {', '.join(eager)} run(s) the PyTorch module built from the file's "
                "metadata, not the file")
        if named and len(eager) == len(runtimes):
            raise UsageError(text + "; give an ONNX runtime (--runtime ort-cpu, openvino, ...)")
        notes.append(text)
    notes += image_folder_notes(config)
    cpus = cpu_quota()
    over = [t for t in plan.threads if t > cpus]
    if over:
        notes.append(f"--threads {','.join(map(str, over))}: more than the {cpus} CPU(s) this "
                     "process may use; those rows oversubscribe the cores")
    return notes


_SYNSET = re.compile(r"^n\d{8}$")


def image_folder_notes(config: RunConfig) -> list[str]:
    """What ``--images DIR`` will do that the user may not expect: files it skips (not
    images), and a labeled folder whose class folders cannot be the net's classes (labels are
    the sorted folder index: two folders ``cat`` / ``dog`` on a 1000-class net score cat as
    class 0, and "accuracy 0.0 %" would mean nothing)."""
    from ..models.imagefiles import IMAGE_KEYWORDS, IMAGE_SUFFIXES, labeled_classes, resolve_image_dir
    from ..models.spec import parse_arch

    folder = config.parity.images
    if not folder or folder in IMAGE_KEYWORDS:
        return []
    root = resolve_image_dir(folder)
    notes = []
    classes = labeled_classes(folder)
    dirs = [root / c for c in classes] if classes else [root]
    stray = sorted(p.name for d in dirs for p in d.iterdir()
                   if p.is_file() and not p.name.startswith(".") and p.suffix.lower() not in IMAGE_SUFFIXES)
    if stray:
        notes.append(f"--images {folder}: {len(stray)} file(s) that are not images ({', '.join(IMAGE_SUFFIXES)}) "
                     f"skipped (first: {stray[0]})")
    if classes:
        for arch in config.plan.archs:
            n = parse_arch(arch).num_classes
            synsets = all(_SYNSET.match(c) for c in classes)
            if len(classes) != n and not synsets:
                notes.append(f"--images {folder}: {len(classes)} class folders ({', '.join(classes[:3])}"
                             f"{', ...' if len(classes) > 3 else ''}) on {arch}'s {n} classes: labels are "
                             f"the folders' sorted index (0..{len(classes) - 1}), so accuracy is "
                             f"meaningful only if those are the net's first classes in order "
                             "(sorted ImageNet synset folders of all classes are)")
    return notes


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"I/N"`` (1-based) -> (I, N)."""
    if not text:
        return None
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard must look like I/N (e.g. 2/4), got {text!r}") from None
    if n < 1 or not 1 <= i <= n:
        raise UsageError(f"--shard {text}: need 1 <= I <= N")
    return i, n


def in_shard(combo: Combo, shard: tuple[int, int] | None) -> bool:
    """Stable 1/N slice by a hash of the combo key: independent of plan order and machine."""
    if shard is None:
        return True
    i, n = shard
    h = int(hashlib.sha256(combo.key.encode()).hexdigest()[:12], 16)
    return h % n == i - 1
