"""Issue 46, data loss and integrity: writes that would replace a folder the tool did not
create, or a record of a run, are refused (exit 2) with nothing touched; stored baselines are
checked; a FIFO where a record is expected does not hang a reader; a file name that is not
UTF-8 is hashed, not a traceback. Each case is the issue's reproduction."""

import json
import os
import subprocess
import sys

import pytest

from support.rows import make_rows, write_run


@pytest.fixture
def run(tmp_path):
    return write_run(tmp_path / "run", make_rows())


def test_baseline_save_never_replaces_a_folder_it_did_not_save(cli, tmp_path, run):
    home = tmp_path / "h"
    (home / "Documents").mkdir(parents=True)
    (home / "Documents" / "thesis.txt").write_text("precious")
    res = cli("baseline", "save", run, "--name", "Documents", "--store", home)
    assert res.exit_code == 2 and "not a baseline this tool saved" in res.stderr, res.output
    assert (home / "Documents" / "thesis.txt").read_text() == "precious"
    assert sorted(p.name for p in (home / "Documents").iterdir()) == ["thesis.txt"]
    # the run itself, named as its own baseline in its own parent
    (run / "tune.json").write_text("{}")
    res = cli("baseline", "save", run, "--name", "run", "--store", run.parent)
    assert res.exit_code == 2 and "is the run being saved" in res.stderr, res.output
    assert (run / "tune.json").is_file()
    # a baseline of the same name is replaced, as before
    assert cli("baseline", "save", run, "--name", "main", "--store", home).exit_code == 0
    assert cli("baseline", "save", run, "--name", "main", "--store", home).exit_code == 0


def test_a_stored_baseline_is_checked_before_it_gates(cli, tmp_path, run):
    store = tmp_path / "store"
    assert cli("baseline", "save", run, "--name", "main", "--store", store).exit_code == 0
    new = write_run(tmp_path / "new", make_rows(seed=1))
    assert cli("compare", "baseline:main", new, "--store", store).exit_code == 0
    # edited latencies: the digest no longer matches
    results = store / "main" / "results.jsonl"
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    rows[0]["latency_p50_ms"] = 0.001
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = cli("compare", "baseline:main", new, "--store", store)
    assert res.exit_code == 2 and "not the file that was saved" in res.stderr, res.output
    # a baseline whose machine keys are missing, null or of the wrong type is another machine
    assert cli("baseline", "save", run, "--name", "main", "--store", store).exit_code == 0
    env = json.loads((new / "env.json").read_text())
    for broken in ({k: v for k, v in env.items() if k != "cpu"}, dict(env, cpu=None),
                   dict(env, cpu_flags="avx2")):
        (new / "env.json").write_text(json.dumps(broken))
        res = cli("compare", "baseline:main", new, "--store", store)
        assert res.exit_code == 2 and "another machine" in res.stderr, (broken, res.output)


@pytest.mark.parametrize("record", ["results.jsonl", "env.json"])
def test_report_and_junit_never_overwrite_a_runs_records(cli, tmp_path, run, record):
    before = (run / record).read_bytes()
    res = cli("report", run, "--out", run / record)
    assert res.exit_code == 2 and "own record" in res.stderr, res.output
    other = write_run(tmp_path / "other", make_rows(seed=2))
    res = cli("compare", other, run, "--junit", run / record)
    assert res.exit_code == 2 and "--junit" in res.stderr and "own record" in res.stderr
    link = tmp_path / "innocent.md"
    link.symlink_to(run / record)
    res = cli("report", run, "--out", link)
    assert res.exit_code == 2 and "own record" in res.stderr
    assert (run / record).read_bytes() == before
    assert cli("report", run, "--out", run / "report.md").exit_code == 0  # beside them: fine


def test_junit_errors_name_the_junit_flag(cli, tmp_path, run):
    res = cli("compare", run, run, "--junit", tmp_path)
    assert res.exit_code == 2 and f"--junit {tmp_path} is a directory" in res.stderr, res.output


def test_tune_refuses_an_out_whose_bundle_folder_exists(cli, tmp_path):
    out = tmp_path / "t"
    (out / "bundle").mkdir(parents=True)
    (out / "bundle" / "mine.txt").write_text("mine")
    res = cli("tune", "--arch", "resnet18", "--image-size", 32, "--runtime", "ort-cpu",
              "--precision", "fp32", "--budget-minutes", 1, "--out", out)
    assert res.exit_code == 2 and "bundle" in res.stderr and "nothing was touched" in res.stderr
    assert (out / "bundle" / "mine.txt").read_text() == "mine"
    assert not (out / "results.jsonl").exists()


