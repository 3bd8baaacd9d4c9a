"""OpenVINO runtimes: native ``openvino`` and ``ort-openvino`` (the EP plugin), and precision that
means what it says. Runs where the packages are installed, skips cleanly where not."""

from __future__ import annotations

import json

import numpy as np
import pytest

from resnext_bench.core.fileio import read_jsonl
from resnext_bench.core.schema import row_from_json
from resnext_bench.runtimes.registry import check_available

OV_OK, OV_REASON = check_available("openvino")
EP_OK, EP_REASON = check_available("ort-openvino")
needs_ov = pytest.mark.skipif(not OV_OK, reason=f"openvino runtime unavailable: {OV_REASON}")
needs_ep = pytest.mark.skipif(not EP_OK, reason=f"ort-openvino unavailable: {EP_REASON}")


@pytest.fixture(scope="module")
def small_onnx(artifacts):
    from resnext_bench.exporters.onnx_export import ExportConfig, export_onnx

    return export_onnx(ExportConfig("resnet18", image_size=32), artifacts).path


# ------------------------------------------------------------------- pure logic (always run)
def test_registry_lists_both_runtimes_with_a_reason():
    from resnext_bench.runtimes.registry import describe_runtimes

    names = {r["name"]: r for r in describe_runtimes()}
    for name in ("openvino", "ort-openvino"):
        assert name in names and names[name]["reason"]
        if not names[name]["available"]:
            assert "pip install" in names[name]["reason"] or "Intel" in names[name]["reason"] \
                or "device" in names[name]["reason"]


def test_compile_config_always_names_the_inference_precision():
    from resnext_bench.config import OpenVinoOptions
    from resnext_bench.runtimes.base import RuntimeOptions
    from resnext_bench.runtimes.openvino_native import compile_config

    for prec, hint in (("fp32", "f32"), ("bf16", "bf16"), ("fp16", "f16"), ("int8", "f32")):
        assert compile_config(RuntimeOptions(precision=prec))["INFERENCE_PRECISION_HINT"] == hint
    cfg = compile_config(RuntimeOptions(threads=2, openvino=OpenVinoOptions(ov_hint="none", ov_streams=1)))
    assert cfg == {"INFERENCE_PRECISION_HINT": "f32", "NUM_STREAMS": "1", "INFERENCE_NUM_THREADS": "2"}
    assert compile_config(RuntimeOptions())["PERFORMANCE_HINT"] == "LATENCY"


def test_precision_names_from_openvino():
    from resnext_bench.runtimes.openvino_native import precision_name

    assert precision_name("<Type: 'bfloat16'>") == "bf16"
    assert precision_name("f32") == "fp32" and precision_name("float16") == "fp16"


