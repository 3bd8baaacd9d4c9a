"""Labels and identities that tell the truth: runtime settings in the row key, verdicts that say
when they could not be reached, options that apply to nothing refused (issue: truthful labels)."""

import json

import numpy as np
import pytest

from conftest import run_config
from resnext_bench.bench.plan import combos
from resnext_bench.core.schema import ResultRow, config_key, row_from_json
from resnext_bench.reports.ab import side_differences
from resnext_bench.reports.compare import compare_rows
from support.rows import make_rows, typed, write_run


def test_settings_axis_makes_one_row_per_value_for_the_runtimes_that_read_it():
    cfg = run_config(archs="resnet18", runtimes="ort-cpu,openvino", graph_opt_level="all,disable",
                     ov_hint="throughput", image_sizes=32)
    keys = [c.key for c in combos(cfg, strict=False)]
    assert keys == ["resnet18|c|ort-cpu|cpu|fp32|1||32",
                    "resnet18|c|ort-cpu|cpu|fp32|1||32|graph_opt_level=disable",
                    "resnet18|c|openvino|cpu|fp32|1||32|ov_hint=throughput"]
    pinned = cfg.pinned({"graph_opt_level": "disable"})
    assert pinned.ort.graph_opt_level == "disable" and not pinned.axes
    assert cfg.pinned({}).ort.graph_opt_level == "all"
    # the TOML spelling: a list
    toml = run_config(archs=["resnet18"], runtimes=["torch"], channels_last=[False, True],
                      image_sizes=[32])
    assert [c.settings for c in combos(toml, strict=False)] == [{}, {"channels_last": True}]
    # int8 settings are part of int8 rows' keys only
    q = run_config(archs="resnet18", runtimes="ort-cpu", precisions="fp32,int8",
                   calib_method="entropy", image_sizes=32)
    assert [c.settings for c in combos(q, strict=False)] == [{}, {"calib_method": "entropy"}]


def test_old_rows_upgrade_to_the_defaults_key():
    row = typed(make_rows())[0]
    assert row.schema_version == 3 and row.settings == {}
    assert row.config_key == "resnet50|c|torch|cpu|fp32|1||224"
    data = row.to_json() | {"settings": {"graph_opt_level": "basic"}}
    assert row_from_json(data).config_key == config_key(data) == \
        "resnet50|c|torch|cpu|fp32|1||224|graph_opt_level=basic"


def test_two_settings_in_one_run_dir_are_two_rows(cli, artifacts, tmp_path):
    """The reproduction of the issue: bench twice into one run dir with another graph level."""
    out = tmp_path / "levels"
    common = ["--arch", "resnet18", "--image-size", 32, "--runtime", "ort-cpu", "--iters", 6,
              "--rounds", 2, "--warmup", 1, "--parity-images", 2, "--artifacts", artifacts,
              "-q", "--out", out]
    for level in ("all", "disable"):
        res = cli("bench", *common, "--graph-opt-level", level)
        assert res.exit_code == 0, res.output
    report = cli("report", out, "--format", "csv")
    assert report.exit_code == 0, report.output
    assert report.output.count("graph_opt_level=disable") >= 1
    rec = cli("recommend", out, "--json")
    data = json.loads(rec.output)
    pick = data["recommendations"][0]
    assert len({r["config_key"] for r in pick["ranking"]}) == 2
    winner = pick["winner"]
    level = "ORT_DISABLE_ALL" if winner["settings"] == {"graph_opt_level": "disable"} else "ORT_ENABLE_ALL"
    assert level in winner["runtime_code"], winner


def _rows_with(settings, scale=1.0, rounds=5, seed=0):
    rows = []
    for r in make_rows(seed=seed, rounds=rounds):
        if r.get("runtime") == "ort-cpu" and r["status"] == "ok":
            r = dict(r, settings=settings, samples_ms=[v * scale for v in r["samples_ms"]],
                     round_medians_ms=[v * scale for v in r["round_medians_ms"]])
            r["config_key"] = config_key(r)
            rows.append(r)
    return rows


def test_compare_names_a_settings_change_instead_of_calling_it_a_regression():
    base = typed(_rows_with({}, seed=1))
    new = typed(_rows_with({"graph_opt_level": "disable"}, scale=1.6, seed=2))
    comps = compare_rows(base, new)
    assert comps and all(c.verdict == "settings_changed" and not c.is_regression for c in comps)
    assert "graph_opt_level all (default) -> disable" in comps[0].notes[0]
    assert comps[0].ratio == pytest.approx(1.6, rel=0.1)


def test_fail_on_inconclusive_exits_3_and_says_why_first(cli, tmp_path):
    keys = [(a, rt, b) for a, rt, b in [(r["arch"], r["runtime"], r["batch"])
                                         for r in make_rows() if r["status"] == "ok"]]
    base = write_run(tmp_path / "b", make_rows(seed=1, rounds=1))
    new = write_run(tmp_path / "n", make_rows(seed=2, rounds=1, scale={k: 1.5 for k in keys}))
    plain = cli("compare", base, new)
    assert plain.exit_code == 0 and "0 regression(s), 12 inconclusive" in plain.output
    gated = cli("compare", base, new, "--fail-on-inconclusive", "--format", "md")
    assert gated.exit_code == 3, gated.output
    assert gated.output.startswith("**VERDICT NOT REACHED for 12 of 13 configs")
    assert "no between-round noise estimate" in gated.output.splitlines()[0]


def test_ab_names_what_differs_between_the_sides():
    base = typed(make_rows())[1]
    new = ResultRow(**{**base.__dict__, "image_size": 320, "settings": {"graph_opt_level": "basic"}})
    notes = side_differences(base, new)
    assert "the sides differ in image size: 224 vs 320" in notes
    assert any("graph_opt_level all (default) -> basic" in n for n in notes)
    assert not any("params" in n for n in notes)


