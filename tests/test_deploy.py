"""Deployment choices: int8 quantization, torch.compile, and a recommendation one can ship."""

import json
import shutil

import numpy as np
import onnx
import pytest

from conftest import run_config
from resnext_bench.config import QuantOptions
from resnext_bench.core.fileio import read_jsonl
from resnext_bench.core.schema import row_from_json


# ------------------------------------------------------------------------------------ int8
@pytest.fixture(scope="module")
def fp32_file(artifacts):
    from resnext_bench.exporters.onnx_export import ExportConfig, export_onnx

    return export_onnx(ExportConfig("resnext29_2x4d"), artifacts).path


def test_quantized_file_is_qdq_and_cached_by_its_key(fp32_file, tmp_path):
    from resnext_bench.exporters.onnx_export import read_metadata
    from resnext_bench.exporters.quantize import quantize_onnx

    q = quantize_onnx(fp32_file, QuantOptions(calib_count=8), tmp_path)
    assert not q.cache_hit and q.path.is_file()
    ops = {n.op_type for n in onnx.load(str(q.path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops and q.summary["qdq_nodes"] > 10
    meta = read_metadata(q.path)
    assert meta["resnext_bench.precision"] == "int8" and meta["resnext_bench.arch"] == "resnext29_2x4d"
    key = json.loads(meta["resnext_bench.quantization"])
    assert key["fp32_sha256"] and key["method"] == "minmax" and key["count"] == 8
    assert quantize_onnx(fp32_file, QuantOptions(calib_count=8), tmp_path).cache_hit
    other_count = quantize_onnx(fp32_file, QuantOptions(calib_count=4), tmp_path)
    other_method = quantize_onnx(fp32_file, QuantOptions(calib_count=8, calib_method="percentile"), tmp_path)
    symmetric = quantize_onnx(fp32_file, QuantOptions(calib_count=8, quant_activations="int8"), tmp_path)
    assert len({q.path, other_count.path, other_method.path, symmetric.path}) == 4
    assert q.summary["quantization"]["activations"] == "uint8 asymmetric"  # auto: the CPU's U8S8
    assert symmetric.summary["quantization"]["activations"] == "int8 symmetric"


def test_int8_rows_record_quantization_and_parity(cli, fp32_file, artifacts, tmp_path):
    res = cli("bench", "--onnx", fp32_file, "--runtime", "ort-cpu", "--precision", "fp32,int8",
              "--iters", 4, "--rounds", 2, "--warmup", 1, "--parity-images", 8, "--calib-count", 8,
              "--artifacts", artifacts, "--out", tmp_path / "run", "-q")
    assert res.exit_code in (0, 1), res.output  # 1 when int8 misses its tolerance: said, not hidden
    rows = {r["precision"]: row_from_json(r) for r in read_jsonl(tmp_path / "run" / "results.jsonl")[0]}
    q = rows["int8"]
    assert q.ok and q.onnx_precision == "int8" and "_int8_" in q.onnx_path
    assert q.quantization["method"] == "minmax" and q.quantization["count"] == 8
    assert q.quantization["activations"] == "uint8 asymmetric"  # ort-cpu's int8 file
    assert q.parity_tolerance == {"rtol": 0.15, "min_cosine": 0.99, "min_top1": 0.9}
    assert q.parity_cosine is not None and q.parity_top1_agreement is not None
    assert "untrained" in q.note and rows["fp32"].note is None
    assert (res.exit_code == 1) == (q.parity_passed is False)


@pytest.mark.parametrize("make,msg", [
    (lambda p: p / "none", "no such directory"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "no image files"),
])
def test_bad_calibration_folder_is_exit_2(cli, tmp_path, make, msg):
    folder = make(tmp_path)
    res = cli("export", "--arch", "resnext29_2x4d", "--precision", "int8", "--calib-images", folder,
              "--out", tmp_path / "out")
    assert res.exit_code == 2 and msg in res.stderr and res.stderr.startswith("error: --calib-images")
    res = cli("quantize", "--onnx", tmp_path / "missing.onnx")
    assert res.exit_code == 2 and "no such file" in res.stderr


def test_quantize_command_calibrates_on_real_images(cli, fp32_file, tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    res = cli("quantize", "--onnx", fp32_file, "--calib-images", folder, "--calib-method", "entropy",
              "--out", tmp_path / "q", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    q = data["quantization"]  # the count says what the calibration saw: the folder has 4
    assert q["source"].startswith("images:") and q["count"] == 4 and q["asked_count"] == 32
    assert data["quantization"]["method"] == "entropy" and data["path"].endswith(".onnx")


# ------------------------------------------------------------------------- torch.compile
def test_torch_compile_runs_with_parity_and_compile_time_in_load(tmp_path, artifacts):
    from resnext_bench.bench.plan import combos
    from resnext_bench.bench.runner import Runner

    config = run_config(archs="wrn10_1", runtimes="torch-compile", warmup=1, iters=4, rounds=2,
                        parity_images=4, artifacts=str(artifacts))
    (row,) = Runner(config, tmp_path).run(combos(config, strict=True))
    assert row.ok, row.error
    info = row.runtime_info
    assert info["compile_mode"] == "default" and info["compile_backend"] == "inductor"
    assert row.load_seconds >= info["compile_seconds"] > 0
    assert row.parity_passed and row.parity_max_rel_err < 1e-3


def test_torch_compile_without_a_compiler_says_so(monkeypatch):
    from resnext_bench.runtimes import torch_compile

    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CXX", raising=False)
    ok, reason = torch_compile.TorchCompileRuntime.available()
    assert not ok and "needs a C++ compiler" in reason
    from resnext_bench.runtimes.base import RuntimeOptions

    rt = torch_compile.TorchCompileRuntime(RuntimeOptions())
    with pytest.raises(RuntimeError, match="needs a C\\+\\+ compiler"):
        rt.load(None)


# ------------------------------------------------------------------------------ recommend
def _row(**kw):
    from test_reports import make_rows

    base = dict(make_rows()[0])
    base.update(kw)
    base.pop("config_key", None)
    return row_from_json(base)


def test_recommend_filters_per_arch_ties_and_deployment(tmp_path):
    from resnext_bench.reports.recommend import recommend

    art = tmp_path / "m.onnx"
    art.write_bytes(b"onnx")
    rows = [
        _row(arch="resnet50", runtime="ort-cpu", threads=4, batch=1, latency_p50_ms=10.0, round_spread=0.05,
             onnx_path=str(art), onnx_sha256="ab" * 32, onnx_bytes=4, opset=18, exporter="dynamo",
             onnx_precision="fp32", runtime_info={"graph_optimization_level": "all"}),
        _row(arch="resnet50", runtime="ort-cpu", threads=2, batch=1, latency_p50_ms=10.3, round_spread=0.05,
             onnx_path=str(art), onnx_sha256="ab" * 32, onnx_bytes=4, opset=18, exporter="dynamo",
             onnx_precision="fp32", runtime_info={"graph_optimization_level": "all"}),
        _row(arch="resnet50", runtime="torch", threads=2, batch=1, latency_p50_ms=30.0, round_spread=0.05),
        _row(arch="resnext50_32x4d", runtime="torch", threads=2, batch=1, latency_p50_ms=40.0,
             round_spread=0.02, params=25_028_904),
    ]
    res = recommend(rows)
    assert [r["arch"] for r in res["recommendations"]] == ["resnet50", "resnext50_32x4d"]
    assert res["winner"] is None and res["found"]  # two archs: one recommendation each
    r50 = res["recommendations"][0]
    w = r50["winner"]
    # 10.0 vs 10.3 ms is within the 5% round spread: a tie, settled by fewer threads
    assert len(r50["ties"]) == 2 and w["threads"] == 2 and "fewer threads" in res["tie_break"]
    assert w["artifact"] == {"path": str(art), "exists": True, "sha256": "ab" * 32, "bytes": 4}
    assert w["export_command"].startswith("resnext-bench export --arch resnet50 --form c --precision fp32")
    assert "ort.InferenceSession" in w["runtime_code"] and "intra_op_num_threads = 2" in w["runtime_code"]
    only = recommend(rows, arch="resnext50_32x4d")
    assert only["winner"]["arch"] == "resnext50_32x4d" and "build_model" in only["winner"]["runtime_code"]
    assert only["recommendations"][0]["excluded"] == {"arch != resnext50_32x4d": 3}
    assert recommend(rows, runtime="torch", arch="resnet50")["winner"]["runtime"] == "torch"
    art.unlink()
    from resnext_bench.reports.recommend import render_text

    text = render_text(recommend(rows, arch="resnet50"))
    assert "NO LONGER EXISTS" in text and "re-create: resnext-bench export" in text


def test_recommend_cli_json_and_nothing_fits(cli, tmp_path):
    from test_reports import make_rows, write_run

    run = write_run(tmp_path / "r", make_rows())
    res = cli("recommend", run, "--arch", "resnet50", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["winner"]["arch"] == "resnet50" and data["winner"]["artifact"]["exists"] is False
    res = cli("recommend", run, "--max-latency-ms", "0.001")
    assert res.exit_code == 1 and res.output.count("no configuration meets") == 3


def test_export_int8_from_the_cli(cli, fp32_file, artifacts):
    res = cli("export", "--arch", "resnext29_2x4d", "--precision", "int8", "--calib-count", 4,
              "--out", artifacts)
    assert res.exit_code == 0, res.output
    assert "_int8_uint8_minmax_" in res.output and "int8 QDQ" in res.output
    assert "calibration: minmax on 4 images (random crops of builtin:" in res.output  # photos by default


# ------------------------------------------------------------------------ int8 accuracy control
def test_default_calibration_is_photo_crops_disjoint_from_parity(cli, fp32_file, artifacts, tmp_path):
    from resnext_bench.exporters.quantize import calibration_source

    assert calibration_source(QuantOptions()).startswith("random crops of builtin:")
    assert calibration_source(QuantOptions(calib_images="synthetic")) == "synthetic seed 777"
    res = cli("bench", "--onnx", fp32_file, "--runtime", "ort-cpu", "--precision", "int8",
              "--iters", 2, "--rounds", 1, "--warmup", 1, "--images", "builtin", "--calib-count", 8,
              "--artifacts", artifacts, "--out", tmp_path / "run", "-q")
    assert res.exit_code in (0, 1), res.output
    (row,) = [row_from_json(r) for r in read_jsonl(tmp_path / "run" / "results.jsonl")[0]]
    assert row.quantization["source"].startswith("random crops of builtin:")
    assert row.parity_inputs.startswith("builtin")  # the centre crops: not the calibration inputs


def test_a_target_plain_int8_misses_is_met_by_fallback_and_cached(fp32_file, tmp_path):
    from resnext_bench.exporters.quantize import quantize_onnx

    base = QuantOptions(calib_count=8)
    q = QuantOptions(calib_count=8, int8_target="cosine:0.9999")
    res = quantize_onnx(fp32_file, q, tmp_path)
    fb = res.summary["quantization"]["fallback"]
    steps = {s["float_nodes"]: s for s in fb["steps"]}
    assert steps[0]["met"] is False  # plain int8 misses a 0.9999 cosine
    chosen = len(fb["float_nodes"])
    assert chosen > 0 and steps[chosen]["met"] and steps[chosen]["cosine"] >= 0.9999
    assert all(not s["met"] for k, s in steps.items() if k < chosen)  # the fewest tried that meet it
    assert res.summary["quantization"]["float_nodes"] == chosen
    assert fb["ranking"][0]["sqnr_drop_db"] >= fb["ranking"][-1]["sqnr_drop_db"]
    # cached: the same target finds the record; another target, or none, is another answer
    again = quantize_onnx(fp32_file, q, tmp_path)
    assert again.path == res.path and again.cache_hit
    other = quantize_onnx(fp32_file, QuantOptions(calib_count=8, int8_target="cosine:0.99"), tmp_path)
    plain = quantize_onnx(fp32_file, base, tmp_path)
    assert "fallback" not in plain.summary["quantization"]
    assert other.summary["quantization"]["fallback"]["target"] == {"cosine": 0.99}


def test_an_unreachable_target_names_the_best_reached(cli, fp32_file, tmp_path):
    res = cli("quantize", "--onnx", fp32_file, "--out", tmp_path, "--calib-count", 4,
              "--int8-target", "cosine:0.999999", "--int8-max-float", "0.05")
    assert res.exit_code == 2 and "cannot be met" in res.output and "best reached" in res.output
    assert "--int8-max-float 0.05" in res.output
    assert "Traceback" not in res.output


def test_a_bad_int8_target_is_exit_2(cli, fp32_file, tmp_path):
    res = cli("quantize", "--onnx", fp32_file, "--out", tmp_path, "--int8-target", "speed:2")
    assert res.exit_code == 2 and "int8 target" in res.output


def test_an_accuracy_drop_target_needs_labels_and_measures_the_drop(cli, fp32_file, tmp_path):
    from PIL import Image

    from resnext_bench.exporters.quantize import quantize_onnx

    rng = np.random.default_rng(0)
    for c in ("0", "1"):
        (tmp_path / "labeled" / c).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "labeled" / c / f"{i}.png")
    q = QuantOptions(calib_images=str(tmp_path / "labeled"), calib_count=8, int8_target="drop:100")
    res = quantize_onnx(fp32_file, q, tmp_path / "out")
    (step,) = res.summary["quantization"]["fallback"]["steps"]
    assert step["met"] and "drop" in step and "accuracy" in step and step["float_nodes"] == 0
    assert res.summary["quantization"]["fallback"]["control"].startswith("labeled centre crops of images:")
    bad = cli("quantize", "--onnx", fp32_file, "--out", tmp_path / "out2", "--int8-target", "drop:1")
    assert bad.exit_code == 2 and "needs a labeled calibration folder" in bad.output
