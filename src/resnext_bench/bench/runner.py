"""Run a :class:`~.plan.Plan`: one result row per combo, appended to ``RUN_DIR/results.jsonl``.

Per (arch, form, image size) the torch model is built once (cached calibrated weights) and the
parity reference -- PyTorch fp32 eager logits on the seeded parity inputs -- computed once. ONNX
files come from the export cache. Each combo then loads its runtime, times it (harness), probes
memory, checks parity and closes it. A combo that fails (GPU OOM, a runtime error) becomes a
``failed`` row with the error and the run goes on; an unusable runtime becomes a ``skipped`` row
with the reason.
"""

from __future__ import annotations

import datetime as _dt
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..errors import UsageError
from ..fileio import append_jsonl, ensure_dir, write_json_atomic
from ..models.spec import parse_arch
from .harness import TimingConfig, measure
from .plan import Combo, Plan, config_key
from .stats import summarize, throughput_ips

TIMING_SEED = 1234
PARITY_SEED = 4321
RESULTS = "results.jsonl"
ENV = "env.json"


@dataclass
class BenchSettings:
    timing: TimingConfig | None = field(default_factory=TimingConfig)
    parity_images: int = 32
    images_dir: str | None = None
    rtol: float | None = None
    min_cosine: float | None = None
    min_top1: float | None = None
    parity: bool = True
    seed: int = 0
    weights: str | None = None
    opset: int = 18
    exporter: str = "dynamo"
    onnx_path: str | None = None
    artifacts_dir: str = "artifacts"
    channels_last: bool = False
    runtime_extra: dict = field(default_factory=dict)
    keep_samples: bool = True


