"""Deployment choices: torch.compile, and a recommendation one can ship (int8: test_int8.py)."""

import json
import shutil

import pytest

from conftest import run_config
from support.rows import deploy_row as _row


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
    from support.rows import make_rows, write_run

    run = write_run(tmp_path / "r", make_rows())
    res = cli("recommend", run, "--arch", "resnet50", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["winner"]["arch"] == "resnet50" and data["winner"]["artifact"]["exists"] is False
    res = cli("recommend", run, "--max-latency-ms", "0.001")
    assert res.exit_code == 1 and res.output.count("no configuration meets") == 3
