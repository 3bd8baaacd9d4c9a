"""The CPU instruction-set flags that decide inference speed, and how a report names them.

Recorded by the environment probe (``bench.env``) when present; a report shows each family as
present or absent, since "no VNNI" explains an int8 result as much as "VNNI" does.
"""

from __future__ import annotations

from pathlib import Path

#: /proc/cpuinfo flags that decide CPU inference speed (int8 dot products above all)
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16",
             "amx_tile", "amx_int8", "amx_bf16", "asimd", "sve")

# (label, flags any of which means present)
_X86 = (("AVX2", ("avx2",)), ("FMA", ("fma",)), ("AVX-512", ("avx512f",)),
        ("VNNI", ("avx512_vnni", "avx_vnni")), ("AVX-512 BF16", ("avx512_bf16",)),
        ("AMX", ("amx_tile", "amx_int8", "amx_bf16")))
_ARM = (("NEON (asimd)", ("asimd",)), ("SVE", ("sve",)))


def isa_summary(flags: list[str] | None, platform: str | None = None) -> str:
    """``AVX2 yes, FMA yes, AVX-512 no, VNNI no, AVX-512 BF16 no, AMX no`` (the ARM families
    on an ARM machine); 'not recorded' when the probe recorded nothing."""
    if flags is None:
        return "not recorded"
    arm = any(f in ("asimd", "sve") for f in flags) or "aarch64" in (platform or "") \
        or "arm64" in (platform or "")
    have = set(flags)
    return ", ".join(f"{label} {'yes' if have & set(names) else 'no'}"
                     for label, names in (_ARM if arm else _X86))


def cpu_flags() -> list[str]:
    """The :data:`ISA_FLAGS` this CPU has (``/proc/cpuinfo``; empty where it cannot be read)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                have = set(line.split(":", 1)[1].split())
                return [f for f in ISA_FLAGS if f in have]
    except OSError:
        pass
    return []


def has_any(flags: list[str] | None, names) -> bool:
    return bool(set(flags or ()) & set(names))


def int8_kernels(flags: list[str] | None) -> str | None:
    """Which int8 dot-product path ONNX Runtime's and OpenVINO's CPU kernels take here, or None
    where neither has one: AMX tiles, VNNI (one instruction per 4 int8 products), AVX2
    (``VPMADDUBSW`` + ``VPMADDWD``: no VNNI, but still int8 kernels -- measured 1.3x (ORT) and
    2.0x (OpenVINO) over ORT fp32 on an AVX2-only Zen 3), or ARM's NEON dot products."""
    if has_any(flags, ("amx_int8",)):
        return "AMX"
    if has_any(flags, ("avx512_vnni", "avx_vnni")):
        return "VNNI"
    if has_any(flags, ("avx2",)):
        return "AVX2, no VNNI"
    if has_any(flags, ("asimd",)):
        return "NEON"
    return None


def has_vnni(flags: list[str] | None) -> bool:
    """VNNI or AMX int8 dot products: without them ONNX Runtime's u8s8 kernels (VPMADDUBSW)
    can saturate their 16-bit sums unless the weights use 7 bits (``reduce_range``)."""
    return has_any(flags, ("amx_int8", "avx512_vnni", "avx_vnni"))


def precisions_worth_trying(flags: list[str] | None, cuda: bool = False) -> dict[str, str]:
    """The precisions that can pay on this machine, each with the reason, read from the ISA
    (never assumed from the vendor): bf16 where AMX or AVX-512 BF16 computes it natively; int8
    wherever the runtimes have int8 kernels for this ISA (AVX2 and up, NEON, a GPU) -- whether
    it pays is then *measured* (``tune`` screens it; the ISA only explains the result); fp16 on
    GPUs. fp32 always."""
    out = {"fp32": "the reference precision"}
    if has_any(flags, ("amx_bf16", "avx512_bf16")):
        out["bf16"] = "native bf16 (" + ("AMX" if has_any(flags, ("amx_bf16",)) else "AVX-512 BF16") + ")"
    kernels = "GPU" if cuda else int8_kernels(flags)
    if kernels:
        out["int8"] = f"int8 kernels ({kernels}); measured, not assumed"
    if cuda:
        out["fp16"] = "GPU tensor cores"
    return out
