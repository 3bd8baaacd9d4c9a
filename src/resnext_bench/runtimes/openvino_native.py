"""``openvino``: OpenVINO's own API (``ov.Core().compile_model``) on the tool's ONNX exports.

Precision means what it says. OpenVINO's CPU plugin runs bf16 by default wherever the CPU has
bf16 instructions (AMX, or AVX-512 BF16 as on AMD Zen 4/5): a model compiled without a hint
and labelled fp32 would be a bf16 number. So the inference precision is always asked for:

* ``fp32``: the fp32 file, ``INFERENCE_PRECISION_HINT = f32``;
* ``bf16`` / ``fp16``: the fp32 file with that hint, only where the device lists the type in
  ``OPTIMIZATION_CAPABILITIES`` (otherwise the plugin would quietly run f32);
* ``int8``: the QDQ file (the same one ort-cpu runs); the quantized ops run int8 and the float
  remainder f32 (hint f32), as in ONNX Runtime.

After compiling, the hint is read back from the compiled model; when it is not what the row
asked for, :meth:`executed_precision` says so and the row is judged with the tolerance of what
ran (``precision_executed`` in the row).

Options (:class:`~resnext_bench.config.OpenVinoOptions`): ``PERFORMANCE_HINT`` (latency,
throughput or none), ``NUM_STREAMS``, ``INFERENCE_NUM_THREADS`` (``--threads``), infer requests
per timed call (an ``AsyncInferQueue`` when more than one) and the model cache (``CACHE_DIR``).
Everything passed to ``compile_model`` is recorded as ``compile_config`` in the row, and the
properties the compiled model reports as ``compiled_properties``, so ``recommend`` prints the
call that was measured.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import Runtime
from .packages import dist_version, module_present
from .settings import RuntimeSettings, py

#: row precision -> OpenVINO element type name of INFERENCE_PRECISION_HINT
HINT_FOR = {"fp32": "f32", "bf16": "bf16", "fp16": "f16", "int8": "f32"}
#: OpenVINO's names (as the compiled model reports them) -> this tool's precision names
PRECISION_NAMES = {"f32": "fp32", "float32": "fp32", "bf16": "bf16", "bfloat16": "bf16",
                   "f16": "fp16", "float16": "fp16"}
#: OPTIMIZATION_CAPABILITIES entry a float precision needs (int8 QDQ runs everywhere, fast
#: with VNNI / AMX)
CAPABILITY_FOR = {"bf16": "BF16", "fp16": "FP16"}
#: properties read back from the compiled model (what the row records)
READ_BACK = ("INFERENCE_PRECISION_HINT", "PERFORMANCE_HINT", "NUM_STREAMS",
             "INFERENCE_NUM_THREADS", "OPTIMAL_NUMBER_OF_INFER_REQUESTS", "EXECUTION_MODE_HINT")


@dataclass
class OpenVinoSettings(RuntimeSettings):
    """A model compiled by OpenVINO: the properties passed to ``compile_model`` and those the
    compiled model reports back (``INFERENCE_PRECISION_HINT``: what really ran)."""

    ov_device: str | None = None
    compile_config: dict | None = None
    compiled_properties: dict | None = None
    infer_requests: int | None = None
    input_dtype: str | None = None
    inference_precision: str | None = None

    SUMMARY = ("compile_config", "inference_precision", "infer_requests")

    def code(self, row) -> str:
        """The ``compile_model`` call with the properties the measured run passed, and the
        precision the compiled model reported."""
        cfg = {k: v for k, v in (self.compile_config or {}).items() if k != "CACHE_DIR"}
        lines = ["import openvino as ov", "", "core = ov.Core()",
                 f"compiled = core.compile_model({py(row.onnx_path)}, {py(self.ov_device or 'CPU')}, {cfg!r})"]
        if self.inference_precision:
            lines.append(f"# measured with INFERENCE_PRECISION_HINT read back as {self.inference_precision}")
        n = self.infer_requests or 1
        if n > 1:
            lines += [f"queue = ov.AsyncInferQueue(compiled, {n})  # {n} requests in flight, as measured",
                      "# queue.start_async({0: images}); queue.wait_all()"]
        else:
            lines.append("request = compiled.create_infer_request()  # request.infer({0: images})")
        return "\n".join(lines)


def precision_name(value) -> str:
    """``<Type: 'bfloat16'>`` / ``bf16`` / ``f32`` -> ``bf16`` / ``fp32``."""
    text = str(value).strip().lower()
    for prefix in ("<type: '", "type: "):
        if text.startswith(prefix):
            text = text[len(prefix):]
    text = text.rstrip("'>")
    return PRECISION_NAMES.get(text, text)


def compile_config(options, device: str = "CPU") -> dict:
    """The properties passed to ``compile_model`` for these runtime options (strings, as
    OpenVINO's ``load_config`` JSON and ``benchmark_app -load_config`` take them)."""
    ov = options.openvino
    cfg = {"INFERENCE_PRECISION_HINT": HINT_FOR[options.precision]}
    if ov.ov_hint != "none":  # none: the plugin's defaults plus the explicit settings below
        cfg["PERFORMANCE_HINT"] = ov.ov_hint.upper()
    if ov.ov_streams:
        cfg["NUM_STREAMS"] = str(ov.ov_streams)
    if options.threads:
        cfg["INFERENCE_NUM_THREADS"] = str(options.threads)
    if ov.ov_cache and options.cache_dir is not None:
        cfg["CACHE_DIR"] = str(options.cache_dir / "openvino-cache")
    return cfg


def executed_label(asked: str, ran: str | None) -> str | None:
    """What a row says ran when the engine's float precision ``ran`` is not what ``asked``
    implies (int8 rows ask f32 for their float parts: ``int8+bf16`` if those ran bf16); None
    when it ran as labelled or could not be told."""
    want = "fp32" if asked == "int8" else asked
    if not ran or ran == want:
        return None
    return f"int8+{ran}" if asked == "int8" else ran


def ov_versions() -> dict:
    version = dist_version("openvino")
    return {"openvino": version} if version else {}


def capabilities(core=None, device: str = "CPU") -> list[str]:
    import openvino as ov

    core = core or ov.Core()
    return [str(c) for c in core.get_property(device, "OPTIMIZATION_CAPABILITIES")]


def default_inference_precision(core=None, device: str = "CPU") -> str:
    """What the plugin would run an fp32 model in when not told (bf16 on AMX / AVX-512 BF16)."""
    import openvino as ov

    core = core or ov.Core()
    return precision_name(core.get_property(device, "INFERENCE_PRECISION_HINT"))


class OpenVinoRuntime(Runtime):
    name = "openvino"
    dependency_rank = 1
    search_options = ()  # the hint follows the objective (latency / throughput)
    devices = ("cpu",)
    precisions = ("fp32", "bf16", "fp16", "int8")
    #: bf16/fp16 are the plugin's own lowering of the fp32 graph; int8 runs the QDQ file
    onnx_precision_for = {"fp32": "fp32", "bf16": "fp32", "fp16": "fp32", "int8": "int8"}
    int8_activations = "uint8"  # the same QDQ file as ort-cpu (OpenVINO runs either)
    ov_device = "CPU"
    settings_type = OpenVinoSettings

    @classmethod
    def available(cls):
        if not module_present("openvino"):
            return False, "openvino is not installed (pip install 'resnext-bench[openvino]')"
        import openvino as ov

        core = ov.Core()
        if cls.ov_device not in core.available_devices:
            return False, f"OpenVINO {ov.__version__} sees no {cls.ov_device} device"
        caps = capabilities(core, cls.ov_device)
        return True, (f"OpenVINO {dist_version('openvino') or ov.__version__}, {cls.ov_device} "
                      f"({', '.join(caps)}; default inference precision "
                      f"{default_inference_precision(core, cls.ov_device)})")

    @classmethod
    def versions(cls):
        return ov_versions()

    @classmethod
    def precision_problem(cls, precision: str) -> str | None:
        need = CAPABILITY_FOR.get(precision)
        if need is None:
            return None
        try:
            caps = capabilities(None, cls.ov_device)
        except Exception:
            return None  # availability reports the broken install
        if need not in caps:
            return (f"OpenVINO {cls.ov_device} has no native {precision} here (OPTIMIZATION_CAPABILITIES: "
                    f"{', '.join(caps)}); the plugin would quietly run f32")
        return None

    def check_precision(self) -> None:
        problem = self.precision_problem(self.options.precision)
        if problem:
            raise RuntimeError(problem)

    def load(self, onnx_path):
        import time

        import openvino as ov

        core = ov.Core()
        self.check_precision()
        cfg = compile_config(self.options, self.ov_device)
        t0 = time.perf_counter()
        model = core.read_model(str(onnx_path))
        self.compiled = core.compile_model(model, self.ov_device, cfg)
        compile_s = time.perf_counter() - t0
        props = {}
        for key in READ_BACK:
            try:
                props[key] = str(self.compiled.get_property(key))
            except Exception:  # a property this version or device does not report
                pass
        self.executed = precision_name(props.get("INFERENCE_PRECISION_HINT", ""))
        self.input_port = self.compiled.input(0)
        self.output_port = self.compiled.output(0)
        self.input_dtype = "float16" if "f16" in str(self.input_port.get_element_type()) else "float32"
        n = self.options.openvino.ov_requests
        self.request = self.compiled.create_infer_request()
        self.queue = ov.AsyncInferQueue(self.compiled, n) if n > 1 else None
        self.load_info = {"openvino_version": dist_version("openvino") or ov.__version__,
                          "ov_device": self.ov_device, "compile_config": cfg,
                          "compiled_properties": props, "compile_seconds": round(compile_s, 3),
                          "infer_requests": n, "input_dtype": self.input_dtype,
                          "inference_precision": self.executed}

    def executed_precision(self):
        return executed_label(self.options.precision, getattr(self, "executed", None))

    def requests_per_call(self):
        return self.options.openvino.ov_requests

    def serving_slots(self, n: int) -> list:
        """One infer request per slot (what ``AsyncInferQueue`` holds): the compiled model's
        streams run the requests in flight side by side."""
        port = self.output_port
        requests = [self.compiled.create_infer_request() for _ in range(n)]
        return [lambda x, req=req: req.infer({0: x}, share_inputs=True)[port] for req in requests]

    def default_serving_slots(self) -> int:
        try:
            return max(1, int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        except Exception:  # a plugin that does not report it
            return 1

    def prepare(self, images):
        import numpy as np

        return np.ascontiguousarray(images, dtype=np.float16 if self.input_dtype == "float16" else np.float32)

    def run(self, x):
        if self.queue is None:
            return self.request.infer({0: x}, share_inputs=True)[self.output_port]
        for _ in range(self.options.openvino.ov_requests):
            self.queue.start_async({0: x}, share_inputs=True)
        self.queue.wait_all()
        return self.queue[0].get_output_tensor(0).data.copy()

    def to_numpy(self, outputs):
        import numpy as np

        return np.array(outputs, dtype=np.float32, copy=True)

    layer_problem = None

    def run_all_outputs(self, images) -> dict:
        import numpy as np

        result = self.request.infer({0: self.prepare(images)})
        out = {}
        for port in self.compiled.outputs:
            value = np.array(result[port], dtype=np.float32, copy=True)
            for name in port.get_names():
                out[name] = value
        return out

    def describe(self):
        info = dict(self.load_info)
        threads = (info.get("compiled_properties") or {}).get("INFERENCE_NUM_THREADS")
        info["threads_effective"] = int(threads) if threads and threads.isdigit() and int(threads) > 0 \
            else self.options.threads
        return info

    def close(self):
        self.queue = None
        self.request = None
        self.compiled = None
