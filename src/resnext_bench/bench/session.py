"""One configuration's measurement, as it runs inside its worker process.

:class:`ComboSession` loads the artifact (the export cache's ONNX file, or the torch module),
the runtime and the timing harness; warms up; times one block per round when the parent says
so; and at the end probes memory and checks parity. It returns plain dicts of
:class:`~resnext_bench.core.schema.ResultRow` fields, which the parent merges into the row.

The parity reference (PyTorch fp32 eager logits on the parity inputs) is cached on disk under
``artifacts/refs`` keyed by everything that determines it, so the first worker of a group
computes it and the others read it.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from ..config import RunConfig
from ..core.fileio import atomic_path, ensure_dir
from ..core.parity import compare_logits, tolerance_for
from ..core.schema import Combo

#: said in every int8 row (and the report) instead of loosening the int8 tolerance
INT8_NOTE = ("int8 parity depends on the weights and the calibration data: on the default "
             "(untrained, calibrated) weights it describes the architecture, not a trained "
             "checkpoint (--weights FILE, or --weights digits for the trained reference)")
#: synthetic parity inputs when no --images folder is given
DEFAULT_PARITY_IMAGES = 32
TIMING_SEED = 1234
PARITY_SEED = 4321


class ComboSession:
    def __init__(self, config: RunConfig, combo: Combo, max_batch: int):
        self.config, self.combo, self.max_batch = config, combo, max_batch
        self.artifacts = ensure_dir(config.export.artifacts, "artifacts dir")
        self.rt = None
        self.harness = None
        self.probe = None

    # -- artifacts ------------------------------------------------------------------------------
    def model(self):
        from ..models import build_model

        ex, c = self.config.export, self.combo
        return build_model(c.arch, form=c.form, seed=ex.seed, weights=ex.weights,
                           cache_dir=self.artifacts)

    def complexity(self) -> dict:
        from ..models.info import arch_info

        info = arch_info(self.combo.arch, self.combo.image_size)
        return {k: info[k] for k in ("params", "macs", "flops")}

    def quant_options(self):
        """The int8 settings with ``auto`` resolved: the activations for this combo's runtime,
        and the calibration data -- the parity images (else the built-in photos) as random
        crops, so calibration and parity see the same kind of data but not the same inputs."""
        from dataclasses import replace

        from ..runtimes.registry import get_runtime_class

        quant, parity_images = self.config.quant, self.config.parity.images
        if quant.quant_activations == "auto":
            quant = replace(quant, quant_activations=get_runtime_class(self.combo.runtime).int8_activations)
        if quant.calib_crops == "auto":
            if quant.calib_images is None:
                quant = replace(quant, calib_images=parity_images or "builtin", calib_crops="on")
            else:
                quant = replace(quant, calib_crops="on" if quant.calib_images == parity_images else "off")
        return quant

    def onnx_file(self, precision: str) -> tuple[Path, dict]:
        """(path, export summary) of the ONNX file for this combo (export cache or ``--onnx``)."""
        ex, c = self.config.export, self.combo
        if ex.onnx:
            from ..exporters.onnx_export import read_metadata

            if precision == "int8" and read_metadata(ex.onnx).get("resnext_bench.precision") != "int8":
                from ..exporters.quantize import quantize_onnx  # the given fp32 file, quantized

                res = quantize_onnx(ex.onnx, self.quant_options(), self.artifacts)
                return res.path, res.summary | {"cache_hit": res.cache_hit}
            from ..exporters.onnx_export import onnx_provenance

            sha, size = onnx_provenance(ex.onnx)  # graph and external data files together
            return Path(ex.onnx), {"sha256": sha, "bytes": size}
        from ..exporters.onnx_export import ExportConfig, export_onnx

        cfg = ExportConfig(arch=c.arch, form=c.form, opset=ex.opset, precision=precision,
                           image_size=c.image_size, seed=ex.seed, weights=ex.weights,
                           exporter=ex.exporter)
        res = export_onnx(cfg, self.artifacts, quant=self.quant_options())
        return res.path, res.summary | {"cache_hit": res.cache_hit}

    def _reference_key(self) -> str:
        from ..models.weightsource import weights_identity

        ex, par, c = self.config.export, self.config.parity, self.combo
        if par.images:
            from ..models.imagefiles import images_digest

            inputs = images_digest(par.images, par.parity_images)
        else:
            inputs = f"synthetic-{PARITY_SEED}"
        blob = json.dumps([c.arch, c.form, c.image_size, ex.seed, weights_identity(ex.weights, ex.seed),
                           inputs, par.parity_images, "labels-v1"], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def reference(self):
        """(parity inputs, torch fp32 eager logits, labels or None) for this model and image
        size; labels when ``--images`` is a labeled folder."""
        import numpy as np

        path = self.artifacts / "refs" / f"{self.combo.arch}-{self._reference_key()}.npz"
        if path.is_file():
            try:
                with np.load(path) as z:
                    return z["x"], z["ref"], (z["y"] if "y" in z.files else None)
            except (OSError, ValueError, KeyError):
                pass  # damaged: recompute
        import torch

        from ..models.inputs import labeled_folder_images, synthetic_images

        par, size = self.config.parity, self.combo.image_size
        if par.images:
            x, y = labeled_folder_images(par.images, size, limit=par.parity_images)
        else:
            x, y = synthetic_images(par.parity_images or DEFAULT_PARITY_IMAGES, size, PARITY_SEED), None
        model = self.model()
        with torch.no_grad():
            ref = torch.cat([model(torch.from_numpy(c)) for c in
                             (x[i:i + 16] for i in range(0, len(x), 16))]).numpy()
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, x=x, ref=ref, **({"y": y} if y is not None else {}))
        return x, ref, y

    def prepare(self) -> dict:
        """Fill the caches this configuration will read (export, parity reference) and return
        its complexity fields. Run in a short-lived process of its own, so that the memory an
        export or a torch model takes is not left in the measuring worker's footprint."""
        from ..runtimes.registry import get_runtime_class

        cls = get_runtime_class(self.combo.runtime)
        if cls.input_kind != "module":
            self.onnx_file(cls.onnx_precision_for.get(self.combo.precision, self.combo.precision))
        if self.config.parity.parity:
            self.reference()
        return self.complexity()

    # -- life cycle -----------------------------------------------------------------------------
    def _runtime_options(self):
        from ..runtimes.base import RuntimeOptions

        c, cfg = self.combo, self.config
        return RuntimeOptions(device=c.device, precision=c.precision, batch=c.batch,
                              threads=c.threads, image_size=c.image_size,
                              max_batch=self.max_batch, cache_dir=self.artifacts, torch=cfg.torch,
                              cuda=cfg.cuda, ort=cfg.ort, tensorrt=cfg.tensorrt,
                              openvino=cfg.openvino)

    def load(self, timed: bool) -> dict:
        """Load artifact and runtime, warm up; fields for the row (artifact, load, device memory)."""
        from ..runtimes.registry import get_runtime_class
        from .harness import Harness
        from .memory import MemoryProbe

        c = self.combo
        fields: dict = {}  # complexity came from the prepare process
        cls = get_runtime_class(c.runtime)
        if cls.input_kind == "module":
            artifact = self.model()
        else:
            onnx_prec = cls.onnx_precision_for.get(c.precision, c.precision)
            artifact, summary = self.onnx_file(onnx_prec)
            fields.update({"onnx_path": str(artifact),
                           "onnx_bytes": summary.get("bytes") or Path(artifact).stat().st_size,
                           "onnx_sha256": summary.get("sha256"), "onnx_precision": onnx_prec,
                           "export_seconds": summary.get("export_seconds"),
                           "export_cache_hit": summary.get("cache_hit"),
                           "exporter": summary.get("exporter"), "opset": summary.get("opset"),
                           "quantization": summary.get("quantization")})
            if onnx_prec == "int8":
                fields["note"] = INT8_NOTE
        self.rt = cls(self._runtime_options())
        self.probe = MemoryProbe(cuda=c.device == "cuda").start()
        t0 = time.perf_counter()
        self.rt.load(artifact)
        fields["load_seconds"] = round(time.perf_counter() - t0, 3)
        if self.rt.requests_per_call() > 1:
            fields["requests_per_call"] = self.rt.requests_per_call()
        if timed:
            from ..models.inputs import synthetic_images

            images = synthetic_images(c.batch, c.image_size, TIMING_SEED)
            self.harness = Harness(self.rt, images, self.config.timing)
            fields["warmup"] = self.harness.warm_up()
            fields["timing_method"] = self.harness.method
        # device memory now, while the other workers of the group are idle (they load in turn)
        fields.update(self.probe.device_fields())
        return fields

    def block(self) -> tuple[list[float], list[float]]:
        return self.harness.block()

    def finish(self) -> dict:
        """Host memory, the runtime's settings, parity; then close the runtime."""
        fields = self.probe.host_fields()
        fields["runtime_info"] = self.rt.describe()
        fields["precision_executed"] = self.rt.executed_precision()
        if self.harness is not None:
            fields["measure_seconds"] = round(self.harness.wall_s, 3)
        if self.config.parity.parity:
            fields.update(self.parity())
        self.close()
        return fields

    def close(self) -> None:
        if self.rt is not None:
            try:
                self.rt.close()
            finally:
                self.rt = None

    def parity(self) -> dict:
        """Parity of the path that is timed (``prepare`` + ``run``: IOBinding, bound engine
        buffers), and agreement of the end-to-end path (``run_host``) with it."""
        import numpy as np

        from ..core.parity import accuracy_fields
        from ..models.weightsource import weights_label

        rt, b = self.rt, self.combo.batch
        x, ref, labels = self.reference()
        outs, host_diff = [], None
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
        out = np.concatenate(outs)
        fields = compare_logits(ref, out, tol).to_row()
        fields["parity_paths_max_abs_diff"] = host_diff
        if host_diff > tol.rtol * float(np.abs(ref).max()):
            fields["parity_passed"] = False  # the end-to-end path computes something else
            fields["parity_failed"] = (fields["parity_failed"] or []) + [
                f"end-to-end path differs from the timed path by {host_diff:.3g}"]
        fields["parity_inputs"] = parity_inputs_label(par.images, PARITY_SEED)
        fields["parity_reference"] = "torch fp32 eager (cpu)"
        fields["parity_weights"] = weights_label(self.config.export.weights, self.config.export.seed)
        if labels is not None:
            fields.update(accuracy_fields(ref, out, labels))
        return fields


def parity_inputs_label(images: str | None, seed: int) -> str:
    """What a row says its parity inputs were."""
    from ..models.imagefiles import IMAGE_KEYWORDS

    if not images:
        return f"synthetic seed {seed}"
    if images in IMAGE_KEYWORDS:
        return f"{images}: {IMAGE_KEYWORDS[images]}"
    return f"images:{images}"