def _error_text(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {msg}"[:500]


class Runner:
    def __init__(self, plan: Plan, settings: BenchSettings, out_dir: str | Path):
        self.plan = plan.validate()
        self.s = settings
        self.out_dir = ensure_dir(out_dir, "run dir")
        self.artifacts = ensure_dir(settings.artifacts_dir, "artifacts dir")
        self.results_path = self.out_dir / RESULTS
        self.run_id = uuid.uuid4().hex[:12]
        self._models, self._refs, self._complexity, self._exports = {}, {}, {}, {}
        self.max_batch = max(plan.batches)

    # -- shared, cached pieces ----------------------------------------------------------------
    def model(self, arch, form):
        key = (arch, form)
        if key not in self._models:
            from ..models import build_model

            self._models[key] = build_model(arch, form=form, seed=self.s.seed,
                                            weights=self.s.weights, cache_dir=self.artifacts)
        return self._models[key]

    def complexity(self, arch, size):
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

            if self.s.images_dir:
                x = folder_images(self.s.images_dir, size, limit=self.s.parity_images)
            else:
                x = synthetic_images(self.s.parity_images, size, PARITY_SEED)
            model = self.model(arch, form)
            with torch.no_grad():
                ref = torch.cat([model(torch.from_numpy(c)) for c in
                                 (x[i:i + 16] for i in range(0, len(x), 16))]).numpy()
            self._refs[key] = (x, ref)
        return self._refs[key]

    def onnx_file(self, arch, form, size, precision):
        """(path, export summary) of the ONNX file for this combo (export cache)."""
        if self.s.onnx_path:
            return Path(self.s.onnx_path), {}
        key = (arch, form, size, precision)
        if key not in self._exports:
            from ..exporters.onnx_export import ExportConfig, export_onnx

            cfg = ExportConfig(arch=arch, form=form, opset=self.s.opset, precision=precision,
                               image_size=size, seed=self.s.seed, weights=self.s.weights,
                               exporter=self.s.exporter)
            res = export_onnx(cfg, self.artifacts)
            self._exports[key] = (res.path, res.summary | {"cache_hit": res.cache_hit})
        return self._exports[key]

    # -- rows -----------------------------------------------------------------------------------
    def base_row(self, combo: Combo) -> dict:
        spec = parse_arch(combo.arch)
        row = combo.as_dict() | {
            "cardinality": spec.cardinality, "width": spec.base_width, "family": spec.family,
            "status": "ok", "error": None, "run_id": self.run_id, "tool_version": __version__,
            "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "seed": self.s.seed, "weights": self.s.weights or "calibrated-default",
        }
        row.update(self.complexity(combo.arch, combo.image_size))
        row["config_key"] = config_key(row)
        return row

    def run_combo(self, combo: Combo) -> dict:
        from ..runtimes.base import RuntimeOptions
        from ..runtimes.registry import check_available, get_runtime_class

        row = self.base_row(combo)
        cls = get_runtime_class(combo.runtime)
        ok, reason = check_available(combo.runtime)
        if not ok:
            return row | {"status": "skipped", "error": f"runtime unavailable: {reason}"}
        if combo.precision not in cls.precisions:
            return row | {"status": "skipped",
                          "error": f"{combo.runtime} does not run {combo.precision} "
                                   f"(supports {', '.join(cls.precisions)})"}
        if combo.device not in cls.devices:
            return row | {"status": "skipped", "error": f"{combo.runtime} does not run on {combo.device}"}
        rt = None
        prev_threads = None
        try:
            import torch

            prev_threads = torch.get_num_threads()
            if cls.input_kind == "module":
                artifact = self.model(combo.arch, combo.form)
            else:
                onnx_prec = cls.onnx_precision_for.get(combo.precision, combo.precision)
                artifact, summary = self.onnx_file(combo.arch, combo.form, combo.image_size, onnx_prec)
                row.update({"onnx_path": str(artifact), "onnx_bytes": Path(artifact).stat().st_size,
                            "onnx_precision": onnx_prec,
                            "export_seconds": summary.get("export_seconds"),
                            "export_cache_hit": summary.get("cache_hit"),
                            "exporter": summary.get("exporter"), "opset": summary.get("opset")})
            extra = dict(self.s.runtime_extra, image_size=combo.image_size, max_batch=self.max_batch)
            opts = RuntimeOptions(device=combo.device, precision=combo.precision, batch=combo.batch,
                                  threads=combo.threads, channels_last=self.s.channels_last,
                                  cache_dir=self.artifacts, extra=extra)
            rt = cls(opts)
            from .memory import MemoryProbe

            probe = MemoryProbe(cuda=combo.device == "cuda").start()
            t0 = time.perf_counter()
            rt.load(artifact)
            row["load_seconds"] = round(time.perf_counter() - t0, 3)
            from ..models.inputs import synthetic_images

            if self.s.timing is not None:  # None: parity-only run (`resnext-bench parity`)
                images = synthetic_images(combo.batch, combo.image_size, TIMING_SEED)
                timing = measure(rt, images, self.s.timing)
                row.update(self._timing_fields(timing, combo))
            row.update(probe.stop())
            row["runtime_info"] = rt.describe()
            if self.s.parity:
                row.update(self._parity(rt, combo))
            else:
                row["parity_passed"] = None
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

    def _timing_fields(self, timing, combo: Combo) -> dict:
        out = summarize(timing.samples_ms)
        out["throughput_ips"] = throughput_ips(combo.batch, out["latency_mean_ms"])
        macs = self.complexity(combo.arch, combo.image_size)["macs"]
        mean = out["latency_mean_ms"]
        out["achieved_gflops"] = (2 * macs * combo.batch / (mean / 1e3) / 1e9) if mean else None
        out["timing_method"] = timing.method
        out["warmup"] = timing.warmup_done
        out["iters"] = len(timing.samples_ms)
        out["measure_seconds"] = round(timing.wall_s, 3)
        if self.s.keep_samples:
            out["samples_ms"] = [round(v, 6) for v in timing.samples_ms]
        if timing.e2e_samples_ms:
            out.update(summarize(timing.e2e_samples_ms, prefix="e2e_latency_"))
            out["e2e_throughput_ips"] = throughput_ips(combo.batch, out["e2e_latency_mean_ms"])
            if self.s.keep_samples:
                out["e2e_samples_ms"] = [round(v, 6) for v in timing.e2e_samples_ms]
        return out

    def _parity(self, rt, combo: Combo) -> dict:
        import numpy as np

        from .parity import compare_logits, tolerance_for

        x, ref = self.reference(combo.arch, combo.form, combo.image_size)
        outs = []
        b = combo.batch
        for i in range(0, len(x), b):
            chunk = x[i:i + b]
            n = len(chunk)
            if n < b:  # pad to the measured batch (static-shape engines), drop the padding after
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], b - n, axis=0)])
            outs.append(rt.run_host(np.ascontiguousarray(chunk))[:n])
        out = np.concatenate(outs)
        tol = tolerance_for(combo.precision, self.s.rtol, self.s.min_cosine, self.s.min_top1)
        res = compare_logits(ref, out, tol)
        fields = res.to_row()
        fields["parity_inputs"] = f"images:{self.s.images_dir}" if self.s.images_dir else \
            f"synthetic seed {PARITY_SEED}"
        fields["parity_reference"] = "torch fp32 eager (cpu)"
        return fields

    # -- the loop ---------------------------------------------------------------------------------
    def write_env(self) -> dict:
        from .env import capture_env

        env = capture_env()
        path = self.out_dir / ENV
        if path.exists():  # a resumed / merged run keeps every environment it ran in
            import json

            try:
                old = json.loads(path.read_text())
            except ValueError:
                old = {}
            history = old.get("previous", []) + ([{k: v for k, v in old.items() if k != "previous"}]
                                                 if old else [])
            env["previous"] = history[-20:]
        write_json_atomic(path, env)
        return env

    def run(self, combos: list[Combo], on_row=None) -> list[dict]:
        rows = []
        for i, combo in enumerate(combos):
            if on_row is not None:
                on_row("start", i, len(combos), combo, None)
            row = self.run_combo(combo)
            append_jsonl(self.results_path, row)
            rows.append(row)
            if on_row is not None:
                on_row("done", i, len(combos), combo, row)
        return rows
