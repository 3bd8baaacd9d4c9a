"""int8 quantizers behind one small interface, as runtimes are.

A :class:`Quantizer` turns the checked fp32 file into a QDQ file on the calibration images it is
given (:mod:`.calibration`: the same data for every quantizer). It says

* ``available()``: whether its library is installed here, and why not;
* ``recipe(quant, flags)``: the settings that decide the file's bytes, resolved for this CPU
  (part of the cache key, the file's metadata and the row's ``quantization``);
* ``quantize(fp32, out, images, recipe, exclude)``: write the file;
* ``accuracy_control(...)``: the library's own way of keeping the layers that hurt in float
  until a target is met (NNCF's), or None when the tool's bisection (:mod:`.int8_fallback`)
  does it.

Two are registered:

``nncf`` (the default): ``nncf.quantize`` with the ONNX backend -- symmetric int8 activations
(the PERFORMANCE preset), per-channel symmetric int8 weights, fast bias correction, NNCF's own
range estimators. ``--quant-activations uint8`` asks for the MIXED preset (asymmetric
activations). Accuracy control: ``nncf.quantize_with_accuracy_control``. Measured (reports/cpu/
int8-quantizers): on the ResNeXt graphs (BatchNorm folded into the convs) its file keeps the
function as well as ORT's; on the pre-activation WRN blocks (standalone BatchNorm) it lost more
(wrn10_2 on digits: cosine 0.986 against ORT's 0.9995) -- one reason both stay, and ``tune``
tries both.

``ort``: ONNX Runtime's ``quantize_static`` (QDQ, per-channel symmetric int8 weights) after
``quant_pre_process``. Activations ``uint8`` asymmetric (U8S8) for the CPU provider or ``int8``
symmetric (S8S8) for TensorRT. On x86 without VNNI, ONNX Runtime's U8S8 kernels multiply with
``VPMADDUBSW``, whose 16-bit sums saturate with full 8-bit weights: ``reduce_range`` (7-bit
weights) is then set, as ONNX Runtime's documentation asks. ``entropy`` runs the entropy
calibrator with 2048 histogram bins (TensorRT's count): through ``quantize_static`` it gets 128
bins and 128 quantized bins, which leaves one threshold candidate -- the full range -- and
gave scales bit-identical to minmax.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from pathlib import Path

from ..config import QUANTIZERS as QUANTIZER_NAMES
from ..config import QuantOptions
from ..core.errors import UsageError
from ..core.isa import has_vnni
from .calibration import Fp32File, ort_reader

#: the entropy calibrator's histogram (TensorRT's KL calibration uses 2048 bins)
ENTROPY_BINS = 2048
ENTROPY_QUANTIZED_BINS = 128
PERCENTILE = 99.999


@contextlib.contextmanager
def _root_log_level(level: int):
    root = logging.getLogger()
    before = root.level
    root.setLevel(level)
    try:
        yield
    finally:
        root.setLevel(before)


class Quantizer:
    """One int8 quantizer (see the module doc). Subclasses set ``name`` and ``library``."""

    name: str = ""
    library: str = ""
    #: the distribution (pip) name whose absence makes it unavailable
    package: str = ""
    #: whether :meth:`accuracy_control` is the library's own; otherwise the tool's bisection
    #: (:mod:`.int8_fallback`) keeps nodes in float through ``quantize(exclude=...)``
    controls_accuracy: bool = False
    #: whether ``--quant-activations auto`` follows the runtime that will run the file (its
    #: ``int8_activations``: U8S8 for ORT's CPU kernels, S8S8 for TensorRT) rather than the
    #: library's own default preset
    activations_follow_runtime: bool = False

    def available(self) -> tuple[bool, str]:
        import importlib.util

        module = self.package.replace("-", "_")
        if importlib.util.find_spec(module) is None:
            return False, f"{self.package} is not installed (pip install {self.package})"
        return True, "ok"

    def require(self) -> None:
        ok, why = self.available()
        if not ok:
            others = [q.name for q in QUANTIZERS.values() if q is not self and q.available()[0]]
            raise UsageError(f"--quantizer {self.name}: {why}"
                             + (f"; or --quantizer {' / '.join(others)}" if others else ""))

    def file_tag(self, recipe: dict) -> str:
        """The method's part of the int8 file's name (``..._int8_ort_u8_minmax_...``)."""
        return str(recipe["method"])

    def cli_args(self, q: dict) -> list[str]:
        """The ``export`` flags beyond ``--quantizer`` and the calibration count that make the
        file a row's ``quantization`` record describes again (:func:`~resnext_bench.reports.
        deploy.export_command`)."""
        return []

    def recipe(self, quant: QuantOptions, flags: list[str] | None) -> dict:
        raise NotImplementedError

    def version(self) -> str:
        import importlib.metadata

        try:
            return importlib.metadata.version(self.package)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    def quantize(self, fp32: Fp32File, out: Path, images, recipe: dict,
                 exclude: tuple[str, ...] = ()) -> dict:
        """Write the QDQ file of ``fp32`` to ``out``; return what to add to the summary."""
        raise NotImplementedError

    def accuracy_control(self, fp32: Fp32File, out: Path, images, recipe: dict, control,
                         target: dict, max_float: float = 1.0) -> dict:
        """Quantize with the library's accuracy control until ``target`` holds on ``control``
        (:class:`~.control_set.ControlSet`); only where ``controls_accuracy``."""
        raise NotImplementedError


class OrtQuantizer(Quantizer):
    name, library, package = "ort", "onnxruntime quantize_static", "onnxruntime"
    activations_follow_runtime = True

    def cli_args(self, q: dict) -> list[str]:
        args = ["--calib-method", str(q.get("method"))]
        if str(q.get("activations", "")).startswith("int8"):
            args += ["--quant-activations", "int8"]
        return args

    def recipe(self, quant: QuantOptions, flags: list[str] | None) -> dict:
        acts = "uint8" if quant.quant_activations == "auto" else quant.quant_activations
        x86 = any(f.startswith("avx") for f in flags or ())
        reduce_range = acts == "uint8" and x86 and not has_vnni(flags)
        r = {"quantizer": self.name, "library": self.library, "format": "QDQ",
             "weights": "int8 per-channel symmetric" + (" (7-bit range)" if reduce_range else ""),
             "activations": "int8 symmetric" if acts == "int8" else "uint8 asymmetric",
             "reduce_range": reduce_range, "method": quant.calib_method}
        if reduce_range:
            r["reduce_range_why"] = "x86 without VNNI: U8S8 VPMADDUBSW sums saturate with 8-bit weights"
        if quant.calib_method == "entropy":
            r["entropy_bins"] = [ENTROPY_BINS, ENTROPY_QUANTIZED_BINS]
        if quant.calib_method == "percentile":
            r["percentile"] = PERCENTILE
        return r

    def quantize(self, fp32, out, images, recipe, exclude=()):
        from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                              quantize_static)
        from onnxruntime.quantization.shape_inference import quant_pre_process

        acts_int8 = recipe["activations"].startswith("int8")
        with tempfile.TemporaryDirectory() as tmp:
            pre = Path(tmp) / "pre.onnx"
            quant_pre_process(str(fp32.path), str(pre), skip_symbolic_shape=True)
            extra = {"ActivationSymmetric": acts_int8, "WeightSymmetric": True}
            kwargs = {}
            method = recipe["method"]
            if method == "entropy":
                # quantize_static passes no bin counts to the entropy calibrator (128 / 128:
                # one threshold candidate); calibrate here and hand it the ranges
                cache = Path(tmp) / "ranges.json"
                self._entropy_ranges(pre, Path(tmp), images, fp32.input_name, cache)
                kwargs["calibration_cache_path"] = str(cache)
                reader = None
            else:
                reader = ort_reader(images, fp32.input_name)
                if method == "percentile":
                    extra["CalibPercentile"] = recipe["percentile"]
            # the calibrators print progress on stdout, which is the CLI's (--json) output, and
            # warn through the root logger about BatchNormalization weights they skip
            with contextlib.redirect_stdout(io.StringIO()), _root_log_level(logging.ERROR):
                quantize_static(str(pre), str(out), reader, quant_format=QuantFormat.QDQ,
                                per_channel=True, reduce_range=recipe["reduce_range"],
                                activation_type=QuantType.QInt8 if acts_int8 else QuantType.QUInt8,
                                weight_type=QuantType.QInt8,
                                calibrate_method=getattr(CalibrationMethod, {
                                    "minmax": "MinMax", "entropy": "Entropy",
                                    "percentile": "Percentile"}[method]),
                                nodes_to_exclude=list(exclude), extra_options=extra, **kwargs)
        return {}

    @staticmethod
    def _entropy_ranges(pre: Path, tmp: Path, images, input_name: str, cache: Path) -> None:
        from onnxruntime.quantization.calibrate import (CalibrationMethod, create_calibrator,
                                                        save_tensors_data)

        with contextlib.redirect_stdout(io.StringIO()):
            cal = create_calibrator(pre, [], augmented_model_path=str(tmp / "augmented.onnx"),
                                    calibrate_method=CalibrationMethod.Entropy,
                                    extra_options={"num_bins": ENTROPY_BINS,
                                                   "num_quantized_bins": ENTROPY_QUANTIZED_BINS,
                                                   "symmetric": False})
            cal.collect_data(ort_reader(images, input_name))
            save_tensors_data(cal.compute_data(), cache)


class NncfQuantizer(Quantizer):
    name, library, package = "nncf", "nncf.quantize (ONNX backend)", "nncf"
    controls_accuracy = True

    def file_tag(self, recipe: dict) -> str:
        return "nncf"  # its statistics are NNCF's own, not a --calib-method

    def cli_args(self, q: dict) -> list[str]:
        return ["--quant-activations", "uint8"] if str(q.get("activations", "")).startswith("asymmetric") else []

    def recipe(self, quant: QuantOptions, flags: list[str] | None) -> dict:
        if quant.calib_method != "minmax":
            raise UsageError(f"--calib-method {quant.calib_method}: the nncf quantizer uses NNCF's own "
                             "range estimators (its default statistics); give --quantizer ort for "
                             f"{quant.calib_method}, or leave --calib-method minmax")
        mixed = quant.quant_activations == "uint8"
        return {"quantizer": self.name, "library": self.library, "format": "QDQ",
                "weights": "int8 per-channel symmetric",
                "activations": "asymmetric (MIXED preset)" if mixed
                else "symmetric (PERFORMANCE preset)",
                "preset": "mixed" if mixed else "performance", "fast_bias_correction": True,
                "method": "nncf default statistics"}

    @staticmethod
    @contextlib.contextmanager
    def _quiet():
        """NNCF logs and draws progress bars on stdout (the CLI's, for --json)."""
        import nncf

        nncf.set_log_level(logging.ERROR)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield

    @staticmethod
    def _dataset(images, input_name: str):
        import nncf

        return nncf.Dataset([images[i:i + 1] for i in range(len(images))],
                            lambda x: {input_name: x})

    def _common(self, images, recipe: dict, exclude=()):
        import nncf

        args = {"preset": nncf.QuantizationPreset.MIXED if recipe["preset"] == "mixed"
                else nncf.QuantizationPreset.PERFORMANCE,
                "subset_size": len(images), "fast_bias_correction": True}
        if exclude:
            args["ignored_scope"] = nncf.IgnoredScope(names=list(exclude))
        return args

    def quantize(self, fp32, out, images, recipe, exclude=()):
        import nncf
        import onnx

        self.require()
        model = onnx.load(str(fp32.path))
        with self._quiet():
            q = nncf.quantize(model, self._dataset(images, fp32.input_name),
                              **self._common(images, recipe, exclude))
        onnx.save(q, str(out))
        return {}

    def accuracy_control(self, fp32, out, images, recipe, control, target, max_float=1.0):
        """``nncf.quantize_with_accuracy_control`` on the control set. An accuracy target is
        NNCF's own use: the metric is top-1 accuracy, ``max_drop`` the points / 100 (ABSOLUTE)
        or the share (RELATIVE). A fidelity target (cosine / top-1 agreement with the fp32
        model) becomes one metric NNCF can restore: the smallest normalized margin over the
        criteria, ``min((value - goal) / (1 - goal))``, which is 1 for the fp32 model and >= 0
        exactly when every criterion holds, so ``max_drop = 1`` (ABSOLUTE)."""
        import nncf
        import numpy as np
        import onnx

        self.require()
        from ..core.parity import accuracy_target
        from .calibration import ort_outputs

        model = onnx.load(str(fp32.path))
        x, labels, ref = control.images, control.labels, control.reference
        if accuracy_target(target):
            def metric(logits, idx):
                return float(np.mean(logits.argmax(1) == labels[idx]))
            relative = "rdrop" in target
            max_drop = (target["rdrop"] if relative else target["drop"]) / 100.0
            drop_type = nncf.DropType.RELATIVE if relative else nncf.DropType.ABSOLUTE
        else:
            from .control_set import control_metrics

            def metric(logits, idx):
                m = control_metrics(ref[idx], logits)
                return float(min((m[k] - g) / max(1.0 - g, 1e-9) for k, g in target.items()))
            max_drop, drop_type = 1.0, nncf.DropType.ABSOLUTE

        def validate(candidate, data):
            """(metric on the items given, the metric of each item): NNCF's metric mode."""
            items = list(data)
            idx = np.array([int(it[1]) for it in items])
            logits = ort_outputs(candidate.SerializeToString(), np.concatenate([it[0] for it in items]))
            return metric(logits, idx), [metric(logits[i:i + 1], idx[i:i + 1]) for i in range(len(idx))]

        validation = nncf.Dataset([(x[i:i + 1], i) for i in range(len(x))])
        # --int8-max-float: NNCF reverts one group of quantizers per iteration
        weighted = sum(n.op_type in ("Conv", "Gemm", "MatMul") for n in model.graph.node)
        iterations = int(max_float * weighted + 1e-9)
        from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

        with self._quiet():
            q = nncf.quantize_with_accuracy_control(
                model, self._dataset(images, fp32.input_name), validation, validate,
                max_drop=max_drop, drop_type=drop_type, **self._common(images, recipe),
                advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(
                    max_num_iterations=iterations))
        onnx.save(q, str(out))
        return {"accuracy_control": {"library": "nncf.quantize_with_accuracy_control",
                                     "max_drop": max_drop, "drop_type": drop_type.value,
                                     "max_iterations": iterations,
                                     "metric": "top-1 accuracy" if accuracy_target(target)
                                     else "min normalized margin over the fidelity criteria"}}


QUANTIZERS: dict[str, Quantizer] = {q.name: q for q in (NncfQuantizer(), OrtQuantizer())}
assert tuple(QUANTIZERS) == QUANTIZER_NAMES, "config.QUANTIZERS and the quantizers here must agree"


def get_quantizer(name: str) -> Quantizer:
    try:
        return QUANTIZERS[name]
    except KeyError:
        raise UsageError(f"--quantizer {name!r}: one of {', '.join(QUANTIZERS)}") from None


def float_weighted_ops(model) -> list[str]:
    """The Conv / Gemm / MatMul nodes of a QDQ graph whose weight is not int8 (kept in float)."""
    produced = {o: n for n in model.graph.node for o in n.output}
    out = []
    for n in model.graph.node:
        if n.op_type in ("Conv", "Gemm", "MatMul") and len(n.input) > 1:
            src = produced.get(n.input[1])
            if src is None or src.op_type != "DequantizeLinear":
                out.append(n.name)
    return out