@pytest.mark.parametrize("args,msg", [
    (["--runtime", "ort-cpu", "--cuda-graph"], "error: --cuda-graph does not apply to ort-cpu"),
    (["--runtime", "openvino", "--graph-opt-level", "basic"],
     "error: --graph-opt-level does not apply to openvino"),
    (["--runtime", "ort-cpu", "--calib-method", "entropy"],
     "error: --calib-method applies to int8 rows only"),
    (["--runtime", "torch", "--compile-mode", "max-autotune"],
     "error: --compile-mode does not apply to torch"),
])
def test_an_option_no_named_runtime_reads_is_refused(cli, args, msg, tmp_path):
    res = cli("bench", "--arch", "resnet18", "--image-size", 32, *args, "--dry-run",
              "--out", tmp_path / "r")
    assert res.exit_code == 2 and res.stderr.startswith(msg), res.output
    assert len(res.stderr.strip().splitlines()) == 1


def test_a_multi_runtime_run_notes_a_moot_option_and_dry_run_lists_the_plan(cli, tmp_path):
    res = cli("bench", "--arch", "resnet18", "--image-size", 32, "--runtime", "ort-cpu,openvino",
              "--batch", "1,2", "--threads", 64, "--graph-opt-level", "all,basic", "--dry-run",
              "--artifacts", tmp_path / "a")
    assert res.exit_code == 0, res.output
    assert "oversubscribe" in res.output  # --threads 64 on this machine's CPUs
    assert "6 configuration(s)" in res.output
    assert "resnet18|c|ort-cpu|cpu|fp32|2|64|32|graph_opt_level=basic" in res.output
    assert "never measured" in res.output and not (tmp_path / "r").exists()
    moot = cli("bench", "--arch", "resnet18", "--image-size", 32, "--runtime", "all",
               "--cuda-graph", "--dry-run", "--artifacts", tmp_path / "a")
    if moot.exit_code == 0:  # no CUDA runtime here: nothing reads it, said in one note
        assert "note: --cuda-graph does not apply to" in moot.output


def test_sweep_toml_with_the_help_config_sections(cli, tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text('[plan]\narchs = ["resnet18"]\nruntimes = ["ort-cpu"]\nimage_sizes = [32]\n'
                    '[timing]\nrounds = 2\n[ort]\ngraph_opt_level = ["all", "disable"]\n')
    res = cli("sweep", toml, "--out", tmp_path / "r", "--dry-run")
    assert res.exit_code == 0, res.output
    assert "2 configuration(s), 2 interleaved round(s)" in res.output
    bad = tmp_path / "b.toml"
    bad.write_text('[timing]\narchs = ["resnet18"]\nruntimes = ["ort-cpu"]\n')
    res = cli("sweep", bad, "--out", tmp_path / "r2")
    assert res.exit_code == 2 and "[timing] archs: that key belongs to [plan]" in res.stderr


def test_onnx_of_another_image_size_is_a_usage_error(cli, artifacts, tmp_path):
    from resnext_bench.exporters.onnx_export import ExportConfig, export_onnx

    path = export_onnx(ExportConfig("wrn10_1"), artifacts).path
    res = cli("bench", "--onnx", path, "--runtime", "ort-cpu", "--image-size", 64, "--dry-run")
    assert res.exit_code == 2 and "takes 32x32 inputs only" in res.stderr, res.output
    res = cli("bench", "--onnx", path, "--runtime", "torch", "--dry-run")
    assert res.exit_code == 2 and "--onnx: torch run(s) the PyTorch module" in res.stderr


def test_report_labels_carry_threads_and_speedups_compare_like_with_like(cli, tmp_path):
    """Two thread counts are two labels (tables, series) and the headline's speed-up divides
    rows of the same threads; a single-round row shows no spread, a busy-host row is marked."""
    from resnext_bench.reports.sections import headline
    from resnext_bench.reports.tables import config_label

    rows = []
    for r in make_rows():
        if r["status"] != "ok" or r["arch"] != "resnet50" or r["batch"] != 1:
            continue
        for threads in (1, 2):
            rows.append(dict(r, threads=threads, config_key=None))
    rows[0] |= {"rounds": 1, "round_spread": 0.0}
    rows[1] |= {"host_load_cores": 1.5, "host_cpus": 2}
    typed_rows = typed([{k: v for k, v in r.items() if k != "config_key"} for r in rows])
    labels = {config_label(r) for r in typed_rows}
    assert {"torch fp32 thr 1", "torch fp32 thr 2", "ort-cpu fp32 thr 1", "ort-cpu fp32 thr 2"} == labels
    sec = headline(typed_rows)
    fastest = sec.body[0][2]
    assert "thr" in fastest
    thr = fastest.split("thr ")[1]
    ort = next(r for r in typed_rows if r.runtime == "ort-cpu" and str(r.threads) == thr)
    ref = next(r for r in typed_rows if r.runtime == "torch" and str(r.threads) == thr)
    assert sec.body[0][5] == f"{ref.latency_p50_ms / ort.latency_p50_ms:.2f}x"
    md = cli("report", write_run(tmp_path / "t", rows), "--format", "md").output
    assert "one round, so no between-round noise estimate" in md and "‡" in md
    failed = [dict(r) for r in rows]
    failed[2] |= {"parity_passed": False, "parity_failed": ["cosine 0.9 < 0.99 (short by 0.09)"]}
    md = cli("report", write_run(tmp_path / "f", failed), "--format", "md").output
    assert "Parity FAIL (resnet50 " in md and "cosine 0.9 < 0.99 (short by 0.09)" in md
