"""Run combos of a :class:`~resnext_bench.config.RunConfig`: one :class:`ResultRow` per combo,
appended to ``RUN_DIR/results.jsonl``.

Per (arch, form, image size) the torch model is built once (cached calibrated weights) and the
parity reference -- PyTorch fp32 eager logits on the parity inputs -- computed once. ONNX files
come from the export cache (or ``--onnx``). Each combo then loads its runtime, times it
(harness), probes memory, checks parity and closes it. A combo that fails (GPU OOM, a runtime
error) becomes a ``failed`` row with the error and the run goes on; an unusable runtime becomes
a ``skipped`` row with the reason.
"""

from __future__ import annotations

import datetime as _dt
import time
import traceback
import uuid
from pathlib import Path

from .. import __version__
from ..config import RunConfig
from ..core.errors import UsageError
from ..core.fileio import ensure_dir
from ..core.parity import compare_logits, tolerance_for
from ..core.rundir import RESULTS, append_row, record_env
from ..core.schema import Combo, ResultRow
from ..models.spec import parse_arch
from .harness import measure


TIMING_SEED = 1234
PARITY_SEED = 4321


def _error_text(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {msg}"[:500]


class Runner:
    def __init__(self, config: RunConfig, out_dir: str | Path, *, measure_timing: bool = True):
        self.config = config
        self.measure_timing = measure_timing  # False: parity only (`resnext-bench parity`)
        self.out_dir = ensure_dir(out_dir, "run dir")
        self.artifacts = ensure_dir(config.export.artifacts, "artifacts dir")
        self.results_path = self.out_dir / RESULTS
        self.run_id = uuid.uuid4().hex[:12]
        self.env_fingerprint: str | None = None
        self._models, self._refs, self._complexity, self._exports = {}, {}, {}, {}
        self.max_batch = max(config.plan.batches)

    # -- shared, cached pieces ----------------------------------------------------------------
    def model(self, arch, form):
        key = (arch, form)
        if key not in self._models:
            from ..models import build_model

            ex = self.config.export
            self._models[key] = build_model(arch, form=form, seed=ex.seed, weights=ex.weights,
                                            cache_dir=self.artifacts)
        return self._models[key]

    def complexity(self, arch, size) -> dict:
        key = (arch, size)
        if key not in self._complexity:
            from ..models.info import arch_info

            info = arch_info(arch, size)
            self._complexity[key] = {k: info[k] for k in ("params", "macs", "flops")}
        return self._complexity[key]

    def reference(self, arch, form, size):
        """(parity inputs, torch fp32 eager logits) for this model and image size."""
        key = (arch, form, size)
        if key not in self._refs:
            import torch

            from ..models.inputs import folder_images, synthetic_images

            par = self.config.parity
            if par.images:
                x = folder_images(par.images, size, limit=par.parity_images)
            else:
                x = synthetic_images(par.parity_images, size, PARITY_SEED)
            model = self.model(arch, form)
            with torch.no_grad():
                ref = torch.cat([model(torch.from_numpy(c)) for c in
                                 (x[i:i + 16] for i in range(0, len(x), 16))]).numpy()
            self._refs[key] = (x, ref)
        return self._refs[key]

    def onnx_file(self, arch, form, size, precision) -> tuple[Path, dict]:
        """(path, export summary) of the ONNX file for this combo (export cache)."""
        ex = self.config.export
        if ex.onnx:
            return Path(ex.onnx), {}
        key = (arch, form, size, precision)
        if key not in self._exports:
            from ..exporters.onnx_export import ExportConfig, export_onnx

            cfg = ExportConfig(arch=arch, form=form, opset=ex.opset, precision=precision,
                               image_size=size, seed=ex.seed, weights=ex.weights,
                               exporter=ex.exporter)
            res = export_onnx(cfg, self.artifacts)
            self._exports[key] = (res.path, res.summary | {"cache_hit": res.cache_hit})
        return self._exports[key]

    # -- rows -----------------------------------------------------------------------------------
    def base_row(self, combo: Combo) -> ResultRow:
        spec = parse_arch(combo.arch)
        ex = self.config.export
        row = ResultRow(**combo.__dict__, family=spec.family, cardinality=spec.cardinality,
                        width=spec.base_width, run_id=self.run_id, tool_version=__version__,
                        timestamp=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                        env_fingerprint=self.env_fingerprint, seed=ex.seed,
                        weights=ex.weights or "calibrated-default")
        return row.update(self.complexity(combo.arch, combo.image_size))

    def _runtime_options(self, combo: Combo):
        from ..runtimes.base import RuntimeOptions

        c = self.config
        return RuntimeOptions(device=combo.device, precision=combo.precision, batch=combo.batch,
                              threads=combo.threads, image_size=combo.image_size,
                              max_batch=self.max_batch, cache_dir=self.artifacts, torch=c.torch,
                              cuda=c.cuda, ort=c.ort, tensorrt=c.tensorrt)

    def run_combo(self, combo: Combo) -> ResultRow:
        from ..runtimes.registry import check_available, get_runtime_class

        row = self.base_row(combo)
        cls = get_runtime_class(combo.runtime)
        ok, reason = check_available(combo.runtime)
        if not ok:
            return row.update({"status": "skipped", "error": f"runtime unavailable: {reason}"})
        if combo.precision not in cls.precisions:
            return row.update({"status": "skipped",
                               "error": f"{combo.runtime} does not run {combo.precision} "
                                        f"(supports {', '.join(cls.precisions)})"})
        if combo.device not in cls.devices:
            return row.update({"status": "skipped",
                               "error": f"{combo.runtime} does not run on {combo.device}"})
        rt = None
        prev_threads = None
        try:
            import torch

            from .memory import MemoryProbe

            prev_threads = torch.get_num_threads()
            if cls.input_kind == "module":
                artifact = self.model(combo.arch, combo.form)
            else:
                onnx_prec = cls.onnx_precision_for.get(combo.precision, combo.precision)
                artifact, summary = self.onnx_file(combo.arch, combo.form, combo.image_size, onnx_prec)
                row.update({"onnx_path": str(artifact), "onnx_bytes": Path(artifact).stat().st_size,
                            "onnx_sha256": summary.get("sha256"), "onnx_precision": onnx_prec,
                            "export_seconds": summary.get("export_seconds"),
                            "export_cache_hit": summary.get("cache_hit"),
                            "exporter": summary.get("exporter"), "opset": summary.get("opset")})
            rt = cls(self._runtime_options(combo))
            probe = MemoryProbe(cuda=combo.device == "cuda").start()
            t0 = time.perf_counter()
            rt.load(artifact)
            row.load_seconds = round(time.perf_counter() - t0, 3)
            if self.measure_timing:
                from ..models.inputs import synthetic_images

                images = synthetic_images(combo.batch, combo.image_size, TIMING_SEED)
                self._record_timing(row, measure(rt, images, self.config.timing))
            row.update(probe.stop())
            row.runtime_info = rt.describe()
            if self.config.parity.parity:
                self._parity(row, rt, combo)
        except UsageError:
            raise
        except Exception as exc:  # one failing combo must not stop the run
            row.update({"status": "failed", "error": _error_text(exc),
                        "traceback_tail": traceback.format_exc().splitlines()[-3:]})
            if combo.device == "cuda":
                try:
                    import torch

                    torch.cuda.empty_cache()
                except Exception:
                    pass
        finally:
            if rt is not None:
                try:
                    rt.close()
                except Exception:
                    pass
            if prev_threads is not None:
                import torch

                torch.set_num_threads(prev_threads)
        return row

    def _record_timing(self, row: ResultRow, timing) -> None:
        row.set_latency(timing.samples_ms)
        mean = row.latency_mean_ms
        row.achieved_gflops = (row.flops * row.batch / (mean / 1e3) / 1e9) if mean else None
        row.timing_method = timing.method
        row.warmup = timing.warmup_done
        row.iters = len(timing.samples_ms)
        row.measure_seconds = round(timing.wall_s, 3)
        if timing.e2e_samples_ms:
            row.set_latency(timing.e2e_samples_ms, end_to_end=True)

    def _parity(self, row: ResultRow, rt, combo: Combo) -> None:
        """Parity of the path that is timed (``prepare`` + ``run``: IOBinding, bound engine
        buffers), and agreement of the end-to-end path (``run_host``) with it."""
        import numpy as np

        x, ref = self.reference(combo.arch, combo.form, combo.image_size)
        outs, host_diff = [], None
        b = combo.batch
        for i in range(0, len(x), b):
            chunk = x[i:i + b]
            n = len(chunk)
            if n < b:  # pad to the measured batch (static-shape engines), drop the padding after
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], b - n, axis=0)])
            chunk = np.ascontiguousarray(chunk)
            timed = rt.to_numpy(rt.run(rt.prepare(chunk)))
            if host_diff is None:
                host = rt.run_host(chunk)
                host_diff = float(np.abs(host.astype(np.float64) - timed).max())
            outs.append(timed[:n])
        par = self.config.parity
        tol = tolerance_for(rt.parity_tolerance_key(), par.rtol, par.min_cosine, par.min_top1)
        res = compare_logits(ref, np.concatenate(outs), tol)
        row.update(res.to_row())
        row.parity_paths_max_abs_diff = host_diff
        if host_diff > tol.rtol * float(np.abs(ref).max()):
            row.parity_passed = False  # the end-to-end path computes something else
        row.parity_inputs = f"images:{par.images}" if par.images else f"synthetic seed {PARITY_SEED}"
        row.parity_reference = "torch fp32 eager (cpu)"

    # -- the loop ---------------------------------------------------------------------------------
    def write_env(self) -> dict:
        from .env import capture_env, fingerprint

        env = capture_env()
        env["config"] = self.config.to_values()
        self.env_fingerprint = fingerprint(env)
        env["fingerprint"] = self.env_fingerprint
        return record_env(self.out_dir, env)

    def run(self, combos: list[Combo], on_row=None) -> list[ResultRow]:
        rows = []
        for i, combo in enumerate(combos):
            if on_row is not None:
                on_row("start", i, len(combos), combo, None)
            row = self.run_combo(combo)
            append_row(self.out_dir, row)
            rows.append(row)
            if on_row is not None:
                on_row("done", i, len(combos), combo, row)
        return rows
