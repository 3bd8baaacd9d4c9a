"""``ort-openvino``: ONNX Runtime with the OpenVINO execution provider plugin
(``onnxruntime-ep-openvino``, installed *beside* ``onnxruntime``, not instead of it).

The plugin is registered with ``onnxruntime.register_execution_provider_library`` and the
session gets its CPU device through ``SessionOptions.add_provider_for_devices``. Two traps:

* the provider option ``precision=FP32`` is ignored ("Provider option precision is ignored.
  Please set it via the load_config"), so a session asked for fp32 runs bf16 on a CPU with bf16
  instructions. The OpenVINO properties go into ``load_config`` (a JSON string keyed by
  device: ``{"CPU": {"INFERENCE_PRECISION_HINT": "f32", ...}}``), built by the native
  runtime's :func:`~.openvino_native.compile_config`, so both runtimes ask for the same thing;
* ONNX Runtime does not expose the compiled model, so the precision that ran cannot be read
  back. A numerical probe answers instead (:func:`probe_precision`): a one-node model (a 1x1
  conv with identity weights) is run through a session with the *same* provider options on
  inputs ``1 + 2^-12`` and ``1 + 2^-9``; f32 keeps both, fp16 (10-bit mantissa) only the second,
  bf16 (7-bit) neither. The row records the probe's answer, and a mismatch is judged with the
  tolerance of what ran.

Nodes the provider cannot take would silently run on ONNX Runtime's CPU provider; the session
is created with ``session.disable_cpu_ep_fallback = 1``, so the whole graph runs on OpenVINO
or the load fails saying so.
"""

from __future__ import annotations

import json

from dataclasses import dataclass

from .openvino_native import compile_config, executed_label
from .ort_build import import_onnxruntime
from .ort_cpu import OrtCpuRuntime
from .ort_session import OrtSettings
from .packages import dist_version, module_present
from .settings import py

EP_NAME = "OpenVINOExecutionProvider"
_REGISTRATION = "resnext_bench_openvino_ep"
#: (channel value, mantissa bits it needs): 2^-12 needs > 10 bits (f32 only), 2^-9 needs 9 (f16 or f32)
PROBE_VALUES = (1.0 + 2.0 ** -12, 1.0 + 2.0 ** -9)


def register_plugin(ort) -> list:
    """Register the plugin library once per process; the OpenVINO EP's devices."""
    import onnxruntime_ep_openvino as plugin

    devices = [d for d in ort.get_ep_devices() if d.ep_name == plugin.get_ep_name()]
    if not devices:
        try:
            ort.register_execution_provider_library(_REGISTRATION, plugin.get_library_path())
        except Exception as exc:
            if "already registered" not in str(exc).lower():
                raise
        devices = [d for d in ort.get_ep_devices() if d.ep_name == plugin.get_ep_name()]
    return devices


def cpu_device(devices):
    for d in devices:
        if str(d.ep_metadata.get("ov_device", "")).upper() == "CPU":
            return d
    return None


INTEL_VENDOR_ID = 0x8086


def no_device_reason(ort) -> str:
    """Why the plugin offered no CPU device. It serves Intel hardware only: its
    ``GetSupportedDevices`` skips every device whose vendor id is not Intel's, so on an AMD CPU
    (where native ``openvino`` still runs) the provider has nothing to run on."""
    cpus = [d.device for d in ort.get_ep_devices()
            if str(d.device.type).endswith("CPU") and d.ep_name == "CPUExecutionProvider"]
    if cpus and cpus[0].vendor_id != INTEL_VENDOR_ID:
        return (f"the OpenVINO EP plugin offers devices only on Intel hardware (vendor id 0x8086); "
                f"this CPU is {cpus[0].vendor} (vendor id {cpus[0].vendor_id:#06x}). "
                f"The native openvino runtime runs here")
    return "the OpenVINO EP plugin offers no CPU device"


def provider_options(options) -> dict:
    """The provider options: device and ``load_config`` (every OpenVINO property there)."""
    return {"device_type": "CPU", "load_config": json.dumps({"CPU": compile_config(options)})}


def _probe_model_bytes() -> bytes:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.eye(2, dtype=np.float32).reshape(2, 2, 1, 1), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"])
    graph = helper.make_graph([node], "precision_probe",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])],
                              initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def precision_from_probe(y) -> str:
    """The precision a probe output shows (see the module docstring)."""
    import numpy as np

    y = np.asarray(y, dtype=np.float64)
    keeps = [bool(np.all(np.abs(y[0, c] - v) < 2.0 ** -14)) for c, v in enumerate(PROBE_VALUES)]
    if keeps[0] and keeps[1]:
        return "fp32"
    if keeps[1]:
        return "fp16"
    return "bf16"


