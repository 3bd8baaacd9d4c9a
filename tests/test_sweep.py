import json

import pytest

from resnext_bench.bench.plan import Plan, in_shard, parse_shard
from resnext_bench.errors import UsageError
from resnext_bench.fileio import read_jsonl

CONFIG = """
archs = ["wrn10_1", "resnext29_1x4d"]
runtimes = ["torch", "tensorrt"]
batches = [1, 2]
precisions = ["fp32"]
warmup = 0
iters = 2
parity_images = 4
artifacts = "{artifacts}"
"""


@pytest.fixture
def config(tmp_path, artifacts):
    p = tmp_path / "sweep.toml"
    p.write_text(CONFIG.format(artifacts=artifacts))
    return p


def test_shards_cover_every_combo_once():
    plan = Plan(archs=["resnet18", "resnet34", "resnext50_32x4d"], runtimes=["torch", "ort-cpu"],
                batches=[1, 2, 4, 8], precisions=["fp32", "fp16"], device="cpu")
    combos = plan.combos()
    slices = [[c.key for c in combos if in_shard(c, (i, 3))] for i in (1, 2, 3)]
    flat = [k for s in slices for k in s]
    assert sorted(flat) == sorted(c.key for c in combos) and len(set(flat)) == len(flat)
    assert all(slices)  # no empty shard for 32 combos
    assert parse_shard("2/3") == (2, 3)
    for bad in ("0/3", "4/3", "x", "1/0"):
        with pytest.raises(UsageError):
            parse_shard(bad)


def test_sweep_resume_after_interruption(cli, config, tmp_path):
    out = tmp_path / "run"
    res = cli("sweep", config, "--out", out, "-q")
    assert res.exit_code == 0, res.output
    rows = read_jsonl(out / "results.jsonl")
    assert len(rows) == 8
    skipped = [r for r in rows if r["runtime"] == "tensorrt"]
    assert all(r["status"] == "skipped" and "tensorrt" in r["error"] for r in skipped)
    ok_keys = [r["config_key"] for r in rows if r["status"] == "ok"]
    # simulate a sweep killed during its 3rd row: two whole lines and a torn third
    lines = (out / "results.jsonl").read_text().splitlines(keepends=True)
    (out / "results.jsonl").write_text("".join(lines[:2]) + lines[2][:40])
    assert cli("sweep", config, "--out", out, "-q").exit_code == 2  # refuses to mix without --resume
    res = cli("sweep", config, "--out", out, "--resume", "-q")
    assert res.exit_code == 0, res.output
    after = read_jsonl(out / "results.jsonl")
    done = [r["config_key"] for r in after if r["status"] == "ok"]
    assert sorted(done) == sorted(ok_keys) and len(done) == len(set(done))  # each exactly once


def test_sharded_sweeps_merge(cli, config, tmp_path):
    dirs = []
    for i in (1, 2):
        d = tmp_path / f"s{i}"
        assert cli("sweep", config, "--out", d, "--shard", f"{i}/2", "-q").exit_code == 0
        dirs.append(d)
    n = [len(read_jsonl(d / "results.jsonl")) for d in dirs]
    assert sum(n) == 8
    res = cli("merge", *dirs, "--out", tmp_path / "merged")
    assert res.exit_code == 0, res.output
    merged = read_jsonl(tmp_path / "merged" / "results.jsonl")
    assert len({r["config_key"] for r in merged}) == 8
    env = json.loads((tmp_path / "merged" / "env.json").read_text())
    assert len(env["merged_from"]) == 2
    assert cli("report", tmp_path / "merged").exit_code == 0


@pytest.mark.parametrize("text,msg", [
    ("archs = ['resnet18']", "runtimes"),
    ("archs = ['resnet18']\nruntimes = ['torch']\nbogus = 1", "unknown keys"),
    ("archs = ['resnet999']\nruntimes = ['torch']", "bad arch"),
    ("archs = ['resnet18']\nruntimes = ['warp-drive']", "unknown runtime"),
    ("archs = [", "invalid TOML"),
])
def test_bad_configs_exit_2(cli, tmp_path, text, msg):
    p = tmp_path / "c.toml"
    p.write_text(text)
    res = cli("sweep", p, "--out", tmp_path / "r")
    assert res.exit_code == 2 and msg in res.output and "Traceback" not in res.output


def test_shipped_configs_parse():
    from pathlib import Path

    from resnext_bench.bench.sweep import load_config, plan_from_config

    root = Path(__file__).resolve().parents[1] / "configs"
    names = sorted(p.name for p in root.glob("*.toml"))
    assert names == ["ci_cpu.toml", "deploy_gpu.toml", "paper_table2.toml"]
    for p in root.glob("*.toml"):
        cfg = load_config(p)
        if cfg.get("device") == "cuda":
            cfg["device"] = "auto"  # combos still enumerate on a CPU machine
        plan, _ = plan_from_config(cfg)
        assert plan.combos()
    paper = load_config(root / "paper_table2.toml")
    assert {"resnet50", "resnext50_2x40d", "resnext50_4x24d", "resnext50_8x14d",
            "resnext50_32x4d"} <= set(paper["archs"])
