"""Reports, compare and recommend on fixed result files written by the tests themselves."""

import json

import numpy as np
import pandas as pd
import pytest

from resnext_bench.core.fileio import write_json_atomic
from resnext_bench.core.schema import config_key, row_from_json
from resnext_bench.core.verdict import ratio_ci
from resnext_bench.reports.compare import compare_rows
from resnext_bench.reports.recommend import recommend
from support.rows import ARCHS, make_rows, typed, write_run


@pytest.fixture
def run(tmp_path):
    return write_run(tmp_path / "base", make_rows())


def test_markdown_report(cli, run):
    res = cli("report", run, "--format", "md")
    assert res.exit_code == 0, res.output
    assert "| arch | C | d |" in res.output and "resnext50_32x4d" in res.output
    assert "Test CPU" in res.output and "abc123" in res.output
    assert "tensorrt is not installed" in res.output  # skipped rows say why


def test_html_report_self_contained(cli, run, tmp_path):
    out = tmp_path / "r.html"
    assert cli("report", run, "--format", "html", "--out", out).exit_code == 0
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>")
    # latency distribution, published error vs latency, batch, GMACs, cardinality, Pareto charts
    assert text.count("data:image/png;base64,") == 6
    assert "http://" not in text and "https://" not in text and "<script" not in text


def test_report_sections(cli, tmp_path):
    """The sections engineers read: a short headline first with the rest collapsed (CI job
    summary), forms study, the paper's numbers with sources, environment with ISA flags, the
    reference rows named, natural arch order, not-measured grouped by runtime, no CUDA line on a
    CPU-only machine."""
    rows = make_rows()
    for r in [r for r in rows if r["arch"] == "resnext50_32x4d" and r.get("status") == "ok"]:
        for form, factor in (("a", 1.8), ("b", 1.3)):
            extra = dict(r, form=form, samples_ms=[v * factor for v in r["samples_ms"]],
                         latency_p50_ms=r["latency_p50_ms"] * factor, round_spread=0.02)
            extra["config_key"] = config_key(extra)
            rows.append(extra)
    for arch in ("resnet50", "resnext50_32x4d"):
        rows.append(dict(arch=arch, form="c", runtime="ort-cuda", device="cuda", precision="fp16",
                         batch=1, threads=None, image_size=224, status="skipped",
                         error="runtime unavailable: no CUDA GPU",
                         config_key=f"{arch}|c|ort-cuda|cuda|fp16|1||224"))
    path = write_run(tmp_path / "run", rows)
    env = json.loads((path / "env.json").read_text())
    env |= {"cpu_flags": ["avx2", "fma"], "torch_cuda": None, "config": {"warmup": 5, "iters": 60}}
    write_json_atomic(path / "env.json", env)
    md = cli("report", path, "--format", "md").output
    head, _, rest = md.partition("<details>")
    assert "| arch | batch | fastest | p50 ms |" in head and "resnext50_32x4d" in head
    assert "| arch | C | d |" not in head and "| arch | C | d |" in rest  # full table collapsed
    assert "<summary>All measured rows (20)</summary>" in md
    assert head.index("| resnet50 |") < head.index("| resnext50_2x40d |") < head.index("| resnext50_32x4d |")
    # forms study: a/c and b/c ratios per runtime
    forms = md.split("<summary>Block forms study")[1].split("</details>")[0]
    assert "| resnext50_32x4d | ort-cpu | cpu | fp32 | 1 |" in forms and "1.80x" in forms and "1.30x" in forms
    # the paper, cited per number, and what it has that this run lacks
    paper = md.split("<summary>The paper beside the measurements")[1].split("</details>")[0]
    assert "22.2 % ImageNet-1K (arXiv 1611.05431 Table 3)" in paper
    assert "23.0 % ImageNet-1K (arXiv 1611.05431 Table 3)" in paper  # resnext50_2x40d
    assert "25.0 M / 4.2 G (arXiv 1611.05431 Table 1)" in paper and "torchvision" in paper
    assert "`resnext101_64x4d` 20.4 % (arXiv 1611.05431 Table 4)" in paper
    assert "`resnext29_16x64d` 3.58 % (arXiv 1611.05431 Table 7)" in paper
    # environment: ISA families present and absent, no CUDA on a CPU-only machine
    envsec = md.split("<summary>Environment")[1]
    assert "AVX2 yes, FMA yes, AVX-512 no, VNNI no" in envsec and "AMX no" in envsec
    assert "CUDA" not in md.replace("no CUDA GPU", "") and "warm-up 5 calls" in envsec
    # torch fp32 on the CPU is the reference, not "pass 0.00e+00"
    assert "| reference | ok |" in md
    # not measured: one line per (runtime, reason), with the count
    nm = md.split("<summary>Not measured (3 configurations)</summary>")[1]
    assert nm.count("no CUDA GPU") == 1 and "| ort-cuda | skipped | 2 | resnet50, resnext50_32x4d |" in nm
    html_text = cli("report", path, "--format", "html").output
    for title in ("Fastest per arch", "Results", "Latency distribution", "Block forms study",
                  "The paper beside the measurements", "Published error vs measured latency",
                  "Environment", "Not measured"):
        assert f">{title}" in html_text, title


