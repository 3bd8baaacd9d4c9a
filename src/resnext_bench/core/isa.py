"""The CPU instruction-set flags that decide inference speed, and how a report names them.

Recorded by the environment probe (``bench.env``) when present; a report shows each family as
present or absent, since "no VNNI" explains an int8 result as much as "VNNI" does.
"""

from __future__ import annotations

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


def has_any(flags: list[str] | None, names) -> bool:
    return bool(set(flags or ()) & set(names))


def precisions_worth_trying(flags: list[str] | None, cuda: bool = False) -> dict[str, str]:
    """The precisions that can pay on this machine, each with the reason, read from the ISA
    (never assumed from the vendor): bf16 where AMX or AVX-512 BF16 computes it natively, int8
    where VNNI / AMX dot products (or a GPU) make it fast, fp16 on GPUs. fp32 always."""
    out = {"fp32": "the reference precision"}
    if has_any(flags, ("amx_bf16", "avx512_bf16")):
        out["bf16"] = "native bf16 (" + ("AMX" if has_any(flags, ("amx_bf16",)) else "AVX-512 BF16") + ")"
    if has_any(flags, ("amx_int8", "avx512_vnni", "avx_vnni")) or cuda:
        out["int8"] = "int8 dot products (" + ("GPU" if cuda else "AMX" if has_any(flags, ("amx_int8",))
                                               else "VNNI") + ")"
    if cuda:
        out["fp16"] = "GPU tensor cores"
    return out
