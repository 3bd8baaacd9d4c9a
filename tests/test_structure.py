"""The engine's typed insides: one definition of a regression and of precedence, the rule for a
failed side of ``ab``, runtime settings read back as the runtime recorded them, the TensorRT
profile as a setting of the configuration, and worker messages that cross a spawn pipe."""

from __future__ import annotations

import pickle

import pytest

from conftest import run_config
from resnext_bench.core.schema import ResultRow
from resnext_bench.core.verdict import REGRESSIONS, Outcome, settle


def _row(**kw) -> ResultRow:
    values = dict(arch="resnet18", form="c", runtime="ort-cpu", device="cpu", precision="fp32",
                  batch=1, threads=None, image_size=224, params=10, macs=20,
                  round_medians_ms=[10.0, 10.1, 9.9, 10.0, 10.05], parity_passed=True)
    values.update(kw)
    return ResultRow(**values)


# -------------------------------------------------------------------------------- verdicts
def test_one_precedence_between_findings():
    assert settle(Outcome.REGRESSION, parity_broke=True) is Outcome.PARITY_BREAK
    assert settle(Outcome.REGRESSION, model_changed=True, busy=True) is Outcome.MODEL_CHANGED
    assert settle(Outcome.REGRESSION, busy=True) is Outcome.INCONCLUSIVE
    assert settle(Outcome.UNCHANGED, gates=[Outcome.P99_REGRESSION]) is Outcome.P99_REGRESSION
    assert settle(Outcome.REGRESSION, gates=[Outcome.P99_REGRESSION]) is Outcome.REGRESSION
    assert settle(Outcome.UNCHANGED, gates=[Outcome.P99_REGRESSION], busy=True) is Outcome.INCONCLUSIVE
    assert settle(Outcome.INCONCLUSIVE) is Outcome.INCONCLUSIVE
    assert Outcome.FAILED.is_regression and not Outcome.INCONCLUSIVE.is_regression
    assert Outcome.REGRESSION == "regression" and f"{Outcome.PARITY_BREAK}" == "parity_break"
    assert {o.value for o in REGRESSIONS} == {"regression", "p99_regression", "throughput_regression",
                                              "parity_break", "failed", "skipped_now", "missing"}


def test_ab_fails_on_the_new_side_only():
    """The new side's failure is a regression (exit 1); a failed base leaves the verdict
    unreached (exit 0, or 3 with --fail-on-inconclusive), whatever the new side did."""
    from resnext_bench.reports.ab import ab_verdict, render_ab

    ok, broken = _row(), _row(status="failed", error="RuntimeError: boom", round_medians_ms=None)
    res = ab_verdict(broken, ok)
    assert not res.is_regression and res.inconclusive and "base failed" in res.verdict.notes[0]
    assert render_ab(res, "text").startswith("VERDICT NOT REACHED (base failed")
    for base in (ok, broken):
        res = ab_verdict(base, broken)
        assert res.is_regression and res.verdict.verdict is Outcome.FAILED
    assert ab_verdict(ok, _row()).verdict.verdict is Outcome.UNCHANGED


def test_ab_cli_exit_codes_follow_the_rule(cli, monkeypatch, tmp_path):
    from resnext_bench.bench import api

    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"x")
    sides = {}

    def fake_run_ab(base, new, common, **kw):
        return sides["base"], sides["new"], tmp_path / "results.jsonl", [(sides["base"], sides["new"])]

    monkeypatch.setattr(api, "run_ab", fake_run_ab)
    ok, broken = _row(), _row(status="failed", error="RuntimeError: boom", round_medians_ms=None)
    for base, new, code, strict in ((broken, ok, 0, False), (broken, ok, 3, True), (ok, broken, 1, False),
                                    (ok, ok, 0, True)):
        sides.update(base=base, new=new)
        args = ["ab", onnx, onnx, "--out", tmp_path / "ab"] + (["--fail-on-inconclusive"] if strict else [])
        assert cli(*args).exit_code == code, (base.status, new.status, strict)


