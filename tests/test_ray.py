"""Sweeps as Ray tasks on a local Ray instance (skipped without the [ray] extra)."""

import json
import os
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from resnext_bench.bench.api import run_sweep  # noqa: E402
from resnext_bench.core.fileio import read_jsonl  # noqa: E402

TESTS = Path(__file__).resolve().parent
CONFIG = """
archs = ["wrn10_1", "resnext29_1x2d"]
runtimes = ["ort-cpu"]
batches = [1]
warmup = 0
iters = 2
rounds = 2
parity_images = 4
artifacts = "{artifacts}"
"""


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module; its workers import the tests' fault-injection module."""
    from resnext_bench.bench.ray_executor import HOST_RESOURCE

    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), old) if p)
    os.environ.setdefault("RAY_worker_niceness", "0")  # as run_ray's own local Ray
    ray.init(num_cpus=2, resources={HOST_RESOURCE: 1}, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old


@pytest.fixture
def config(tmp_path, artifacts):
    p = tmp_path / "sweep.toml"
    p.write_text(CONFIG.format(artifacts=artifacts))
    return p


def test_ray_sweep_matches_the_local_one(local_ray, config, tmp_path):
    rows, path = run_sweep(config, tmp_path / "ray", executor="ray")
    local, _ = run_sweep(config, tmp_path / "local")
    assert sorted(r.config_key for r in rows) == sorted(r.config_key for r in local)
    assert all(r.ok and r.parity_passed for r in rows)
    on_disk, skipped = read_jsonl(path)  # one writer: every row once, whole
    assert not skipped and len(on_disk) == len(rows) == 2
    assert len({d["config_key"] for d in on_disk}) == 2
    assert all(d["node"] and d["device_model"] for d in on_disk)
    assert {d["onnx_sha256"] for d in on_disk if d["runtime"] == "ort-cpu"} == \
        {r.onnx_sha256 for r in local if r.runtime == "ort-cpu"}  # the same files
    env = json.loads((tmp_path / "ray" / "env.json").read_text())
    assert env["executor"]["name"] == "ray" and env["executor"]["nodes"]
    node_env = json.dumps(env)  # each node's environment says the niceness its groups ran at
    assert '"measured_at": 0' in node_env, node_env[:2000]


def test_a_failing_task_fails_its_group_and_resume_reruns_it(local_ray, config, tmp_path):
    import worker_faults

    out = tmp_path / "run"
    rows, _ = run_sweep(config, out, executor="ray", group_fn=worker_faults.ray_group_raises_for_wrn)
    by = {r.arch: r for r in rows}
    assert by["wrn10_1"].status == "failed" and "simulated task failure" in by["wrn10_1"].error
    assert by["resnext29_1x2d"].ok
    # --resume runs only what is missing or failed
    again, _ = run_sweep(config, out, executor="ray", resume=True)
    assert [r.arch for r in again] == ["wrn10_1"] and again[0].ok
    on_disk, _ = read_jsonl(out / "results.jsonl")
    assert sorted(d["config_key"] for d in on_disk if d["status"] == "ok") == \
        sorted({d["config_key"] for d in on_disk})


def test_ray_missing_is_exit_2(cli, config, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)
    res = cli("sweep", config, "--out", tmp_path / "r", "--executor", "ray")
    assert res.exit_code == 2 and "pip install 'resnext-bench[ray]'" in res.stderr

