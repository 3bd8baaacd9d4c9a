"""Issue 38: CI gates that still gate on a shared runner, rows that say what ran, and reports
that carry the deployment answer. Each case reproduces what the issue found."""

import json
import os
import shutil
import subprocess

import pytest

from support.rows import make_rows, write_run

from resnext_bench.core.fileio import read_jsonl


# -- the gate under contention -----------------------------------------------------------------
def _judged(ratios, threshold=0.05, busy=("base: busy host",)):
    from resnext_bench.core.verdict import interleaved_verdict

    base = [10.0] * len(ratios)
    return interleaved_verdict(base, [10.0 * q for q in ratios], threshold, busy=busy)


@pytest.mark.parametrize("busy", [("base: busy host",), ()])
def test_the_interval_decides_busy_or_not(busy):
    from resnext_bench.core.verdict import Outcome

    # the 2.10x (CI [1.83, 3.13]) was "inconclusive", exit 0: now a regression
    v = _judged([1.9, 2.1, 2.4, 1.85, 3.0, 2.2, 2.0], busy=busy)
    assert v.verdict is Outcome.REGRESSION and v.ci_low > 1.05
    v = _judged([0.97, 1.02, 1.0, 1.04, 0.99], busy=busy)  # identical sides
    assert v.verdict is Outcome.UNCHANGED
    v = _judged([0.95, 1.3, 1.02, 1.25, 1.1], busy=busy)  # truly undecided
    assert v.verdict is Outcome.INCONCLUSIVE and v.undecided
    assert ("could explain" if busy else "have not separated") in v.notes[0]


def test_threads_are_fitted_to_the_free_cpus():
    from resnext_bench.bench.api import fitted_threads
    from resnext_bench.core.schema import row_from_json

    busy = row_from_json(dict(make_rows()[2], host_load_cores=0.9, host_cpus=2,
                              runtime_info={"threads_effective": 2}))
    quiet = row_from_json(dict(make_rows()[2], host_load_cores=0.05, host_cpus=2))
    assert fitted_threads([busy, quiet]) == 1 and fitted_threads([quiet, quiet]) is None


# -- rows that say what ran --------------------------------------------------------------------
def test_an_int8_file_is_never_an_fp32_row(cli, artifacts, tmp_path):
    res = cli("export", "--arch", "wrn10_1", "--image-size", 32, "--precision", "int8",
              "--calib-count", 4, "--out", tmp_path / "q", "--artifacts", artifacts, "--json")
    assert res.exit_code == 0, res.output
    int8 = json.loads(res.output)["path"]
    common = ["--onnx", int8, "--runtime", "ort-cpu", "--iters", 4, "--rounds", 1, "--warmup", 1,
              "--parity-images", 4, "--artifacts", artifacts, "-q"]
    bad = cli("bench", *common, "--precision", "fp32,int8", "--out", tmp_path / "bad")
    assert bad.exit_code == 2 and "is an int8 file" in bad.stderr, bad.output
    ok = cli("bench", *common, "--precision", "int8", "--out", tmp_path / "ok")
    assert ok.exit_code in (0, 1), ok.output
    (row,) = read_jsonl(tmp_path / "ok" / "results.jsonl")[0]
    assert row["onnx_precision"] == "int8" and row["quantization"]["quantizer"] == "nncf"
    assert row["quantization"]["source"] == "the file's resnext-bench metadata"


# -- reports that answer -----------------------------------------------------------------------
def _answer_run(tmp_path, *, torch_spread=None, weights="default (calibration v4, seed 0)"):
    rows = make_rows()
    for r in rows:
        r["parity_weights"] = weights
        if r["arch"] == "resnet50" and r["batch"] == 1:
            r.update(accuracy_top1=0.74, accuracy_ref_top1=0.75, accuracy_top1_drop=1.0,
                     accuracy_top1_drop_ci=[0.2, 1.8], accuracy_images=500, parity_inputs="images:/x")
    if torch_spread is not None:  # the bundle's report once said "43.50x" from such a row
        for r in rows:
            if r["runtime"] == "torch":
                r["round_spread"] = 1.88
    failing = dict(rows[2], precision="int8", parity_passed=False, parity_failed=["cosine 0.5 < 0.99"],
                   latency_p50_ms=rows[2]["latency_p50_ms"] / 4,
                   samples_ms=[s / 4 for s in rows[2]["samples_ms"]],
                   round_medians_ms=[m / 4 for m in rows[2]["round_medians_ms"]],
                   throughput_ips=rows[2]["throughput_ips"] * 4)
    return write_run(tmp_path / "run", rows + [failing])


def test_reports_lead_with_the_answer_and_accuracy(cli, tmp_path):
    run = _answer_run(tmp_path)
    md = cli("report", run, "--format", "md").output
    head = md.split("<details>")[0]  # not collapsed: what the deployer asked
    assert "## Deployment answer" in head and "## Accuracy on labeled images" in head
    answer = head.split("## Deployment answer")[1].split("##")[0]
    assert "resnet50" in answer and "+1.00 points [+0.20, +1.80] on 500 images" in answer
    assert "int8" not in answer.split("\n")[4]  # the parity-failing int8 row is not the answer
    assert "untrained, calibrated" in answer  # the default-weights hint: these were default weights