# ----------------------------------------------------------------------- runtime settings
def test_deploy_prints_the_session_as_the_runtime_created_it():
    """ORT's snippet comes from the recorded session options and provider list (the CUDA
    provider's options as passed, the stream pointer left out), not from a re-derivation."""
    from resnext_bench.reports.deploy import deployment, runtime_settings

    cuda_opts = {"device_id": "0", "cudnn_conv_algo_search": "HEURISTIC", "use_tf32": "0",
                 "do_copy_in_default_stream": "1", "has_user_compute_stream": "1",
                 "user_compute_stream": "139872"}
    info = {"providers": ["CUDAExecutionProvider", "CPUExecutionProvider"],
            "graph_optimization_level": "basic",
            "session_options": {"graph_optimization_level": "ORT_ENABLE_BASIC", "intra_op_num_threads": 3},
            "provider_list": [["CUDAExecutionProvider", cuda_opts]], "onnxruntime_version": "1.31"}
    row = _row(runtime="ort-cuda", device="cuda", onnx_path="/m.onnx", runtime_info=info)
    code = deployment(row)["runtime_code"]
    assert "GraphOptimizationLevel.ORT_ENABLE_BASIC" in code and "so.intra_op_num_threads = 3" in code
    assert "'cudnn_conv_algo_search': 'HEURISTIC'" in code and "'use_tf32': '0'" in code
    assert "user_compute_stream" not in code
    settings = runtime_settings(row)
    assert settings.to_info() == info  # read back and written again: the same keys and values
    assert settings.summary()["graph_optimization_level"] == "basic"


@pytest.mark.parametrize("runtime, info", [
    ("torch", {"torch_version": "2.13", "channels_last": True, "tf32": None, "threads_effective": 2,
               "cudnn_benchmark": None}),
    ("openvino", {"openvino_version": "2026.4", "ov_device": "CPU", "compile_config": {"NUM_STREAMS": "1"},
                  "compiled_properties": {}, "compile_seconds": 0.5, "infer_requests": 1,
                  "input_dtype": "float32", "inference_precision": "f32", "threads_effective": 2}),
    ("tensorrt", {"tensorrt_version": "10", "engine_path": "/e.engine", "input_name": "input",
                  "profile_min_opt_max": [1, 8, 32], "workspace_mb": 512, "builder_opt_level": 3,
                  "tf32": False, "cuda_graph": False, "precision": "fp32", "strongly_typed": False,
                  "image_size": 224, "engine_bytes": 10}),
])
def test_every_family_reads_back_what_it_recorded(runtime, info):
    from resnext_bench.reports.deploy import runtime_settings

    row = _row(runtime=runtime, runtime_info=info, onnx_path="/m.onnx")
    settings = runtime_settings(row)
    assert type(settings).__name__ != "RuntimeSettings" and settings.to_info() == info
    code = settings.code(row)
    assert {"torch": "build_model", "openvino": "compile_model", "tensorrt": "--maxShapes=input:32x3x224x224"}[runtime] in code


# ---------------------------------------------------------------- configuration, messages
def test_profile_max_batch_comes_from_the_configuration_not_the_invocation():
    """A shard or resume that measures only batch 1 of a batches=1,8 plan builds the profile
    the whole plan would (8); an explicit setting wins and is part of the key."""
    from resnext_bench.bench.plan import combos
    from resnext_bench.bench.protocol import Job

    config = run_config(archs="resnet18", runtimes="ort-trt", batches="1,8", device="cuda")
    one = [c for c in combos(config, strict=False) if c.batch == 1][0]
    assert Job.for_combo(config, one).profile_max_batch == 8
    asked = run_config(archs="resnet18", runtimes="ort-trt", batches="1,8", device="cuda",
                       profile_max_batch=16)
    (c16,) = [c for c in combos(asked, strict=False) if c.batch == 1]
    assert Job.for_combo(asked, c16).profile_max_batch == 16 and "profile_max_batch=16" in c16.key
    assert "profile_max_batch" not in one.key


def test_worker_messages_cross_a_pipe():
    from resnext_bench.bench.protocol import Block, Command, Failed, Finished, Loaded, Prepared, Refused
    from resnext_bench.exporters.artifact import Artifact
    from resnext_bench.runtimes.ort_session import OrtSettings

    artifact = Artifact(path="/m.onnx", sha256="ab", bytes=4, precision="fp32",
                        complexity={"params": 1, "macs": 2, "flops": 4})
    for msg in (Command.LOAD, Prepared(artifact, artifact.complexity), Loaded(0.5),
                Block([1.0], []), Finished(OrtSettings(graph_optimization_level="all"), None, {}),
                Failed("RuntimeError: x", ["tb"]), Refused("bad")):
        assert pickle.loads(pickle.dumps(msg)) == msg
    assert artifact.row_fields()["onnx_sha256"] == "ab"


