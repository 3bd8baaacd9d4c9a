"""What to measure: the cartesian product of a plan, one :class:`Combo` per result row.

A combo's :attr:`Combo.key` is the row identity of DESIGN.md (arch, form, runtime, device,
precision, batch, threads, image size). It is what ``--resume`` skips, what ``--shard`` hashes
and what ``compare`` matches rows by, so it must be stable across runs and machines.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from ..errors import UsageError
from ..models.spec import parse_arch
from ..runtimes.registry import RUNTIME_NAMES

KEY_FIELDS = ("arch", "form", "runtime", "device", "precision", "batch", "threads", "image_size")
PRECISIONS = ("fp32", "fp16", "bf16")
GPU_RUNTIMES = ("ort-cuda", "ort-trt", "tensorrt")


@dataclass(frozen=True)
class Combo:
    arch: str
    form: str
    runtime: str
    device: str
    precision: str
    batch: int
    threads: int | None
    image_size: int

    @property
    def key(self) -> str:
        return config_key(self.__dict__)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def config_key(row: dict) -> str:
    """``arch|form|runtime|device|precision|batch|threads|image_size`` of a row or combo."""
    return "|".join("" if row.get(k) is None else str(row.get(k)) for k in KEY_FIELDS)


@dataclass
class Plan:
    archs: list[str]
    runtimes: list[str]
    batches: list[int] = field(default_factory=lambda: [1])
    precisions: list[str] = field(default_factory=lambda: ["fp32"])
    forms: list[str] = field(default_factory=lambda: ["c"])
    threads: list[int | None] = field(default_factory=lambda: [None])
    image_sizes: list[int | None] = field(default_factory=lambda: [None])
    device: str = "auto"  # for the torch runtime: auto | cpu | cuda

    def validate(self) -> "Plan":
        for a in self.archs:
            parse_arch(a)
        for r in self.runtimes:
            if r not in RUNTIME_NAMES:
                raise UsageError(f"unknown runtime {r!r}; choose from {', '.join(RUNTIME_NAMES)}")
        for p in self.precisions:
            if p not in PRECISIONS:
                raise UsageError(f"unknown precision {p!r}; choose from {', '.join(PRECISIONS)}")
        for f in self.forms:
            if f not in ("a", "b", "c"):
                raise UsageError(f"unknown form {f!r}; choose from a, b, c")
        if any(b < 1 for b in self.batches) or not self.batches:
            raise UsageError("batches must be positive integers")
        if any(t is not None and t < 1 for t in self.threads):
            raise UsageError("threads must be positive integers")
        if self.device not in ("auto", "cpu", "cuda"):
            raise UsageError(f"--device must be auto, cpu or cuda, got {self.device!r}")
        return self

    def torch_device(self) -> str:
        if self.device != "auto":
            return self.device
        from ..runtimes._common import cuda_status

        return "cuda" if cuda_status()[0] else "cpu"

    def combos(self) -> list[Combo]:
        """Every combination once, in a stable order; threads apply to CPU rows only."""
        torch_dev = self.torch_device() if "torch" in self.runtimes else "cpu"
        seen, out = set(), []
        for arch in self.archs:
            spec = parse_arch(arch)
            for size in self.image_sizes:
                size = size or spec.default_image_size
                for form in self.forms:
                    for runtime in self.runtimes:
                        device = "cuda" if runtime in GPU_RUNTIMES else (
                            torch_dev if runtime == "torch" else "cpu")
                        for precision in self.precisions:
                            for batch in self.batches:
                                for threads in self.threads:
                                    c = Combo(spec.name, form, runtime, device, precision, batch,
                                              threads if device == "cpu" else None, size)
                                    if c.key not in seen:
                                        seen.add(c.key)
                                        out.append(c)
        return out


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
