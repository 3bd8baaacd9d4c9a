import json

import pytest

from conftest import run_config
from resnext_bench.bench.plan import combos, in_shard, parse_shard
from resnext_bench.core.errors import UsageError
from resnext_bench.core.fileio import read_jsonl

CONFIG = """
archs = ["wrn10_1"]
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
    config = run_config(archs="resnet18,resnet34,resnext50_32x4d", runtimes="torch,ort-cpu",
                        batches="1,2,4,8", precisions="fp32,fp16", device="cpu")
    todo = combos(config, strict=False)
    slices = [[c.key for c in todo if in_shard(c, (i, 3))] for i in (1, 2, 3)]
    flat = [k for s in slices for k in s]
    assert sorted(flat) == sorted(c.key for c in todo) and len(set(flat)) == len(flat)
    assert all(slices)  # no empty shard for 32 combos
    assert parse_shard("2/3") == (2, 3)
    for bad in ("0/3", "4/3", "x", "1/0"):
        with pytest.raises(UsageError):
            parse_shard(bad)


def test_sweep_resume_after_interruption(cli, config, tmp_path):
    out = tmp_path / "run"
    res = cli("sweep", config, "--out", out, "-q")
    assert res.exit_code == 0, res.output
    rows, _ = read_jsonl(out / "results.jsonl")
    assert len(rows) == 4
    skipped = [r for r in rows if r["runtime"] == "tensorrt"]
    assert all(r["status"] == "skipped" and "tensorrt" in r["error"] for r in skipped)
    ok_keys = [r["config_key"] for r in rows if r["status"] == "ok"]
    # simulate a sweep killed during its 3rd row: two whole lines and a torn third
    lines = (out / "results.jsonl").read_text().splitlines(keepends=True)
    (out / "results.jsonl").write_text("".join(lines[:2]) + lines[2][:40])
    assert cli("sweep", config, "--out", out, "-q").exit_code == 2  # refuses to mix without --resume
    res = cli("report", out)  # the torn line is named, not silently dropped
    assert res.exit_code == 0 and "skipped 1 line(s): line 3: torn last line" in res.stderr
    res = cli("sweep", config, "--out", out, "--resume", "-q")
    assert res.exit_code == 0, res.output
    after, _ = read_jsonl(out / "results.jsonl")
    done = [r["config_key"] for r in after if r["status"] == "ok"]
    assert sorted(done) == sorted(ok_keys) and len(done) == len(set(done))  # each exactly once


def test_sharded_sweeps_merge(cli, config, tmp_path):
    dirs = []
    for i in (1, 2):
        d = tmp_path / f"s{i}"
        assert cli("sweep", config, "--out", d, "--shard", f"{i}/2", "-q").exit_code == 0
        dirs.append(d)
    n = [len(read_jsonl(d / "results.jsonl")[0]) for d in dirs]
    assert sum(n) == 4
    res = cli("merge", *dirs, "--out", tmp_path / "merged")
    assert res.exit_code == 0, res.output
    merged, _ = read_jsonl(tmp_path / "merged" / "results.jsonl")
    assert len({r["config_key"] for r in merged}) == 4
    env = json.loads((tmp_path / "merged" / "env.json").read_text())
    assert len(env["merged_from"]) == 2
    assert cli("report", tmp_path / "merged").exit_code == 0


@pytest.mark.parametrize("text,msg", [
    ("archs = ['resnet18']", "runtimes"),
    ("archs = ['resnet18']\nruntimes = ['torch']\nbogus = 1", "unknown key(s) bogus"),
    ("archs = ['resnet999']\nruntimes = ['torch']", "archs = 'resnet999': bad arch"),
    ("archs = ['resnet18']\nruntimes = ['warp-drive']", "runtimes = 'warp-drive': must be one of"),
    ("archs = ['resnet18']\nruntimes = ['ort-cpu']\ngraph_opt_level = 'fast'",
     "graph_opt_level = 'fast': must be one of disable, basic, extended, all"),
    ("archs = ['resnet18']\nruntimes = ['ort-cuda']\ncudnn_algo = 'FASTEST'",
     "cudnn_algo = 'FASTEST': must be one of EXHAUSTIVE, HEURISTIC, DEFAULT"),
    ("archs = ['resnet18']\nruntimes = ['torch']\nbatches = [1, 0]", "batches = 0: must be >= 1"),
    ("archs = ['resnet18']\nruntimes = ['torch']\niters = 'many'", "iters = 'many': must be an integer"),
    ("archs = ['resnet18']\nruntimes = ['torch']\nparity = 'yes'", "parity = 'yes': must be true or false"),
    ("archs = ['resnet18']\nruntimes = ['torch']\nimage_sizes = [8]", "too small"),
    ("archs = [", "invalid TOML"),
])
def test_bad_configs_exit_2(cli, tmp_path, text, msg):
    """Every bad value is caught when the file loads, before any work: one line naming the
    file, the key and the value, exit 2, and no run dir written."""
    p = tmp_path / "c.toml"
    p.write_text(text)
    res = cli("sweep", p, "--out", tmp_path / "r")
    assert res.exit_code == 2 and msg in res.stderr, res.output
    assert res.stderr.startswith("error: ") and len(res.stderr.strip().splitlines()) == 1
    assert isinstance(res.exception, SystemExit)  # handled, not an escaped exception
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("flag,value,msg", [
    ("--graph-opt-level", "fast", "--graph-opt-level 'fast': must be one of disable, basic"),
    ("--cudnn-algo", "FASTEST", "--cudnn-algo 'FASTEST': must be one of"),
    ("--builder-opt-level", "9", "--builder-opt-level 9: must be <= 5"),
    ("--iters", "0", "--iters 0: must be >= 1"),
    ("--min-top1", "2", "--min-top1 2.0: must be <= 1.0"),
])
def test_cli_and_toml_share_checks(cli, tmp_path, flag, value, msg):
    """The same setting is checked by the same code from the CLI (message names the flag)."""
    res = cli("bench", "--arch", "resnet18", "--runtime", "ort-cpu", flag, value, "--out", tmp_path / "r")
    assert res.exit_code == 2 and msg in res.stderr, res.output
    assert not (tmp_path / "r").exists()


def test_help_config_lists_every_setting(cli):
    from resnext_bench.config import describe_settings

    res = cli("sweep", "--help-config")
    assert res.exit_code == 0
    for s in describe_settings():
        assert f"  {s['key']} (" in res.output and s["flag"] in res.output


def test_shipped_configs_parse():
    from pathlib import Path

    from resnext_bench.bench.sweep import load_sweep_config

    root = Path(__file__).resolve().parents[1] / "configs"
    names = sorted(p.name for p in root.glob("*.toml"))
    assert names == ["ci_cpu.toml", "deploy_gpu.toml", "forms_study.toml", "paper_table2.toml"]
    for p in root.glob("*.toml"):
        assert combos(load_sweep_config(p), strict=False)
    paper = load_sweep_config(root / "paper_table2.toml")
    assert {"resnet50", "resnext50_2x40d", "resnext50_4x24d", "resnext50_8x14d",
            "resnext50_32x4d"} <= set(paper.plan.archs)
    assert load_sweep_config(root / "forms_study.toml").plan.forms == ("a", "b", "c")


def test_config_replace_keeps_every_setting():
    config = run_config(archs="resnet18", runtimes="ort-cpu", graph_opt_level="basic")
    again = config.replace(artifacts="/tmp/a")
    assert again.export.artifacts == "/tmp/a" and again.ort.graph_opt_level == "basic"
    assert again.plan.threads == () and again.plan == config.plan