def test_the_numerical_probe_tells_fp32_fp16_and_bf16_apart():
    """What ort-openvino uses where ORT cannot read the compiled model back: run on ORT's own
    CPU provider (fp32), and on the probe input rounded as fp16 and bf16 would round it."""
    import onnxruntime as ort
    import torch

    from resnext_bench.runtimes.ort_openvino import PROBE_VALUES, _probe_model_bytes, precision_from_probe

    x = np.empty((1, 2, 4, 4), dtype=np.float32)
    for c, v in enumerate(PROBE_VALUES):
        x[0, c] = v
    y = ort.InferenceSession(_probe_model_bytes(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert precision_from_probe(y) == "fp32"
    assert precision_from_probe(x.astype(np.float16).astype(np.float32)) == "fp16"
    bf = torch.from_numpy(x).to(torch.bfloat16).float().numpy()
    assert precision_from_probe(bf) == "bf16"


def test_an_int8_row_that_ran_bf16_float_parts_is_judged_as_int8():
    from resnext_bench.runtimes.base import RuntimeOptions
    from resnext_bench.runtimes.openvino_native import OpenVinoRuntime

    rt = OpenVinoRuntime(RuntimeOptions(precision="int8"))
    rt.executed = "bf16"
    assert rt.executed_precision() == "int8+bf16" and rt.parity_tolerance_key() == "int8"
    rt = OpenVinoRuntime(RuntimeOptions(precision="fp32"))
    rt.executed = "fp32"
    assert rt.executed_precision() is None and rt.parity_tolerance_key() == "fp32"


# ------------------------------------------------------------------- native openvino
@needs_ov
def test_openvino_rows_run_the_precision_they_say(cli, small_onnx, artifacts, tmp_path):
    from resnext_bench.runtimes.openvino_native import capabilities

    precs = "fp32,int8" + (",bf16" if "BF16" in capabilities() else "")
    res = cli("bench", "--onnx", small_onnx, "--runtime", "openvino", "--precision", precs,
              "--iters", 4, "--rounds", 2, "--warmup", 1, "--parity-images", 8, "--calib-count", 8,
              "--threads", 1, "--artifacts", artifacts, "--out", tmp_path / "run")
    assert res.exit_code in (0, 1), res.output
    rows = {r["precision"]: row_from_json(r) for r in read_jsonl(tmp_path / "run" / "results.jsonl")[0]}
    fp32 = rows["fp32"]
    assert fp32.ok and fp32.parity_passed, res.output
    assert fp32.runtime_info["inference_precision"] == "fp32" and fp32.precision_executed is None
    assert fp32.runtime_info["compile_config"]["INFERENCE_PRECISION_HINT"] == "f32"
    assert fp32.runtime_info["compiled_properties"]["INFERENCE_NUM_THREADS"] == "1"
    assert fp32.parity_max_rel_err < 1e-4  # a bf16 run could not get this close
    q = rows["int8"]
    assert q.ok and q.onnx_precision == "int8" and q.runtime_info["inference_precision"] == "fp32"
    if "bf16" in rows:
        b = rows["bf16"]
        assert b.ok and b.runtime_info["inference_precision"] == "bf16" and b.onnx_precision == "fp32"
        assert b.parity_tolerance["min_cosine"] == 0.995  # bf16's tolerance
    # recommend prints the compile_model call that was measured
    rec = cli("recommend", tmp_path / "run", "--runtime", "openvino", "--json")
    code = json.loads(rec.output)["winner"]["runtime_code"]
    assert "core.compile_model(" in code and "INFERENCE_PRECISION_HINT" in code
    scope: dict = {}
    exec(code, scope)  # the snippet a deployer copies: it loads the measured file and runs it
    x = np.zeros((1, 3, 32, 32), dtype=np.float32)
    assert scope["request"].infer({0: x})[0].shape == (1, 1000)


@needs_ov
def test_a_silent_precision_change_is_detected(small_onnx, monkeypatch):
    """The trap the runtime exists to avoid: an fp32 model compiled without a precision hint
    on a CPU with bf16 runs bf16. Forced here by dropping the hint; the runtime must read the
    compiled model back and say so, and judge the row with bf16's tolerance."""
    from resnext_bench.runtimes import openvino_native as ovn
    from resnext_bench.runtimes.base import RuntimeOptions

    default = ovn.default_inference_precision()
    real = ovn.compile_config
    monkeypatch.setattr(ovn, "compile_config", lambda options, device="CPU": {
        k: v for k, v in real(options, device).items() if k != "INFERENCE_PRECISION_HINT"})
    rt = ovn.OpenVinoRuntime(RuntimeOptions(precision="fp32"))
    rt.load(small_onnx)
    try:
        if default == "fp32":
            assert rt.executed_precision() is None  # no bf16 on this CPU: nothing to detect
        else:
            assert rt.executed_precision() == default and rt.parity_tolerance_key() == default
            assert rt.describe()["inference_precision"] == default
    finally:
        rt.close()


@needs_ov
def test_openvino_infer_requests_count_in_throughput(small_onnx, artifacts, tmp_path, cli):
    res = cli("bench", "--onnx", small_onnx, "--runtime", "openvino", "--ov-requests", 2,
              "--ov-hint", "throughput", "--iters", 4, "--rounds", 1, "--warmup", 1, "--no-parity",
              "--artifacts", artifacts, "--out", tmp_path / "run", "-q")
    assert res.exit_code == 0, res.output
    (row,) = [row_from_json(r) for r in read_jsonl(tmp_path / "run" / "results.jsonl")[0]]
    assert row.requests_per_call == 2 and row.runtime_info["infer_requests"] == 2
    assert row.throughput_ips == pytest.approx(2 * row.batch * 1000.0 / row.latency_mean_ms, rel=1e-6)


# ------------------------------------------------------------------- ort-openvino
@needs_ep
def test_ort_openvino_runs_all_nodes_on_openvino_in_f32(cli, small_onnx, artifacts, tmp_path):
    res = cli("bench", "--onnx", small_onnx, "--runtime", "ort-openvino", "--precision", "fp32",
              "--iters", 4, "--rounds", 1, "--warmup", 1, "--parity-images", 8,
              "--artifacts", artifacts, "--out", tmp_path / "run")
    assert res.exit_code == 0, res.output
    (row,) = [row_from_json(r) for r in read_jsonl(tmp_path / "run" / "results.jsonl")[0]]
    assert row.runtime_info["inference_precision"] == "fp32" and row.precision_executed is None
    assert row.runtime_info["cpu_ep_fallback"] == "disabled"
    assert "INFERENCE_PRECISION_HINT" in row.runtime_info["provider_options"]["load_config"]


def test_ort_openvino_says_why_it_is_unusable():
    if EP_OK:
        pytest.skip("usable here")
    assert EP_REASON and ("pip install" in EP_REASON or "Intel" in EP_REASON or "plugin" in EP_REASON)


@needs_ov
def test_a_precision_the_device_lacks_is_a_skipped_row(cli, small_onnx, artifacts, tmp_path):
    from resnext_bench.runtimes.openvino_native import capabilities

    missing = [p for p, cap in (("fp16", "FP16"), ("bf16", "BF16")) if cap not in capabilities()]
    if not missing:
        pytest.skip("this CPU runs both fp16 and bf16 natively")
    res = cli("bench", "--onnx", small_onnx, "--runtime", "openvino", "--precision", missing[0],
              "--iters", 2, "--rounds", 1, "--artifacts", artifacts, "--out", tmp_path / "run", "-q")
    (row,) = [row_from_json(r) for r in read_jsonl(tmp_path / "run" / "results.jsonl")[0]]
    assert row.status == "skipped" and f"no native {missing[0]}" in row.error
    assert "quietly run f32" in row.error


def test_the_model_cache_goes_under_the_artifacts_dir(tmp_path):
    from resnext_bench.config import OpenVinoOptions
    from resnext_bench.runtimes.base import RuntimeOptions
    from resnext_bench.runtimes.openvino_native import compile_config

    opts = RuntimeOptions(cache_dir=tmp_path, openvino=OpenVinoOptions(ov_cache=True, ov_hint="throughput"))
    cfg = compile_config(opts)
    assert cfg["CACHE_DIR"] == str(tmp_path / "openvino-cache") and cfg["PERFORMANCE_HINT"] == "THROUGHPUT"
    assert "CACHE_DIR" not in compile_config(RuntimeOptions(cache_dir=tmp_path))