def test_published_numbers_carry_their_sources():
    from resnext_bench.core.paper import PUBLISHED, TORCHVISION_COST, published_for
    from resnext_bench.models.spec import parse_arch

    expected = {"resnet50": 23.9, "resnext50_32x4d": 22.2, "resnet101": 22.0, "resnext101_32x4d": 21.2,
                "resnext101_64x4d": 20.4, "resnext101_1x100d": 21.3, "resnext50_2x40d": 23.0,
                "resnext50_4x24d": 22.6, "resnext50_8x14d": 22.3, "wrn28_10": 4.17,
                "resnext29_8x64d": 3.65, "resnext29_16x64d": 3.58}
    for arch, err in expected.items():
        assert published_for(arch).top1_error == err, arch
    assert next(p for p in PUBLISHED if p.label.startswith("ResNet-200")).top1_error == 21.7
    for p in PUBLISHED:
        assert p.error_source and p.error_source.startswith("arXiv 1611.05431 Table ")
        assert (p.params_m is None) == (p.cost_source is None)
        if p.arch:
            assert parse_arch(p.arch).name == p.arch  # every name is this tool's own
    assert published_for("resnext29_8x64d").params_m == 34.4 and published_for("wrn28_10").params_m == 36.5
    assert TORCHVISION_COST["resnext50_32x4d"] == (25_028_904, 4.23)
    assert published_for("resnet18") is None


def test_csv_report(cli, run, tmp_path):
    out = tmp_path / "r.csv"
    assert cli("report", run, "--format", "csv", "--out", out).exit_code == 0
    df = pd.read_csv(out)
    assert len(df) == 13 and {"arch", "latency_p50_ms", "parity_passed", "status"} <= set(df.columns)
    assert json.loads(df.loc[0, "samples_ms"])  # raw samples kept as JSON


def test_report_bad_dir(cli, tmp_path):
    res = cli("report", tmp_path)
    assert res.exit_code == 2 and "not a run dir" in res.output


def test_bootstrap_ratio():
    rng = np.random.default_rng(1)
    a = rng.lognormal(0, 0.05, 100)
    r, lo, hi = ratio_ci(a, a * 1.5)
    assert r == pytest.approx(1.5) and lo > 1.4 and hi < 1.6


