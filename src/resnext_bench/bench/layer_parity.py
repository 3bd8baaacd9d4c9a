"""Layer-wise parity of one row, in its measuring worker, after the logits' parity.

The configuration under test and the PyTorch fp32 eager reference run on the same parity
inputs, chunk by chunk; each reference block also runs on the runtime's own input to it (the
*local* comparison); every tap of the arch's plan (:mod:`resnext_bench.models.taps`) is
compared at its own scale (:mod:`resnext_bench.core.layerwise`) and the chunk's tensors dropped
(a resnext50 on 16 photos holds about 700 MB of them a side: nothing is cached but the twin).

* ONNX runtimes run the artifact's debug twin (:mod:`resnext_bench.exporters.layer_taps`): the
  same file with the taps as graph outputs, loaded by the same runtime class with the same
  options. Its logits are checked against the timed path's (``parity_layers_twin_logits_max_abs_diff``):
  an added output can change which kernels a runtime fuses, and the row says by how much.
* torch runtimes give the taps by forward hooks on the module as it runs (dtype, memory format;
  torch.compile compiles the hooked module again, so only on ``--layers``).

When it runs (``--layers`` / ``--no-layers``; default ``auto``): bf16, fp16 and int8 rows, and
rows of a user's ``--onnx`` file, where a wrong layer can hide behind small residual branches;
fp32 rows only when asked (fp32 matches to float rounding at the logits already).
"""

from __future__ import annotations

import time

#: images per layer-wise chunk when the file takes any batch (the taps of 8 resnext50 images
#: are ~350 MB a side); a static-batch file runs at its own batch
MAX_CHUNK = 8
REDUCED = ("bf16", "fp16", "int8")


def layers_skip_reason(config, combo, cls) -> str | None:
    """None when layer-wise parity runs for this row; else why not ("" when simply not asked)."""
    from ..config import env_off

    asked = config.parity.layers
    if asked is False or (asked is None and env_off("layers")):
        return ""
    explicit = asked is True
    if not explicit and combo.precision not in REDUCED and not config.export.onnx:
        return ""
    if cls.layer_problem:
        return f"{combo.runtime}: {cls.layer_problem}"
    if not explicit and cls.layer_cost:
        return f"not run by default on {combo.runtime}: {cls.layer_cost}; --layers runs it"
    return None


def _chunks(x, size: int):
    import numpy as np

    for i in range(0, len(x), size):
        chunk = x[i:i + size]
        n = len(chunk)
        if n < size:  # pad to the chunk size (static-shape files), drop the padding after
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], size - n, axis=0)])
        yield i, n, np.ascontiguousarray(chunk)


class TappedRun:
    """A runtime loaded to give the taps: ``run(images) -> (logits, {tap: array})``; ``close``.

    ``cls``/``options``: the row's runtime class and options. ONNX runtimes load ``twin`` (the
    artifact's debug twin, :func:`~resnext_bench.exporters.layer_taps.build_twin`, made by the
    prepare process); torch runtimes load ``module`` and hook it."""

    def __init__(self, cls, options, plan, *, twin=None, module=None, runtime=""):
        self.rt = cls(options)
        self.unmatched, self.notes = [], []
        self.chunk_cap = MAX_CHUNK
        if cls.input_kind == "module":
            self.rt.load(module)
            self.source = f"forward hooks on the {runtime or cls.name} module as it ran ({options.precision})"
            self._run = lambda images: self.rt.layer_taps(images, plan)
            return
        if twin is None:
            raise RuntimeError(f"{cls.name}: layer-wise parity needs the prepare step's debug twin")
        self.rt.load(twin.path)
        self.unmatched, self.notes = list(twin.unmatched), list(twin.notes)
        self.source = f"debug twin {twin.path.name} (taps from {twin.source})"
        self.chunk_cap = MAX_CHUNK if twin.dynamic_batch else None

        def run(images):
            outs = self.rt.run_all_outputs(images)
            return outs[twin.logits], {t: outs[o] for t, o in twin.outputs.items() if o in outs}
        self._run = run

    def chunk_for(self, batch: int) -> int:
        return batch if self.chunk_cap is None else min(batch, self.chunk_cap)

    def __call__(self, images):
        return self._run(images)

    def close(self):
        self.rt.close()


def compare_layers(run, reference, plan, x, chunk: int, timed_logits=None) -> tuple:
    """Run ``run`` (a :class:`TappedRun`) and the fp32 ``reference`` module on ``x`` chunk by
    chunk; returns (end-to-end stats, local stats, the run's logits, max |logits - timed_logits|)
    (see :mod:`resnext_bench.core.layerwise` for the two comparisons)."""
    import numpy as np
    import torch

    from ..core.layerwise import TapStats
    from ..models.taps import TapRecorder, local_reference

    stats: dict = {}  # against the reference run from the image
    local: dict = {}  # against the reference block on the runtime's own input
    logits_all, diff = [], 0.0
    recorder = TapRecorder(reference, plan)
    try:
        for i, n, images in _chunks(x, chunk):
            with torch.inference_mode():
                reference(torch.from_numpy(images))
            ref_taps = recorder.take()
            logits, taps = run(images)
            logits = np.asarray(logits, dtype=np.float64)[:n]
            logits_all.append(logits)
            if timed_logits is not None:
                diff = max(diff, float(np.abs(logits - timed_logits[i:i + n]).max()))
            for name, ref in ref_taps.items():
                if name in taps:
                    stats.setdefault(name, TapStats()).add(ref[:n], np.asarray(taps[name])[:n])
            del ref_taps
            for name, ref in local_reference(reference, recorder, plan, taps).items():
                local.setdefault(name, TapStats()).add(ref[:n], np.asarray(taps[name])[:n])
            del taps
    finally:
        recorder.remove()
    return stats, local, np.concatenate(logits_all), diff


def layer_parity(session, x, timed_logits, precision_key: str) -> dict:
    """Row fields (``parity_layers_*``) for ``session``'s configuration on inputs ``x``;
    ``timed_logits``: the timed path's logits on ``x`` (the twin is checked against them)."""
    from ..core.layerwise import judge_layers
    from ..models.taps import tap_plan
    from ..runtimes.registry import get_runtime_class

    t0 = time.perf_counter()
    combo = session.combo
    plan = tap_plan(combo.arch)
    cls = get_runtime_class(combo.runtime)
    reference = session.model(verify=False)  # fp32 eager, the logits' reference's weights
    art = session.artifact
    run = TappedRun(cls, session._runtime_options(), plan, module=reference,
                    twin=art.twin if art else None, runtime=combo.runtime)
    chunk = run.chunk_for(combo.batch)
    try:
        stats, local, _, twin_diff = compare_layers(run, reference, plan, x, chunk, timed_logits)
    finally:
        run.close()
    notes = list(run.notes)
    missing = [t.name for t in plan if t.name not in stats and t.name not in run.unmatched]
    if missing:
        notes.append(f"{len(missing)} tap(s) not produced by the run: {', '.join(missing[:6])}")
    verdict = judge_layers(stats, [t.name for t in plan], precision_key, local=local,
                           unmatched=run.unmatched + missing, source=run.source, notes=notes)
    fields = verdict.to_row()
    scale = float(abs(timed_logits).max()) or 1.0
    fields["parity_layers_twin_logits_max_abs_diff"] = twin_diff
    fields["parity_layers_twin_logits_rel_diff"] = twin_diff / scale
    fields["parity_layers_chunk"] = chunk
    fields["parity_layers_seconds"] = round(time.perf_counter() - t0, 3)
    return fields
