"""Layer-wise parity: every residual branch, block and stage output compared at its own scale.

Why: the logits cannot see the body of a trained-regime network. On the default weights each
residual branch is a tenth of the identity path (gamma 0.1, as trained ResNets end), so a wrong
branch -- a grouped conv whose per-channel scales are reversed, two groups swapped -- moves the
logits about as much as int8 rounding does, and the logit verdict passes it. Compared at its own
scale, the same branch is plainly wrong.

Two comparisons per block, both reported, the first judged:

* **local** (the verdict): the fp32 reference block run on *the runtime's own* input to that
  block (the previous block's output as the runtime computed it), against the runtime's branch
  and block output. This is the block's own error, with the error the layers before it passed on
  taken out: without it, the int8 rounding that accumulates over a resnext50 is by ``layer4`` as
  large as a broken branch (measured: worst undamaged branch relative RMS 0.198, weakest damage
  0.201), and a damage further up fails every layer after it. With it, the first failing layer
  is the broken one;
* **end-to-end** (``global_*`` in the profile): against the reference run from the image, as the
  logits are -- where the error reaches, and how it grows.

What is compared, named by the model's module paths (:mod:`resnext_bench.models.taps`):

* ``stem``: the tensor entering the first block;
* ``layer2.0.branch``: the residual branch of block ``layer2.0``, the tensor entering its
  residual Add (after the branch's last BatchNorm);
* ``layer2.0``: the block's output; ``layer2``: the stage's output (its last block's).

Per tensor, over all images (float64): ``cosine`` (mean of the per-image cosines of the
flattened tensor), ``rel_rms`` (``||out - ref|| / ||ref||`` over the whole tensor: the error's
size at the tensor's own scale) and ``max_rel`` (``max |out - ref| / max |ref|``, reported).

The verdict per layer (:data:`LAYER_TOLERANCES`, by the precision the row ran): a layer fails
when its output is not finite, its cosine is below the precision's floor, or its relative RMS
error above the ceiling. The row's layer verdict fails at the *first* failing layer in network
order -- the damage is there; the layers after it inherit it.

Where the thresholds come from (``benchmarks/layerwise_damage.py``, records in
``reports/cpu/layerwise/``; Intel Xeon with AVX-512 VNNI, BF16 and AMX): the worst local layer of
every undamaged file measured -- int8 by NNCF and by ONNX Runtime's quantizer (ort-cpu and
OpenVINO), bf16 on OpenVINO and torch, fp16 on ONNX Runtime, on resnext50_32x4d (default weights,
the 16 built-in photos), the trained digits reference and the test suite's resnext29_2x1d --
against the damaged layer of each single-layer damage (per-channel scales reversed in each of
resnext50's 32 branch convs, an activation zero point shifted, two groups of a grouped conv
swapped). int8: undamaged at most relative RMS 0.066 and at least cosine 0.9983 (NNCF on the
narrow resnext29_2x1d; 0.036 / 0.9994 on resnext50, 0.035 / 0.9995 on the trained reference),
the weakest damage 0.184 / 0.9838 on resnext50 (a 1x1 expansion's scales reversed in
``layer4.1``) and 0.153 / 0.9894 on the trained reference (``layer3.2``'s grouped conv); the
thresholds, 0.11 and 0.995 (1 - cosine 0.005), are the geometric midpoints between the undamaged
0.066 / 0.9983 and resnext50's weakest damage, and leave 1.4x / 2.1x to the trained reference's. bf16: undamaged at most 0.0085 (torch) / 0.0079 (OpenVINO);
fp16: 0.0015; fp32: float rounding (1e-6); their ceilings leave 5-7x over that.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass(frozen=True)
class LayerTolerance:
    min_cosine: float
    max_rel_rms: float


#: per precision (the one the row ran: ``Runtime.parity_tolerance_key``); see the module doc
#: for the measurement each comes from
LAYER_TOLERANCES = {
    "fp32": LayerTolerance(min_cosine=0.99999, max_rel_rms=0.001),
    "tf32": LayerTolerance(min_cosine=0.9999, max_rel_rms=0.01),
    "fp16": LayerTolerance(min_cosine=0.9999, max_rel_rms=0.01),
    "bf16": LayerTolerance(min_cosine=0.999, max_rel_rms=0.04),
    "int8": LayerTolerance(min_cosine=0.995, max_rel_rms=0.11),
}


def layer_tolerance(precision: str) -> LayerTolerance:
    return LAYER_TOLERANCES.get(precision, LAYER_TOLERANCES["fp16"])


class TapStats:
    """Running comparison of one tensor over chunks of images (bounded memory: the tensors of
    a resnext50 on 16 photos are about 700 MB a side, so they are compared chunk by chunk)."""

    def __init__(self):
        self.sq_diff = 0.0
        self.sq_ref = 0.0
        self.max_diff = 0.0
        self.max_ref = 0.0
        self.cosines: list[float] = []
        self.finite = True
        self.shape_problem: str | None = None

    def add(self, ref, out) -> None:
        ref = np.asarray(ref)
        out = np.asarray(out)
        if out.shape != ref.shape:
            if out.size == ref.size and out.shape[:1] == ref.shape[:1]:
                out = out.reshape(ref.shape)  # e.g. a flattened layout
            else:
                self.shape_problem = f"shape {tuple(out.shape)} != reference {tuple(ref.shape)}"
                return
        # float32 and BLAS row dot products, no float64 copies (the taps of a resnext50 on 16
        # photos are ~700 MB a side): sdot's blocked sums are accurate to ~1e-6 relative, far
        # inside the tightest tolerance (fp32: relative RMS 1e-3)
        r = np.ascontiguousarray(ref.reshape(len(ref), -1), dtype=np.float32)
        o = np.ascontiguousarray(out.reshape(len(out), -1), dtype=np.float32)

        def rowdot(a, b):
            return np.matmul(a[:, None, :], b[:, :, None])[:, 0, 0].astype(np.float64)
        sq_o = rowdot(o, o)
        if not np.isfinite(sq_o).all():  # a NaN or Inf anywhere makes its row's norm one
            self.finite = False
            return
        sq_r = rowdot(r, r)
        dot = rowdot(o, r)
        d = o - r
        self.sq_diff += float(rowdot(d, d).sum())
        self.sq_ref += float(sq_r.sum())
        if d.size:
            self.max_diff = max(self.max_diff, float(max(d.max(), -d.min())))
            self.max_ref = max(self.max_ref, float(max(r.max(), -r.min())))
        den = np.sqrt(sq_o * sq_r)
        both_zero = (sq_o == 0) & (sq_r == 0)
        cos = np.where(den > 0, dot / np.where(den > 0, den, 1.0), np.where(both_zero, 1.0, 0.0))
        self.cosines.extend(float(min(c, 1.0)) for c in cos)

    def result(self, name: str, tol: LayerTolerance) -> "LayerResult":
        if self.shape_problem:
            return LayerResult(name, None, None, None, False, (self.shape_problem,))
        if not self.finite:
            return LayerResult(name, 0.0, float("inf"), float("inf"), False,
                               ("outputs not finite (NaN/Inf)",))
        cosine = float(np.mean(self.cosines)) if self.cosines else 1.0
        rel_rms = float(np.sqrt(self.sq_diff / self.sq_ref)) if self.sq_ref > 0 else (
            0.0 if self.sq_diff == 0 else float("inf"))
        max_rel = self.max_diff / self.max_ref if self.max_ref > 0 else (
            0.0 if self.max_diff == 0 else float("inf"))
        misses = []
        if not cosine >= tol.min_cosine:
            misses.append(f"cosine {cosine:.4g} < {tol.min_cosine:g}")
        if not rel_rms <= tol.max_rel_rms:
            misses.append(f"rel_rms {rel_rms:.3g} > {tol.max_rel_rms:g}")
        return LayerResult(name, cosine, rel_rms, float(max_rel), not misses, tuple(misses))


@dataclass
class LayerResult:
    name: str
    cosine: float | None
    rel_rms: float | None
    max_rel: float | None
    passed: bool
    misses: tuple = ()
    #: "local" (the reference block on the runtime's own input) or "end-to-end"
    basis: str = "end-to-end"
    global_cosine: float | None = None
    global_rel_rms: float | None = None

    def describe(self) -> str:
        """``layer2.0.branch cosine 0.71 < 0.9`` -- the layer and what it missed."""
        return f"{self.name} {'; '.join(self.misses)}" if self.misses else f"{self.name} pass"

    def compact(self) -> dict:
        """One profile entry (rounded: the row keeps the whole profile)."""
        def r(v, n):
            return None if v is None else (round(v, n) if np.isfinite(v) else float(v))
        return {"layer": self.name, "cosine": r(self.cosine, 6), "rel_rms": r(self.rel_rms, 5),
                "max_rel": r(self.max_rel, 5), "passed": self.passed, "basis": self.basis,
                "global_cosine": r(self.global_cosine, 6), "global_rel_rms": r(self.global_rel_rms, 5)}


@dataclass
class LayerVerdict:
    """The row's layer-wise verdict and what backs it."""

    results: list[LayerResult]
    tolerance: LayerTolerance
    unmatched: list[str] = field(default_factory=list)
    source: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def first_failure(self) -> LayerResult | None:
        return next((r for r in self.results if not r.passed), None)

    @property
    def passed(self) -> bool:
        return bool(self.results) and self.first_failure is None

    @property
    def worst(self) -> LayerResult | None:
        scored = [r for r in self.results if r.rel_rms is not None]
        return max(scored, key=lambda r: r.rel_rms) if scored else None

    def failure_text(self) -> str | None:
        """``layer2.0.branch cosine 0.71 < 0.9 (first failing layer; 12 of 37 fail)``."""
        first = self.first_failure
        if first is None:
            return None
        n_bad = sum(not r.passed for r in self.results)
        return (f"{first.describe()} (first failing layer in network order; {n_bad} of "
                f"{len(self.results)} layers fail)")

    def to_row(self) -> dict:
        worst = self.worst
        return {
            "parity_layers_passed": self.passed if self.results else None,
            "parity_layers_compared": len(self.results),
            "parity_layers_first_failure": self.failure_text(),
            "parity_layers_worst": worst.compact() if worst else None,
            "parity_layers_unmatched": list(self.unmatched) or None,
            "parity_layers_source": self.source or None,
            "parity_layers_tolerance": asdict(self.tolerance),
            "parity_layers_notes": list(self.notes) or None,
            "parity_layers_profile": [r.compact() for r in self.results],
        }