def test_compare_same_and_noise_not_flagged(cli, run, tmp_path):
    assert cli("compare", run, run).exit_code == 0
    noisy = write_run(tmp_path / "noisy", make_rows(seed=7))  # same distribution, new draws
    res = cli("compare", run, noisy, "--format", "json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["regressions"] == 0


def test_compare_flags_genuine_slowdown(cli, run, tmp_path):
    slow = write_run(tmp_path / "slow", make_rows(scale={("resnext50_32x4d", "ort-cpu", 1): 1.5}, seed=3))
    res = cli("compare", run, slow, "--format", "md")
    assert res.exit_code == 1
    line = next(l for l in res.output.splitlines() if "resnext50_32x4d|c|ort-cpu|cpu|fp32|1" in l.replace("\\", ""))
    assert "REGRESSION" in line and "1.5" in line and "slower" in line
    # a small (3%) genuine shift stays under the 5% threshold
    mild = write_run(tmp_path / "mild", make_rows(scale={("resnet50", "torch", 8): 1.03}, seed=4))
    assert cli("compare", run, mild).exit_code == 0


def test_compare_parity_break_missing_and_model_change():
    base = make_rows()
    new = make_rows(seed=2)
    new[0]["parity_passed"] = False
    new[0]["parity_max_rel_err"] = 0.2
    new[1]["params"] += 1000
    del new[2]
    comps = {c.key: c for c in compare_rows(typed(base), typed(new))}
    assert comps[base[0]["config_key"]].verdict == "parity_break"
    assert comps[base[1]["config_key"]].verdict == "model_changed"
    assert comps[base[2]["config_key"]].verdict == "missing"
    assert sum(c.is_regression for c in comps.values()) == 2  # parity break, missing row
    allowed = {c.key: c for c in compare_rows(typed(base), typed(new), allow_missing=True)}
    assert not allowed[base[2]["config_key"]].is_regression
    assert allowed[base[2]["config_key"]].verdict == "missing_allowed"  # said, not "unchanged"


def test_compare_drift_in_both_runs_is_not_a_regression(cli, tmp_path):
    """Each run drifted 25% between its rounds and the second run sits 12% higher: beyond the
    5% threshold but inside the runs' own noise -- the old within-run bootstrap flagged this."""
    base = write_run(tmp_path / "b", make_rows(seed=1, drift=[1.0, 1.1, 1.25, 1.05, 1.0]))
    new = write_run(tmp_path / "n", make_rows(seed=2, drift=[1.12, 1.25, 1.4, 1.15, 1.12]))
    res = cli("compare", base, new, "--format", "json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)["rows"]
    assert all(r["verdict"] in ("unchanged", "new") for r in rows if r["ratio"])
    assert any("within the runs'" in " ".join(r["notes"]) for r in rows)
    # the same 12% shift on quiet runs is a regression
    quiet = write_run(tmp_path / "q", make_rows(seed=3, scale={k: 1.12 for k in
                                                                _keys()}))
    res = cli("compare", write_run(tmp_path / "q0", make_rows(seed=4)), quiet)
    assert res.exit_code == 1


def _keys():
    return [(a, rt, b) for a in ARCHS for rt in ("torch", "ort-cpu") for b in (1, 8)]


def test_busy_host_rows_are_inconclusive_and_reported(cli, tmp_path):
    """Rows timed while other processes held CPUs their pool needed: compare does not call a
    change on them, the report's environment and headline say so."""
    base, slow = make_rows(seed=1), make_rows(seed=2, scale={k: 1.5 for k in _keys()})
    for rows in (base, slow):
        for r in rows:
            if r["status"] == "ok":
                r |= {"host_load_cores": 0.05, "host_load_round_cores": [0.05] * 5, "host_cpus": 2}
    busy_key = next(r["config_key"] for r in slow if r["runtime"] == "ort-cpu")
    for r in slow:
        if r["config_key"] == busy_key:
            r |= {"host_load_cores": 0.9, "host_load_round_cores": [0.9] * 5}
    comps = {c.key: c for c in compare_rows(typed(base), typed(slow))}
    assert comps[busy_key].verdict == "inconclusive" and "new: busy host" in comps[busy_key].notes[-1]
    assert sum(c.verdict == "regression" for c in comps.values()) == len(_keys()) - 1
    md = cli("report", write_run(tmp_path / "busy", slow), "--format", "md").output
    assert "1 row(s) were timed on a busy host" in md
    assert "| host load | other processes held 0.05-0.90 CPUs (median 0.05) of 2" in md
    quiet = cli("report", write_run(tmp_path / "quiet", base), "--format", "md").output
    assert "busy host" not in quiet and "| host load |" in quiet
    old = cli("report", write_run(tmp_path / "old", make_rows()), "--format", "md").output
    assert "host load" not in old  # rows from before the probe: nothing claimed


def test_compare_too_few_rounds_is_inconclusive():
    base = typed(make_rows(seed=1, rounds=1))
    slow = typed(make_rows(seed=2, rounds=1, scale={k: 1.5 for k in _keys()}))
    comps = [c for c in compare_rows(base, slow) if c.ratio]
    assert comps and all(c.verdict == "inconclusive" and not c.is_regression for c in comps)
    assert "no between-round noise estimate" in comps[0].notes[0]


def test_compare_status_regressions_and_later_failures():
    base = make_rows()
    new = make_rows(seed=5)
    later_failure = dict(new[0], status="failed", error="RuntimeError: boom")  # after an ok row
    new[1] = dict(new[1], status="skipped", error="runtime unavailable: x")
    comps = {c.key: c for c in compare_rows(typed(base), typed(new + [later_failure]))}
    assert comps[base[0]["config_key"]].verdict == "failed"
    assert comps[base[1]["config_key"]].verdict == "skipped_now"
    assert all(comps[k].is_regression for k in (base[0]["config_key"], base[1]["config_key"]))


def test_compare_tail_and_throughput_gates():
    base = make_rows(n=1000)
    new = make_rows(n=1000, seed=9)
    key = new[0]["config_key"]
    tail = [v * (4.0 if i % 50 == 0 else 1.0) for i, v in enumerate(new[0]["samples_ms"])]
    new[0] = dict(new[0], samples_ms=tail, latency_p99_ms=float(np.percentile(tail, 99)),
                  latency_mean_ms=float(np.mean(tail)),
                  throughput_ips=new[0]["batch"] / (float(np.mean(tail)) / 1e3))
    plain = {c.key: c for c in compare_rows(typed(base), typed(new))}
    assert not plain[key].is_regression  # the median did not move: the tail is invisible to it
    gated = {c.key: c for c in compare_rows(typed(base), typed(new), p99_threshold=0.5)}
    assert gated[key].verdict == "p99_regression"
    thr = {c.key: c for c in compare_rows(typed(base), typed(new), throughput_threshold=0.03)}
    assert thr[key].verdict == "throughput_regression"
    short = {c.key: c for c in compare_rows(typed(make_rows()), typed(make_rows(seed=1)), p99_threshold=0.1)}
    assert any("p99 not gated" in n for c in short.values() for n in c.notes)


def test_compare_warns_when_environments_differ(cli, tmp_path):
    base = write_run(tmp_path / "b", make_rows())
    new = write_run(tmp_path / "n", make_rows(seed=1))
    env = json.loads((new / "env.json").read_text())
    env["cpu"] = "Other CPU"
    write_json_atomic(new / "env.json", env)
    for fmt in ("text", "md"):
        res = cli("compare", base, new, "--format", fmt)
        assert "environments differ" in res.output and "cpu: Test CPU -> Other CPU" in res.output
    md = cli("compare", base, new, "--format", "md", "--hide-unchanged").output
    assert "geometric mean of ratios" in md and "<details>" not in md


def test_recommend_constraints():
    rows = typed(make_rows())
    res = recommend(rows, objective="latency", arch="resnet50")
    w = res["winner"]
    assert w["runtime"] == "ort-cpu" and w["batch"] == 1 and w["arch"] == "resnet50"
    assert w["artifact"]["path"] == "/a/resnet50.onnx" and w["artifact"]["exists"] is False
    thr = recommend(rows, objective="throughput", batch=8, arch="resnet50")
    assert thr["winner"]["batch"] == 8
    front = res["recommendations"][0]["pareto_front"]
    assert front and all(f["latency_p50_ms"] <= g["latency_p50_ms"] for f, g in zip(front, front[1:]))
    # every arch gets its own recommendation: a different network is not a setting
    per_arch = recommend(rows)
    assert sorted(r["arch"] for r in per_arch["recommendations"]) == sorted(ARCHS)
    assert all(r["winner"]["arch"] == r["arch"] for r in per_arch["recommendations"])


def test_recommend_skips_parity_failures():
    rows = make_rows()
    fastest = min((r for r in rows if r["status"] == "ok" and r["arch"] == "resnet50"),
                  key=lambda r: r["latency_p50_ms"])
    fastest["parity_passed"] = False
    res = recommend(typed(rows), arch="resnet50")
    w = res["winner"]
    assert (w["batch"], w["runtime"]) != (fastest["batch"], fastest["runtime"])
    assert res["recommendations"][0]["excluded"]["parity not passed"] == 1


def test_recommend_nothing_fits(cli, run):
    res = cli("recommend", run, "--max-latency-ms", "0.001", "--device", "cpu")
    assert res.exit_code == 1
    assert "no configuration meets" in res.output and "latency > 0.001 ms" in res.output
    res = cli("recommend", run, "--arch", "resnet50", "--json")
    assert res.exit_code == 0 and json.loads(res.output)["winner"]["runtime"] == "ort-cpu"


@pytest.mark.parametrize("args,msg", [
    (["--max-latency-ms", "-3"], "--max-latency-ms -3.0: must be > 0"),
    (["--batch", "0"], "--batch 0: must be >= 1"),
    (["--min-throughput", "-1"], "--min-throughput -1.0: must be >= 0"),
])
def test_recommend_bad_constraints_exit_2(cli, run, args, msg):
    """A constraint no row could meet is an input error (2), not "nothing fits" (1)."""
    res = cli("recommend", run, *args)
    assert res.exit_code == 2 and msg in res.stderr, res.output


def test_committed_runs_load_and_render(cli, tmp_path):
    """Runs recorded by resnext-bench 0.1.0 (schema v1, no schema_version) still load, are
    upgraded (threads_effective 'ort-default' -> None) and render in every format."""
    from pathlib import Path

    from resnext_bench.core.rundir import load_run

    root = Path(__file__).resolve().parents[1] / "reports" / "cpu"
    runs = sorted(p for p in root.iterdir() if (p / "results.jsonl").is_file())
    assert runs
    for d in runs:
        run = load_run(d)
        assert not run.skipped and all(r.schema_version == 3 and isinstance(r.settings, dict)
                                       for r in run.rows)
        ort = [r for r in run.rows if r.runtime == "ort-cpu" and r.ok]
        assert ort and all(isinstance(r.runtime_info.get("threads_effective"), (int, type(None)))
                           for r in ort)
        for fmt in ("md", "html", "csv"):
            res = cli("report", d, "--format", fmt, "--out", tmp_path / f"{d.name}.{fmt}")
            assert res.exit_code == 0, res.output
        assert cli("compare", d, d).exit_code == 0
        assert cli("recommend", d).exit_code == 0


def test_schema_round_trip_and_validation():
    from resnext_bench.core.schema import SCHEMA_VERSION, SchemaError

    raw = make_rows()[0]
    row = row_from_json(raw)
    again = row_from_json(row.to_json())
    assert again == row and again.to_json()["config_key"] == raw["config_key"]
    assert row.to_json()["schema_version"] == SCHEMA_VERSION
    newer = dict(row.to_json(), future_field=1)
    assert row_from_json(newer).to_json()["future_field"] == 1  # unknown keys survive
    for bad, msg in [({"batch": "1"}, "batch"), ({"status": "done"}, "status"),
                     ({"parity_passed": "yes"}, "parity_passed"),
                     ({"schema_version": SCHEMA_VERSION + 1}, "newer")]:
        with pytest.raises(SchemaError, match=msg):
            row_from_json(dict(row.to_json(), **bad))
    with pytest.raises(SchemaError, match="missing arch"):
        row_from_json({k: v for k, v in row.to_json().items() if k != "arch"})


def test_invalid_rows_are_skipped_with_a_warning(cli, tmp_path):
    rows = make_rows()
    d = write_run(tmp_path / "mixed", rows)
    with open(d / "results.jsonl", "a") as f:
        f.write('{"arch": "resnet50", "batch": "eight"}\nnot json\n{"arch": "torn')
    res = cli("report", d)
    assert res.exit_code == 0
    warning = res.stderr.strip()
    assert warning.startswith("warning:") and "skipped 3 line(s)" in warning
    assert "line 15: not valid JSON" in warning and len(warning.splitlines()) == 1


def test_rows_of_two_device_models_are_never_ranked_together(cli, tmp_path):
    rows = make_rows()
    for i, r in enumerate(rows):
        r["device_model"] = "NVIDIA H100" if i % 2 else "NVIDIA A10"
    run = write_run(tmp_path / "two", rows)
    res = cli("recommend", run, "--arch", "resnet50", "--json")
    recs = json.loads(res.output)["recommendations"]
    assert sorted(r["device_model"] for r in recs) == ["NVIDIA A10", "NVIDIA H100"]
    mixed = json.loads(cli("recommend", run, "--arch", "resnet50", "--all-devices", "--json").output)
    assert len(mixed["recommendations"]) == 1 and mixed["winner"]
    md = cli("report", run).output
    assert "**Measured on NVIDIA A10**" in md and "**Measured on NVIDIA H100**" in md
    head = md.split("<details>")[0]  # the headline ranks within one device model
    assert "| resnet50 | NVIDIA A10 |" in head and "| resnet50 | NVIDIA H100 |" in head