# ------------------------------------------------------------------------- one spec per runtime
PLUGIN_CHECK = r"""
import json, subprocess, sys
from click.testing import CliRunner
from resnext_bench.cli import main
from resnext_bench.core.rundir import load_run

out, art = sys.argv[1], sys.argv[2]
r = CliRunner()
bench_help = r.invoke(main, ["bench", "--help"]).output
toml_keys = r.invoke(main, ["sweep", "--help-config"]).output
dry = r.invoke(main, ["tune", "--arch", "wrn10_1", "--runtime", "ort-fake", "--dry-run", "--json",
                      "--artifacts", art])
run = r.invoke(main, ["bench", "--arch", "wrn10_1", "--image-size", "32", "--runtime", "ort-fake",
                      "--fake-spin", "off", "--warmup", "1", "--iters", "2", "--rounds", "1",
                      "--no-parity", "--artifacts", art, "--out", out + "/run", "-q"])
row = [x for x in load_run(out + "/run").rows if x.ok][0]
from resnext_bench.tune.bundle import write_bundle
bundle = write_bundle(out + "/bundle", row, {}, None)
ran = subprocess.run([sys.executable, str(bundle) + "/run.py"], capture_output=True, text=True)
print(json.dumps({"help": "--fake-spin" in bench_help, "toml": "fake_spin (str, default 'on'" in toml_keys,
                  "dry": dry.output, "dry_code": dry.exit_code, "bench_code": run.exit_code,
                  "bench_out": run.output, "settings": row.settings, "key": row.config_key,
                  "entries": row.runtime_info.get("session_options", {}).get("config_entries"),
                  "ran": ran.returncode, "ran_out": ran.stdout + ran.stderr,
                  "cfg": json.loads(open(str(bundle) + "/inference_config.json").read())}))
"""


def test_a_new_runtime_is_one_module_and_one_registry_entry(tmp_path):
    """Issue 45: a runtime from outside the package -- its class in one module
    (tests/support/fake_runtime.py) and its registry entry with an option of its own in another
    (fake_runtime_spec.py, named in $RESNEXT_BENCH_RUNTIMES) -- is in `bench --help`, the sweep
    TOML's keys, `tune --dry-run` with its search option, a measured row keyed by its option,
    and a bundle whose run.py runs it. Nothing else in the package names it."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    support = Path(__file__).parent
    env = dict(os.environ, RESNEXT_BENCH_RUNTIMES="support.fake_runtime_spec",
               PYTHONPATH=os.pathsep.join([str(support), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", PLUGIN_CHECK, str(tmp_path), str(tmp_path / "art")],
                         env=env, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["help"] and got["toml"]
    assert got["dry_code"] == 0, got["dry"]
    dry = json.loads(got["dry"])
    fake = [c["config_key"] for c in dry["candidates"] if "|ort-fake|" in c["config_key"]]
    assert fake and any("fake_spin=off" in k for k in fake), dry["candidates"]
    assert got["bench_code"] == 0, got["bench_out"]
    assert got["settings"] == {"fake_spin": "off"} and "fake_spin=off" in got["key"]
    assert got["entries"] == {"session.intra_op.allow_spinning": "0"}  # the option really ran
    assert got["cfg"]["loader"] == "onnxruntime" and got["cfg"]["runtime"] == "ort-fake"
    assert got["ran"] == 0 and "ort-fake" in got["ran_out"], got["ran_out"]
    # and the package itself names it nowhere
    src = Path(__file__).parents[1] / "src"
    assert not [p for p in src.rglob("*.py") if "ort-fake" in p.read_text()]


def test_the_runtime_specs_agree_with_the_runtime_classes():
    from resnext_bench.config import RUNTIME_SPECS
    from resnext_bench.runtimes.registry import get_runtime_class

    for spec in RUNTIME_SPECS:
        cls = get_runtime_class(spec.name)
        assert cls.name == spec.name
        assert set(cls.devices) == set(spec.devices), spec.name
        assert (cls.input_kind == "onnx") == spec.runs_onnx, spec.name


def test_a_runtime_plugin_that_does_not_load_is_one_line_and_exit_2(tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('half written')\n")
    for name, says in (("no_such_plugin", "ModuleNotFoundError"), ("broken_plugin", "half written")):
        env = dict(os.environ, RESNEXT_BENCH_RUNTIMES=name,
                   PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
        out = subprocess.run([sys.executable, "-m", "resnext_bench", "list"], env=env,
                             capture_output=True, text=True)
        assert out.returncode == 2, out.stderr
        assert out.stderr.count("\n") == 1 and says in out.stderr and "Traceback" not in out.stderr