def judge_layers(stats: dict[str, TapStats], order: list[str], precision: str, *,
                 local: dict[str, TapStats] | None = None, unmatched=(), source: str = "",
                 notes=()) -> LayerVerdict:
    """The verdict over ``stats`` (tap name -> end-to-end :class:`TapStats`), layers in
    ``order``; a layer with ``local`` stats is judged on them (see the module doc)."""
    tol = layer_tolerance(precision)
    local = local or {}
    results = []
    for name in order:
        if name not in stats:
            continue
        end_to_end = stats[name].result(name, tol)
        if name in local:
            res = local[name].result(name, tol)
            res.basis = "local"
        else:
            res = end_to_end
        res.global_cosine, res.global_rel_rms = end_to_end.cosine, end_to_end.rel_rms
        results.append(res)
    return LayerVerdict(results, tol, list(unmatched), source, list(notes))


def profile_table(profile: list[dict]) -> str:
    """The per-layer table ``parity`` prints (a row's ``parity_layers_profile``)."""
    if not profile:
        return ""
    width = max(len(p["layer"]) for p in profile)
    lines = [f"  {'layer':<{width}}  {'cosine':>9}  {'rel_rms':>8}  {'max_rel':>8}  {'basis':<10}"
             f"  {'e2e cos':>9}  {'e2e rms':>8}  verdict"]

    def f(v, spec):
        return "-" if v is None else format(v, spec)
    for p in profile:
        lines.append(f"  {p['layer']:<{width}}  {f(p['cosine'], '.6f'):>9}  {f(p['rel_rms'], '.4f'):>8}"
                     f"  {f(p['max_rel'], '.4f'):>8}  {p.get('basis') or '-':<10}"
                     f"  {f(p.get('global_cosine'), '.6f'):>9}  {f(p.get('global_rel_rms'), '.4f'):>8}"
                     f"  {'pass' if p['passed'] else 'FAIL'}")
    return "\n".join(lines)
