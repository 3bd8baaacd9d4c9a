"""One configuration's measurement, as it runs inside its worker process.

:func:`prepare_job` runs in the group's prepare process: it makes and verifies the job's
artifact (export, quantization, or the user's ``--onnx`` file) and the parity reference, and
answers :class:`~.protocol.Prepared` with the verified :class:`~resnext_bench.exporters.
artifact.Artifact`. :class:`ComboSession` runs in a measuring worker: it loads that artifact
as it is (no export, hash or check again) or the torch module, the runtime and the timing
harness; warms up; times one block per round when the parent says so; and at the end probes
memory and checks parity. Its answers are :mod:`.protocol`'s messages.

The parity reference (PyTorch fp32 eager logits on the parity inputs) is cached on disk under
``artifacts/refs`` keyed by everything that determines it, so the first worker of a group
computes it and the others read it.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from ..core.fileio import atomic_path, ensure_cache_dir
from ..core.parity import compare_logits, tolerance_for
from ..exporters.artifact import COMPLEXITY_FIELDS, Artifact
from .protocol import Block, Finished, Job, Loaded, Prepared

#: synthetic parity inputs when no --images folder is given
DEFAULT_PARITY_IMAGES = 32
TIMING_SEED = 1234
PARITY_SEED = 4321


class ComboSession:
    def __init__(self, job: Job, artifact: Artifact | None = None):
        self.job, self.artifact = job, artifact
        self.config, self.combo = job.config, job.combo
        self.artifacts = ensure_cache_dir(self.config.export.artifacts, "artifacts dir")
        self.rt = None
        self.harness = None
        self.probe = None
        self._inputs_digest: str | None = None

    # -- artifacts (the prepare process) ------------------------------------------------------
    def model(self, verify: bool = True):
        """The torch module on the row's weights; ``verify=False`` in a measuring worker (the
        prepare process verified the weights cache entry: no file is hashed again)."""
        from ..models import build_model

        ex, c = self.config.export, self.combo
        return build_model(c.arch, form=c.form, seed=ex.seed, weights=ex.weights,
                           cache_dir=self.artifacts, verify=verify)

    def arch_complexity(self) -> dict:
        from ..models.info import arch_info

        info = arch_info(self.combo.arch, self.combo.image_size)
        return {k: info[k] for k in COMPLEXITY_FIELDS}

    def quant_options(self):
        """The int8 settings with ``auto`` resolved: the activations for this combo's runtime,
        and the calibration data -- the parity images (else the built-in photos) as random
        crops, so calibration and parity see the same kind of data but not the same inputs."""
        from dataclasses import replace

        from ..exporters.quantizers import get_quantizer
        from ..runtimes.registry import get_runtime_class

        quant, parity_images = self.config.quant, self.config.parity.images
        if quant.quant_activations == "auto" and get_quantizer(quant.quantizer).activations_follow_runtime:
            # ORT's file follows the runtime (U8S8 for the CPU kernels, S8S8 for TensorRT);
            # NNCF's "auto" is its own default preset (symmetric activations)
            quant = replace(quant, quant_activations=get_runtime_class(self.combo.runtime).int8_activations)
        if quant.calib_crops == "auto":
            if quant.calib_images is None:
                quant = replace(quant, calib_images=parity_images or "builtin", calib_crops="on")
            else:
                quant = replace(quant, calib_crops="on" if quant.calib_images == parity_images else "off")
        return quant

    def onnx_precision(self) -> str:
        from ..runtimes.registry import get_runtime_class

        cls = get_runtime_class(self.combo.runtime)
        return cls.onnx_precision_for.get(self.combo.precision, self.combo.precision)

    def build_artifact(self) -> Artifact:
        """The verified ONNX file for this combo: the export cache's (exported, or a hit it
        verified), the user's ``--onnx`` file (hashed with its external data), or that file
        quantized when the row is int8 and the file is not."""
        ex, c = self.config.export, self.combo
        precision = self.onnx_precision()
        if ex.onnx:
            from ..exporters.onnxfile import (file_precision, file_quantization, load_user_onnx,
                                              onnx_provenance)

            header = load_user_onnx(ex.onnx)  # the graph, read for what it runs (not its name)
            own = file_precision(header)
            if precision == "int8" and own != "int8":
                from ..exporters.int8 import make_int8  # the given fp32 file, quantized

                return make_int8(ex.onnx, self.quant_options(), self.artifacts).artifact(precision)
            sha, size = onnx_provenance(ex.onnx)  # graph and external data files together
            return Artifact(path=str(ex.onnx), sha256=sha, bytes=size, precision=own,
                            quantization=file_quantization(header))
        from ..exporters.onnx_export import ExportConfig, export_onnx

        cfg = ExportConfig(arch=c.arch, form=c.form, opset=ex.opset, precision=precision,
                           image_size=c.image_size, seed=ex.seed, weights=ex.weights,
                           exporter=ex.exporter)
        return export_onnx(cfg, self.artifacts, quant=self.quant_options()).artifact(precision)

    def _reference_inputs(self) -> str:
        """The content digest of the parity inputs (``images:<hex>`` over the files' sha256),
        or the synthetic set's seed."""
        if self._inputs_digest is None:
            par = self.config.parity
            if par.images:
                from ..models.imagefiles import images_digest

                self._inputs_digest = images_digest(par.images, par.parity_images)
            else:
                self._inputs_digest = f"synthetic-{PARITY_SEED}"
        return self._inputs_digest

    def _reference_key(self, inputs: str) -> str:
        from ..models.weightsource import weights_identity

        ex, par, c = self.config.export, self.config.parity, self.combo
        blob = json.dumps([c.arch, c.form, c.image_size, ex.seed, weights_identity(ex.weights, ex.seed),
                           inputs, par.parity_images, "labels-v1"], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def _note_changed_folder(self, inputs: str) -> None:
        """One warning line when ``--images DIR`` holds other content than when this artifacts
        dir last read it: the reference is computed from the new content (its key holds the
        content digest), and the user learns that the folder changed under the same name."""
        folder = self.config.parity.images
        from ..models.imagefiles import IMAGE_KEYWORDS

        if not folder or folder in IMAGE_KEYWORDS:  # the tool's own sets: not the user's folder
            return
        from ..core.fileio import loads_bounded, write_json_atomic

        index = self.artifacts / "refs" / "folders-seen.json"
        try:
            seen = loads_bounded(index.read_text(encoding="utf-8"))
            seen = seen if isinstance(seen, dict) else {}
        except (OSError, ValueError, UnicodeDecodeError):
            seen = {}
        where = str(Path(folder).resolve())
        before = seen.get(where)
        if before == inputs:
            return
        if isinstance(before, str):
            import sys

            sys.stderr.write(f"warning: --images {folder}: its content changed since this artifacts "
                             f"dir last read it ({before} -> {inputs}): parity uses the new content\n")
        seen[where] = inputs
        try:
            write_json_atomic(index, seen)
        except OSError:
            pass  # the note is a courtesy; the reference's own key is what keeps it right

    def reference(self, verify: bool = True):
        """(parity inputs, torch fp32 eager logits, labels or None) for this model and image
        size; labels when ``--images`` is a labeled folder. Cached under a key holding the
        inputs' content digest, and served only when the file's recorded digest matches (the
        prepare process checks it; its measuring workers read what it checked, ``verify=False``)."""
        import numpy as np

        from ..core.cacheentry import drop, entry_problem, record_digest, warn_rebuilt

        inputs = self._reference_inputs()
        if verify:
            self._note_changed_folder(inputs)
        path = self.artifacts / "refs" / f"{self.combo.arch}-{self._reference_key(inputs)}.npz"
        if path.is_file():
            why = entry_problem(path, inputs) if verify else None
            if why is None:
                try:
                    with np.load(path) as z:
                        return z["x"], z["ref"], (z["y"] if "y" in z.files else None)
                except (OSError, ValueError, KeyError) as exc:
                    why = f"unreadable ({type(exc).__name__})"
            warn_rebuilt(path, why)
            drop(path)
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
        record_digest(path, inputs)
        return x, ref, y

    def prepare(self) -> Prepared:
        """Make and verify what this configuration will read (its artifact, the parity
        reference) and count its complexity. Run in a short-lived process of its own, so that
        the memory an export or a torch model takes is not left in the measuring worker's
        footprint."""
        from ..runtimes.registry import get_runtime_class

        artifact = None
        cls = get_runtime_class(self.combo.runtime)
        if cls.input_kind != "module":
            artifact = self.build_artifact()
        if self.config.parity.parity:
            self.reference()
            artifact = self._with_twin(artifact, cls)
        complexity = (artifact.complexity if artifact is not None else None) or self.arch_complexity()
        return Prepared(artifact, complexity)

    def _with_twin(self, artifact, cls):
        """The artifact with its layer-wise debug twin, where this row compares layers."""
        from dataclasses import replace

        from .layer_parity import layers_skip_reason

        if artifact is None or layers_skip_reason(self.config, self.combo, cls) is not None:
            return artifact
        from ..exporters.layer_taps import build_twin
        from ..models.taps import tap_plan

        twin = build_twin(artifact.path, artifact.sha256, tap_plan(self.combo.arch), self.artifacts)
        return replace(artifact, twin=twin)

    # -- life cycle (the measuring worker) ------------------------------------------------------
    def _runtime_options(self):
        from ..config import RUNTIME_SECTIONS
        from ..runtimes.base import RuntimeOptions

        c, cfg = self.combo, self.config
        return RuntimeOptions(device=c.device, precision=c.precision, batch=c.batch,
                              threads=c.threads, image_size=c.image_size,
                              max_batch=self.job.profile_max_batch, cache_dir=self.artifacts,
                              artifact_sha256=self.artifact.sha256 if self.artifact else None,
                              **{name: getattr(cfg, name) for name in RUNTIME_SECTIONS})

    def load(self) -> Loaded:
        """Load the artifact (as the prepare step verified it) and the runtime; warm up."""
        from ..runtimes.registry import get_runtime_class
        from .harness import Harness
        from .loadgen import LoadHarness, LoadPoint
        from .memory import MemoryProbe

        c = self.combo
        cls = get_runtime_class(c.runtime)
        if cls.input_kind == "module":
            loadable = self.model()
        elif self.artifact is None:
            raise RuntimeError(f"{c.runtime} needs the prepare step's ONNX artifact; none was given")
        else:
            loadable = Path(self.artifact.path)
        self.rt = cls(self._runtime_options())
        self.probe = MemoryProbe(cuda=c.device == "cuda").start()
        t0 = time.perf_counter()
        self.rt.load(loadable)
        load_s = round(time.perf_counter() - t0, 3)
        warmup = method = None
        point = LoadPoint.of(self.config, seed=TIMING_SEED)  # None: one caller, the timed path
        if self.job.timed:
            from ..models.inputs import synthetic_images

            images = synthetic_images(c.batch, c.image_size, TIMING_SEED)
            self.harness = (Harness(self.rt, images, self.config.timing) if point is None
                            else LoadHarness(self.rt, images, self.config.timing, point))
            warmup, method = self.harness.warm_up(), self.harness.method
        # a row under load serves single requests through the slots: one inference a request
        per_call = self.rt.requests_per_call() if point is None else 1
        # device memory now, while the other workers of the group are idle (they load in turn)
        return Loaded(load_s, per_call, warmup, method, self.probe.device_fields())

    def block(self) -> Block:
        samples, end_to_end = self.harness.block()
        served = getattr(self.harness, "served", None)
        return Block(samples, end_to_end, served.to_dict() if served is not None else None)

    def finish(self) -> Finished:
        """Host memory, the runtime's settings, parity; then close the runtime."""
        done = Finished(settings=self.rt.settings(), precision_executed=self.rt.executed_precision(),
                        host_memory=self.probe.host_fields(),
                        measure_seconds=round(self.harness.wall_s, 3) if self.harness else None,
                        parity=self.parity() if self.config.parity.parity else None)
        self.close()
        return done

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

        from ..core.parity import PATHS_RTOL, accuracy_fields, accuracy_misses
        from ..models.weightsource import weights_label

        rt, b = self.rt, self.combo.batch
        x, ref, labels = self.reference(verify=False)  # the prepare step verified it
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
        tol = tolerance_for(rt.parity_tolerance_key(), par.rtol, par.min_cosine, par.min_top1,
                            par.max_accuracy_drop_pct)
        out = np.concatenate(outs)
        fields = compare_logits(ref, out, tol).to_row()
        fields["parity_paths_max_abs_diff"] = host_diff
        if host_diff > (tol.rtol if tol.rtol is not None else PATHS_RTOL) * float(np.abs(ref).max()):
            fields["parity_passed"] = False  # the end-to-end path computes something else
            fields["parity_failed"] = (fields["parity_failed"] or []) + [
                f"end-to-end path differs from the timed path by {host_diff:.3g}"]
        fields["parity_inputs"] = parity_inputs_label(par.images, PARITY_SEED, self._reference_inputs())
        fields["parity_reference"] = "torch fp32 eager (cpu)"
        fields["parity_weights"] = weights_label(self.config.export.weights, self.config.export.seed)
        if labels is not None:
            fields.update(accuracy_fields(ref, out, labels))
            missed = accuracy_misses(fields, tol)
            if missed:  # accuracy gates where labels exist (bf16, fp16, int8)
                fields["parity_passed"] = False
                fields["parity_failed"] = (fields["parity_failed"] or []) + missed
        fields["parity_logits_passed"] = fields["parity_passed"]  # the logits' verdict, kept beside
        layers = self.layer_fields(x, out, rt.parity_tolerance_key())
        fields.update(layers)
        if layers.get("parity_layers_passed") is False:  # a layer fails: the row's parity fails
            fields["parity_passed"] = False
            fields["parity_failed"] = ((fields["parity_failed"] or [])
                                       + [layers["parity_layers_first_failure"]])
        return fields

    def layer_fields(self, x, timed_logits, precision_key: str) -> dict:
        """Layer-wise parity (:mod:`.layer_parity`) where it applies (the row's parity then
        fails when a layer does, naming the first failing one). The timed runtime is closed first
        (the comparison loads a second one), so this runs last."""
        from ..runtimes.registry import get_runtime_class
        from .layer_parity import layer_parity, layers_skip_reason

        why = layers_skip_reason(self.config, self.combo, get_runtime_class(self.combo.runtime))
        if why is not None:
            return {"parity_layers_skipped": why} if why else {}
        self.close()
        return layer_parity(self, x, timed_logits, precision_key)


def prepare_job(job: Job) -> Prepared:
    """The prepare process's work for one job (see :meth:`ComboSession.prepare`)."""
    return ComboSession(job).prepare()


def parity_inputs_label(images: str | None, seed: int, digest: str | None = None) -> str:
    """What a row says its parity inputs were: a user's folder with the content digest of the
    files read (two runs on a folder whose images changed say so in their rows)."""
    from ..models.imagefiles import IMAGE_KEYWORDS

    if not images:
        return f"synthetic seed {seed}"
    if images in IMAGE_KEYWORDS:
        return f"{images}: {IMAGE_KEYWORDS[images]}"
    return f"images:{images}" + (f" (content {digest.split(':', 1)[-1]})" if digest else "")