@dataclass
class OrtOpenVinoSettings(OrtSettings):
    """An ORT session on the OpenVINO EP plugin: the provider options given to
    ``add_provider_for_devices`` and the precision the numerical probe found."""

    provider_options: dict | None = None
    cpu_ep_fallback: str | None = None
    inference_precision: str | None = None
    inference_precision_method: str | None = None

    SUMMARY = ("graph_optimization_level", "providers", "provider_options", "input_dtype",
               "inference_precision", "inference_precision_method", "cpu_ep_fallback")

    def code(self, row) -> str:
        return "\n".join([
            "import onnxruntime as ort", "import onnxruntime_ep_openvino as ov_ep", "",
            'ort.register_execution_provider_library("openvino", ov_ep.get_library_path())',
            "cpu = next(d for d in ort.get_ep_devices()",
            '           if d.ep_name == ov_ep.get_ep_name() and d.ep_metadata.get("ov_device") == "CPU")',
            *self._session_lines(row),
            *([] if (self.session_options or {}).get("config_entries") else  # an older row
              ['so.add_session_config_entry("session.disable_cpu_ep_fallback", "1")']),
            f"so.add_provider_for_devices([cpu], {(self.provider_options or {})!r})",
            f"session = ort.InferenceSession({py(row.onnx_path)}, so)"])


class OrtOpenVinoRuntime(OrtCpuRuntime):
    name = "ort-openvino"
    dependency_rank = 2
    search_options = ()
    providers = []  # chosen through add_provider_for_devices
    required_provider = EP_NAME
    precisions = ("fp32", "bf16", "fp16", "int8")
    onnx_precision_for = {"fp32": "fp32", "bf16": "fp32", "fp16": "fp32", "int8": "int8"}
    int8_activations = "uint8"
    settings_type = OrtOpenVinoSettings

    @classmethod
    def available(cls):
        if not module_present("onnxruntime"):
            return False, "onnxruntime is not installed (pip install 'resnext-bench[cpu]')"
        if not module_present("onnxruntime_ep_openvino"):
            return False, ("the OpenVINO execution provider plugin is not installed "
                           "(pip install 'resnext-bench[openvino]': onnxruntime-ep-openvino beside onnxruntime)")
        ort = import_onnxruntime()
        if not hasattr(ort, "register_execution_provider_library"):
            return False, f"onnxruntime {ort.__version__} cannot load plugin execution providers (needs >= 1.23)"
        try:
            devices = register_plugin(ort)
        except Exception as exc:
            return False, f"the OpenVINO EP plugin did not load: {str(exc).splitlines()[0][:200]}"
        if cpu_device(devices) is None:
            return False, no_device_reason(ort)
        return True, (f"onnxruntime {ort.__version__} + onnxruntime-ep-openvino "
                      f"{dist_version('onnxruntime-ep-openvino')}, CPU")

    @classmethod
    def versions(cls):
        out = {}
        for name in ("onnxruntime", "onnxruntime-ep-openvino"):
            v = dist_version(name)
            if v:
                out[name] = v
        return out

    def _session_options(self, ort):
        so = super()._session_options(ort)
        self._config_entry(so, "session.disable_cpu_ep_fallback", "1")
        device = cpu_device(register_plugin(ort))
        so.add_provider_for_devices([device], provider_options(self.options))
        return so

    def probe_precision(self, ort) -> str:
        """Run the probe model through a session with this runtime's provider options."""
        import numpy as np

        x = np.empty((1, 2, 4, 4), dtype=np.float32)
        for c, v in enumerate(PROBE_VALUES):
            x[0, c] = v
        session = ort.InferenceSession(_probe_model_bytes(), self._session_options(ort))
        return precision_from_probe(session.run(None, {"x": x})[0])

    def load(self, onnx_path):
        super().load(onnx_path)
        self.executed = self.probe_precision(self._ort)
        self.load_info.update({"provider_options": provider_options(self.options),
                               "cpu_ep_fallback": "disabled",
                               "inference_precision": self.executed,
                               "inference_precision_method": "numerical probe (1x1 conv, same provider options)",
                               "ort_ep_openvino_version": dist_version("onnxruntime-ep-openvino")})

    def executed_precision(self):
        return executed_label(self.options.precision, getattr(self, "executed", None))

    def describe(self):
        info = dict(self.load_info)
        info["threads_effective"] = self.options.threads
        return info