def test_a_fifo_as_env_json_does_not_hang_report(tmp_path, run):
    (run / "env.json").unlink()
    os.mkfifo(run / "env.json")
    exe = os.path.join(os.path.dirname(sys.executable), "resnext-bench")
    proc = subprocess.run([exe, "report", str(run), "--format", "md"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "not a regular file" in proc.stderr, proc.stderr


def test_an_image_name_that_is_not_utf8_is_hashed_not_a_traceback(cli, artifacts, tmp_path):
    from PIL import Image

    from resnext_bench.models.imagefiles import images_digest

    folder = tmp_path / "d"
    folder.mkdir()
    Image.new("RGB", (40, 40), (200, 10, 10)).save(folder / "ok.png")
    Image.new("RGB", (40, 40), (10, 200, 10)).save(os.path.join(os.fsencode(folder), b"caf\xe9.png"))
    a = images_digest(folder)
    assert a.startswith("images:")
    os.rename(os.path.join(os.fsencode(folder), b"caf\xe9.png"), os.path.join(os.fsencode(folder), b"caf\xe8.png"))
    assert images_digest(folder) != a  # the name is part of the digest, byte for byte
    res = cli("bench", "--arch", "resnet18", "--image-size", 32, "--runtime", "ort-cpu",
              "--iters", 2, "--rounds", 1, "--warmup", 1, "--images", folder, "--artifacts",
              artifacts, "-q", "--out", tmp_path / "run")
    assert res.exit_code == 0 and "Traceback" not in res.output, res.output
    row = json.loads((tmp_path / "run" / "results.jsonl").read_text().splitlines()[0])
    assert row["status"] == "ok" and row["parity_passed"] is True


def test_outputs_that_cannot_be_written_are_refused_before_measuring(cli, tmp_path, artifacts):
    out = tmp_path / "r"
    (out / "results.jsonl").mkdir(parents=True)
    res = cli("bench", "--arch", "resnet18", "--image-size", 32, "--runtime", "ort-cpu",
              "--iters", 2, "--rounds", 1, "--warmup", 1, "--no-parity", "--artifacts", artifacts,
              "-q", "--out", out)
    assert res.exit_code == 2 and "nothing was measured" in res.stderr, res.output
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as root: a read-only folder is writable")
        res = cli("ab", "a.onnx", "b.onnx", "--junit", ro / "x.xml", "--out", tmp_path / "ab")
        assert res.exit_code == 2 and "not writable (checked before measuring)" in res.stderr
    finally:
        ro.chmod(0o700)


TUNE_TINY = ["--arch", "resnet18", "--image-size", "32", "--runtime", "ort-cpu",
             "--precision", "fp32"]


def test_tune_refuses_what_it_cannot_search_and_leaves_no_run_dir(cli, tmp_path, artifacts):
    import platform

    from resnext_bench.core.fileio import append_jsonl

    out = tmp_path / "t"
    res = cli("tune", "--arch", "resnet18", "--runtime", "tensorrt", "--out", out)
    assert res.exit_code == 2 and "tensorrt" in res.stderr and "no candidate" in res.stderr
    res = cli("tune", *TUNE_TINY, "--calib-count", 8, "--out", out)
    assert res.exit_code == 2 and "--calib-count calibrates int8 files" in res.stderr
    res = cli("tune", *TUNE_TINY, "--dry-run", "--json")
    assert res.exit_code == 0 and json.loads(res.output)["candidates"][0]["baseline"]
    # refused inside the run-dir lock (the budget, from this machine's history): no folder left
    art = tmp_path / "art"
    art.mkdir()
    append_jsonl(art / "measured-times.jsonl", {
        "node": platform.node(), "key": "resnet18|c|ort-cpu|cpu|fp32|1||32", "runtime": "ort-cpu",
        "precision": "fp32", "device": "cpu", "batch": 1, "mean_ms": 1.0, "load_seconds": 500.0})
    res = cli("tune", *TUNE_TINY, "--budget-minutes", 0.5, "--artifacts", art, "--out", out)
    assert res.exit_code == 2 and "this tune needs ~" in res.stderr, res.output
    assert not out.exists()


@pytest.fixture
def tiny_onnx(cli, artifacts, tmp_path):
    res = cli("export", "--arch", "resnet18", "--image-size", 32, "--out", tmp_path / "e",
              "--artifacts", artifacts, "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.output)["path"]


@pytest.mark.parametrize("args,says", [
    (["--runtime", "torch"], "PyTorch module built from the file's metadata, not the file"),
    (["--ov-hint", "throughput"], "--ov-hint does not apply to ort-cpu"),
    (["--arch", "resnet50"], "is a resnet18 file"),
    (["--precision", "bf16"], "ort-cpu does not run bf16"),
    (["--new-set", "quantizer=ort"], "applies to int8 rows only"),
])
def test_ab_refuses_options_that_would_do_nothing(cli, tmp_path, tiny_onnx, args, says):
    res = cli("ab", tiny_onnx, tiny_onnx, *args, "--out", tmp_path / "ab", "-q")
    assert res.exit_code == 2 and says in res.stderr, res.output
    assert not (tmp_path / "ab" / "results.jsonl").exists()


def test_a_new_side_failing_parity_fails_ab_even_when_the_base_fails_too():
    from resnext_bench.core.schema import row_from_json
    from resnext_bench.core.verdict import Outcome
    from resnext_bench.reports.ab import ab_verdict

    base = dict(make_rows()[2], parity_passed=False)
    b, n = row_from_json(base), row_from_json(dict(base))
    res = ab_verdict(b, n)
    assert res.verdict.verdict is Outcome.PARITY_BREAK and res.is_regression
    assert "the base side fails too" in " ".join(res.verdict.notes)


def _graph(tmp_path, name, inputs, out_rank=2):
    import onnx
    from onnx import TensorProto, helper

    ins = [helper.make_tensor_value_info(n, t, shape) for n, t, shape in inputs]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1] * out_rank)
    node = helper.make_node("Identity", [inputs[0][0]], ["y"])
    model = helper.make_model(helper.make_graph([node], "g", ins, [out]))
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


def test_onnx_files_that_are_no_image_classifier_are_input_errors(cli, tmp_path):
    from onnx import TensorProto

    cases = {
        "two inputs": (_graph(tmp_path, "two", [("a", TensorProto.FLOAT, [1, 3, 8, 8]),
                                                ("b", TensorProto.FLOAT, [1, 3, 8, 8])]), "2 graph inputs"),
        "rank 2": (_graph(tmp_path, "r2", [("a", TensorProto.FLOAT, [1, 10])]), "of rank 2"),
        "int64": (_graph(tmp_path, "i64", [("a", TensorProto.INT64, [1, 3, 8, 8])]), "INT64"),
        "output rank 4": (_graph(tmp_path, "o4", [("a", TensorProto.FLOAT, [1, 3, 8, 8])], 4), "output 'y' has rank 4"),
    }
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    fifo = tmp_path / "fifo.onnx"
    os.mkfifo(fifo)
    cases["empty"] = (empty, "an empty file")
    cases["fifo"] = (fifo, "not a regular file")
    for what, (path, says) in cases.items():
        res = cli("bench", "--onnx", path, "--arch", "resnet18", "--runtime", "ort-cpu", "--out",
                  tmp_path / "r", "-q")
        assert res.exit_code == 2 and says in res.stderr, (what, res.output)


def test_the_paper_table_counts_passing_rows_only():
    from resnext_bench.core.schema import row_from_json
    from resnext_bench.reports.sections import paper

    rows = [row_from_json(r) for r in make_rows() if r.get("status") == "ok"]
    arch = rows[0].arch
    fastest = min((r for r in rows if r.arch == arch), key=lambda r: (r.batch, r.latency_p50_ms))
    fastest.parity_passed, fastest.latency_p50_ms = False, 0.01
    body = paper(rows).body
    line = next(b for b in body if b[0] == arch)
    assert "0.01" not in line[5]


def test_a_tie_is_settled_by_accuracy_first():
    from resnext_bench.core.schema import Combo, ResultRow
    from resnext_bench.tune.search import tie_break_key

    c = Combo("resnext29_2x8d", "c", "openvino", "cpu", "int8", 1, 2, 32)
    nncf = ResultRow(**c.__dict__, status="ok", round_medians_ms=[1.00, 1.00, 1.00],
                     accuracy_top1_drop=0.25)
    ort = ResultRow(**dict(c.__dict__, settings={"quantizer": "ort"}), status="ok",
                    round_medians_ms=[1.02, 1.02, 1.02], accuracy_top1_drop=0.0)
    assert min((nncf, ort), key=lambda r: tie_break_key(r, "latency")) is ort


def test_help_says_where_to_start_and_doctor_the_next_step(cli):
    res = cli("--help")
    assert "Start here:" in res.output and "resnext-bench tune --arch" in res.output
    res = cli("doctor")
    assert "next: `resnext-bench bench" in res.output


def test_an_option_only_openvino_reads_is_refused_for_ort_cpu(cli, tmp_path):
    res = cli("bench", "--arch", "resnet18", "--image-size", 32, "--runtime", "ort-cpu",
              "--ov-cache", "--dry-run")
    assert res.exit_code == 2 and "--ov-cache does not apply to ort-cpu" in res.stderr, res.output


def test_an_integer_state_dict_is_an_input_error(tmp_path):
    import torch

    from resnext_bench.core.errors import UsageError
    from resnext_bench.models import build_model
    from resnext_bench.models.weights import load_weights_file

    model = build_model("resnet18")
    path = tmp_path / "w.pth"
    torch.save({k: v.to(torch.int64) for k, v in model.state_dict().items()}, path)
    with pytest.raises(UsageError, match="torch.int64 where the arch has floating-point weights"):
        load_weights_file(model, path)


def test_a_junit_suite_carries_its_cases_time():
    import xml.etree.ElementTree as ET

    from resnext_bench.core.schema import row_from_json
    from resnext_bench.reports.ab import ab_verdict
    from resnext_bench.reports.junit import ab_junit

    base = dict(make_rows()[2], measure_seconds=1.5)
    root = ET.fromstring(ab_junit(ab_verdict(row_from_json(base), row_from_json(dict(base)))))
    assert root.find("testsuite").get("time") == "3.000"


def test_ab_claims_no_direction_within_the_threshold():
    from resnext_bench.core.schema import row_from_json
    from resnext_bench.reports.ab import ab_verdict, render_ab

    base = make_rows()[2]
    new = dict(base, round_medians_ms=[m * 0.96 for m in base["round_medians_ms"]],
               latency_p50_ms=base["latency_p50_ms"] * 1.01)
    text = render_ab(ab_verdict(row_from_json(base), row_from_json(new)), "text")
    assert text.startswith("unchanged: new is within the 5% threshold") and "faster" not in text.splitlines()[0]


def test_ab_stops_measuring_when_more_rounds_no_longer_narrow_the_interval():
    from resnext_bench.core.verdict import Outcome, Verdict
    from resnext_bench.core.verdict import worth_another_job

    def undecided(low, high):
        return Verdict(Outcome.INCONCLUSIVE, 1.1, low, high, undecided=True)

    widths = []
    assert worth_another_job(undecided(0.9, 1.4), widths)  # the first job: measure more
    assert worth_another_job(undecided(0.95, 1.3), widths)  # narrowed by 30 %
    assert not worth_another_job(undecided(0.96, 1.29), widths)  # stuck: stop waiting
    assert not worth_another_job(Verdict(Outcome.UNCHANGED, 1.0, 0.98, 1.02), [])


def test_a_write_error_names_the_destination_not_its_temp_file(tmp_path):
    import errno

    from resnext_bench.core.fileio import write_output

    def full(tmp):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    with pytest.raises(OSError) as err:
        write_output(tmp_path / "j.xml", full, "--junit")
    assert err.value.filename == str(tmp_path / "j.xml")


def test_image_errors_and_warnings_name_the_flag_and_the_file(tmp_path, capsys):
    from PIL import Image

    from resnext_bench.core.errors import UsageError
    from resnext_bench.models.inputs import folder_images

    folder = tmp_path / "calib"
    folder.mkdir()
    img = Image.new("P", (40, 40))
    img.info["transparency"] = b"\x00" * 256  # Pillow warns on converting it to RGB
    img.save(folder / "a.png", transparency=b"\x00" * 256)
    folder_images(folder, 32, flag="--calib-images")
    err = capsys.readouterr().err
    assert all(line.startswith("warning: --calib-images: ") for line in err.splitlines()), err
    (folder / "b.png").write_bytes(b"not a png")
    with pytest.raises(UsageError, match="^--calib-images: cannot read"):
        folder_images(folder, 32, flag="--calib-images")


def test_baseline_save_suggests_the_compare_command_with_its_store(cli, tmp_path, run):
    res = cli("baseline", "save", run, "--name", "main", "--store", tmp_path / "s")
    assert res.exit_code == 0 and f"--store {tmp_path / 's'}" in res.output


def test_read_env_refuses_a_fifo_for_report_and_resume_alike(tmp_path):
    from resnext_bench.core.rundir import read_env

    os.mkfifo(tmp_path / "env.json")
    env, warning = read_env(tmp_path)
    assert env == {} and "not a regular file" in warning