def test_hints_follow_the_weights_the_run_used(cli, tmp_path):
    run = _answer_run(tmp_path, weights="trained reference: digits (recipe 1, seed 0; ...)")
    md = cli("report", run, "--format", "md").output
    assert "untrained, calibrated" not in md.split("<details>")[0]
    assert "calibrated untrained weights" not in md


def test_speedups_are_divided_only_where_the_spread_allows(tmp_path):
    from resnext_bench.core.rundir import load_run
    from resnext_bench.reports.sections import headline

    run = load_run(_answer_run(tmp_path, torch_spread=True))
    speedups = [row[5] for row in headline(run.latest()).body]  # the "vs torch fp32" column
    assert speedups and all(s == "not comparable (round spread 188%)" for s in speedups), speedups


def test_every_chart_marks_a_parity_failing_point(monkeypatch, tmp_path):
    from resnext_bench.core.rundir import load_run
    from resnext_bench.reports import plots

    marked = []
    real = plots._mark_failing

    def spy(ax, points):
        marked.extend(r for _, _, r in points if plots.failing(r))
        real(ax, points)

    monkeypatch.setattr(plots, "_mark_failing", spy)
    ok = [r for r in load_run(_answer_run(tmp_path)).latest() if r.ok]
    assert plots.pareto_chart(ok) and marked
    front_rows = plots.pareto_front([r for r in ok if not plots.failing(r)])
    assert all(r.parity_passed is not False for r in front_rows)


def test_the_html_headline_renders_in_headless_chromium(cli, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        pytest.skip("no chromium here (apt-get install chromium)")
    run = _answer_run(tmp_path)
    out = tmp_path / "r.html"
    assert cli("report", run, "--format", "html", "--out", out).exit_code == 0
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                          out.as_uri()], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, HOME=str(tmp_path)))
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout
    first_h2 = text.index("<h2>")
    assert text[first_h2:].startswith("<h2>Deployment answer</h2>")
    assert "Accuracy on labeled images" in text and "+1.00 points" in text
    assert text.count("<img") >= 3 and "data:image/png;base64," in text


# -- baselines ---------------------------------------------------------------------------------
def test_a_stored_baseline_gates_later_runs_on_the_same_machine(cli, tmp_path):
    store = tmp_path / "store"
    base = write_run(tmp_path / "base", make_rows())
    saved = cli("baseline", "save", base, "--name", "main", "--store", store)
    assert saved.exit_code == 0 and (store / "main" / "baseline.json").is_file(), saved.output
    slower = write_run(tmp_path / "new", make_rows(scale={("resnet50", "ort-cpu", 1): 1.6}, seed=1))
    res = cli("compare", "baseline:main", slower, "--store", store)
    assert res.exit_code == 1, res.output
    other = json.loads((slower / "env.json").read_text())
    (slower / "env.json").write_text(json.dumps(dict(other, cpu="Another CPU")))
    res = cli("compare", "baseline:main", slower, "--store", store)
    assert res.exit_code == 2 and "another machine" in res.stderr, res.output
    assert cli("compare", "baseline:main", slower, "--store", store, "--allow-other-machine").exit_code == 1
    missing = cli("compare", "baseline:nope", slower, "--store", store)
    assert missing.exit_code == 2 and "no baseline 'nope'" in missing.stderr and "main" in missing.stderr


# -- the smaller items -------------------------------------------------------------------------
def test_a_label_mismatch_and_stray_files_are_said(cli, tmp_path):
    from PIL import Image

    folder = tmp_path / "pets"
    for cls in ("cat", "dog"):
        (folder / cls).mkdir(parents=True)
        Image.new("RGB", (40, 40), (120, 60, 30)).save(folder / cls / "a.png")
    (folder / "cat" / "notes.txt").write_text("not an image")
    res = cli("bench", "--arch", "resnet18", "--image-size", 32, "--runtime", "ort-cpu",
              "--images", folder, "--dry-run")
    assert res.exit_code == 0, res.output
    text = res.output + res.stderr
    assert "2 class folders (cat, dog) on resnet18's 1000 classes" in text
    assert "1 file(s) that are not images" in text and "notes.txt" in text


def test_ab_help_says_its_own_default_and_click_errors_are_one_line(cli, tmp_path):
    help_text = " ".join(cli("ab", "--help").output.split())
    runtime = help_text.split("--runtime A[,B]")[1].split("--batch")[0]
    assert "[default: ort-cpu]" in runtime and "[default: all]" not in runtime, runtime
    run = write_run(tmp_path / "run", make_rows())
    res = cli("report", run, "--format", "pdf")
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1, res.output
    assert res.stderr.startswith("error: Invalid value for '--format'")
    top = " ".join(cli("--help").output.split())
    assert "3 no regression but no verdict" in top
