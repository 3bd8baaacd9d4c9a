"""Fault injection around the run dir (issue 39): caches that served stale or foreign data, and
writes that damaged what they replaced. One test per numbered case of the issue, each on a tiny
configuration (resnet18 at 32 px on ort-cpu); each failed on the release before the fix."""

import errno
import json
import os
import pickle
import resource
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from support.processes import _children, _exe, tiny_sweep

from resnext_bench.core.fileio import read_jsonl

TINY = ["--arch", "resnet18", "--image-size", "32", "--runtime", "ort-cpu", "--iters", "4",
        "--rounds", "1", "--warmup", "1"]
#: the smallest net (CIFAR-sized, 10 classes), where the case does not need file sizes
SMALL = ["--arch", "wrn10_1", "--image-size", "32", "--runtime", "ort-cpu", "--iters", "4",
         "--rounds", "1", "--warmup", "1"]


def _one_line(res):
    return len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.output


def _row(run_dir):
    rows, _ = read_jsonl(Path(run_dir) / "results.jsonl")
    return rows[-1]


def _run(tmp_path, name="run"):
    from support.rows import make_rows, write_run

    return write_run(tmp_path / name, make_rows())


# 1 ---------------------------------------------------------------------------------------------
def test_report_out_writes_through_a_symlink_and_never_replaces_a_fifo_or_device(cli, tmp_path):
    run = _run(tmp_path)
    target = tmp_path / "t.csv"
    target.write_text("old\n")
    link = tmp_path / "L"
    link.symlink_to("t.csv")
    res = cli("report", run, "--format", "csv", "--out", link)
    assert res.exit_code == 0, res.output
    assert link.is_symlink() and os.readlink(link) == "t.csv"  # the link stays a link
    assert target.read_text().startswith("arch")                 # and its target got the report

    fifo = tmp_path / "pipe"  # a CI step reading a named pipe
    os.mkfifo(fifo)
    got = {}
    reader = threading.Thread(target=lambda: got.setdefault("text", Path(fifo).read_text()))
    reader.start()
    res = cli("report", run, "--format", "md", "--out", fifo)
    reader.join(30)
    assert res.exit_code == 0, res.output
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and "resnext50_32x4d" in got["text"]

    full = tmp_path / "full"  # a /dev/full of our own: root replaced the real one for the machine
    try:
        os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except OSError:
        return  # not root: the FIFO above is the same code path
    res = cli("report", run, "--out", full)
    assert res.exit_code == 2 and "cannot write" in res.stderr and _one_line(res), res.output
    assert stat.S_ISCHR(os.lstat(full).st_mode)


# 2 ---------------------------------------------------------------------------------------------
def _bmp_folder(folder, colours):
    from PIL import Image

    folder.mkdir(exist_ok=True)
    for i, c in enumerate(colours):
        Image.new("RGB", (40, 40), c).save(folder / f"{i}.bmp")


def test_parity_reads_a_changed_image_folder_again(cli, artifacts, tmp_path, capfd):
    folder = tmp_path / "imgs"
    _bmp_folder(folder, [(200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 220, 40)])
    sizes = [p.stat().st_size for p in sorted(folder.iterdir())]
    assert cli("bench", *SMALL, "--images", folder, "--artifacts", artifacts, "-q", "--out",
               tmp_path / "a").exit_code == 0
    first = _row(tmp_path / "a")
    _bmp_folder(folder, [(0, 0, 0)] * 4)  # same names, same sizes, other pixels
    assert [p.stat().st_size for p in sorted(folder.iterdir())] == sizes
    capfd.readouterr()
    assert cli("bench", *SMALL, "--images", folder, "--artifacts", artifacts, "-q", "--out",
               tmp_path / "b").exit_code == 0
    second = _row(tmp_path / "b")
    assert "its content changed since" in capfd.readouterr().err  # says so
    assert second["parity_inputs"] != first["parity_inputs"]      # the row says which content
    for f in (Path(artifacts) / "refs").glob("wrn10_1-*"):  # a fresh reference agrees with it
        f.unlink()
    assert cli("bench", *SMALL, "--images", folder, "--artifacts", artifacts, "-q", "--out",
               tmp_path / "c").exit_code == 0
    assert _row(tmp_path / "c")["parity_max_abs_err"] == second["parity_max_abs_err"]


# 3 ---------------------------------------------------------------------------------------------
def test_a_poisoned_or_nan_weights_cache_is_rebuilt_not_served(tmp_path, capfd):
    import torch

    from resnext_bench.core.cacheentry import record_digest
    from resnext_bench.models import build_model
    from resnext_bench.models.spec import parse_arch
    from resnext_bench.models.weights import default_weights_source, weights_cache_path

    spec = parse_arch("wrn10_1")
    good = build_model(spec, cache_dir=tmp_path).state_dict()
    path = weights_cache_path(spec, 0, tmp_path)
    poisoned = {k: v.clone() for k, v in good.items()}
    poisoned["fc.weight"] = -poisoned["fc.weight"]  # valid, but another network
    torch.save(poisoned, path)
    capfd.readouterr()
    again = build_model(spec, cache_dir=tmp_path).state_dict()
    assert torch.equal(again["fc.weight"], good["fc.weight"])
    assert "sha256 differs" in capfd.readouterr().err
    nan = {k: v.clone() for k, v in good.items()}
    nan["fc.bias"][0] = float("nan")
    torch.save(nan, path)
    record_digest(path, default_weights_source(spec, 0))  # even with a matching digest record
    again = build_model(spec, cache_dir=tmp_path).state_dict()
    assert torch.equal(again["fc.bias"], good["fc.bias"])
    assert "NaN or infinity" in capfd.readouterr().err


def test_a_poisoned_weights_cache_does_not_fail_the_runtime(cli, artifacts, tmp_path, capfd):
    """With the ONNX cached, the torch reference came from the poisoned file: ort-cpu failed
    parity and the runtime was blamed. (The shared cache is repaired by the test's own run.)"""
    import torch

    from resnext_bench.models.spec import parse_arch
    from resnext_bench.models.weights import weights_cache_path

    art = Path(artifacts)
    assert cli("bench", *SMALL, "--artifacts", art, "-q", "--out", tmp_path / "a").exit_code == 0
    path = weights_cache_path(parse_arch("wrn10_1"), 0, art)
    state = torch.load(path, weights_only=True)
    state["fc.weight"] = -state["fc.weight"]
    torch.save(state, path)
    for f in (art / "refs").glob("wrn10_1-*"):
        f.unlink()  # the reference is computed again, from the weights cache
    capfd.readouterr()
    res = cli("bench", *SMALL, "--artifacts", art, "-q", "--out", tmp_path / "b")
    assert res.exit_code == 0, res.output
    assert _row(tmp_path / "b")["parity_passed"] is True
    assert "not used, rebuilt" in capfd.readouterr().err


# 4 ---------------------------------------------------------------------------------------------
def _tiny_onnx(path, **save):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((1, 3, 32, 32), np.float32), "w")
    graph = helper.make_graph([helper.make_node("Add", ["input", "w"], ["out"])], "g",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 32, 32])],
                              [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path), **save)
    return path


def _winner(src):
    from support.rows import make_rows

    from resnext_bench.core.schema import row_from_json
    from resnext_bench.exporters.onnxfile import onnx_provenance

    row = dict(make_rows()[2], onnx_path=str(src), onnx_sha256=onnx_provenance(src)[0])
    return row_from_json(row)


def test_an_interrupted_or_full_bundle_leaves_the_old_one_whole(tmp_path, monkeypatch):
    from resnext_bench.core.errors import write_error_text
    from resnext_bench.tune import bundle

    src = _tiny_onnx(tmp_path / "src" / "m.onnx", save_as_external_data=True, location="m.bin",
                     size_threshold=0)
    winner = _winner(src)
    dest = tmp_path / "tune" / "bundle"
    bundle.write_bundle(dest, winner, {"ratio": 2.0}, "# report\n")
    def files():
        return {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}

    before = files()
    assert {"m.onnx", "m.bin", "run.py", "inference_config.json", "metrics.json"} <= set(before)

    real_copy = bundle.shutil.copyfile

    def interrupted(a, b):  # Ctrl-C half way through the artifact
        Path(b).write_bytes(Path(a).read_bytes()[:10])
        raise KeyboardInterrupt

    monkeypatch.setattr(bundle.shutil, "copyfile", interrupted)
    with pytest.raises(KeyboardInterrupt):
        bundle.write_bundle(dest, winner, {"ratio": 3.0}, "# new\n")
    assert files() == before  # the old bundle, whole
    assert [p.name for p in dest.parent.iterdir()] == ["bundle"]       # no partial folder beside

    def full(a, b):
        err = OSError(errno.ENOSPC, "No space left on device")
        err.filename, err.filename2 = str(a), str(b)  # as shutil sets them
        raise err

    monkeypatch.setattr(bundle.shutil, "copyfile", full)
    with pytest.raises(OSError) as exc:
        bundle.write_bundle(dest, winner, {}, None)
    text = write_error_text(exc.value)
    assert str(dest / "m.onnx") in text and "ENOSPC" in text and str(src) not in text
    assert files() == before
    monkeypatch.setattr(bundle.shutil, "copyfile", real_copy)
    bundle.write_bundle(dest, winner, {"ratio": 3.0}, None)  # and a later bundle replaces it whole
    assert json.loads((dest / "metrics.json").read_text())["ratio"] == 3.0


# 5 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["dotdot", "absolute", "symlink"])
def test_external_data_outside_the_models_folder_is_a_usage_error(cli, tmp_path, where):
    import onnx

    from resnext_bench.core.errors import UsageError
    from resnext_bench.exporters.onnxfile import onnx_provenance

    model_dir = tmp_path / "m"
    src = _tiny_onnx(model_dir / "model.onnx", save_as_external_data=True, location="w.bin",
                     size_threshold=0)
    outside = tmp_path / "outside.bin"
    os.replace(model_dir / "w.bin", outside)
    loc = {"dotdot": "../outside.bin", "absolute": str(outside), "symlink": "w.bin"}[where]
    if where == "symlink":
        (model_dir / "w.bin").symlink_to(outside)
    proto = onnx.load(str(src), load_external_data=False)
    for t in proto.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = loc
    onnx.save(proto, str(src))
    res = cli("bench", "--onnx", src, "--arch", "resnet18", "--image-size", "32", "--runtime",
              "ort-cpu", "--out", tmp_path / "r")
    assert res.exit_code == 2 and "must lie in the model's folder" in res.stderr, res.output
    assert _one_line(res) and not (tmp_path / "r" / "results.jsonl").exists()
    with pytest.raises(UsageError):
        onnx_provenance(src)  # nothing hashes the outside file either


# 6 ---------------------------------------------------------------------------------------------
def test_resume_without_a_readable_env_json_is_refused(cli, artifacts, tmp_path):
    toml = tiny_sweep(tmp_path, artifacts, parity="parity = false")
    out = tmp_path / "r"
    assert cli("sweep", toml, "--out", out, "-q").exit_code == 0
    (out / "env.json").unlink()
    toml.write_text(toml.read_text() + "seed = 7\n")
    res = cli("sweep", toml, "--out", out, "--resume", "-q")
    assert res.exit_code == 2 and "cannot be verified" in res.stderr and "env.json is missing" in res.stderr
    (out / "env.json").write_text("{not json")
    res = cli("sweep", toml, "--out", out, "--resume", "-q")
    assert res.exit_code == 2 and "not readable as JSON" in res.stderr, res.output
    ok = cli("sweep", toml, "--out", out, "--resume", "--allow-changed", "-q")
    assert ok.exit_code == 0, ok.output


# 7 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env", ['{"packages": "x"}', '{"config": [1]}', '{"previous": "oops"}',
                                 '{"cpu_flags": {"a": 1}, "runtimes": [1, 2]}'])
def test_env_json_of_the_wrong_types_is_a_warning_not_a_traceback(cli, tmp_path, env):
    from resnext_bench.core.rundir import record_env

    run = _run(tmp_path)
    (run / "env.json").write_text(env)
    for args in (["report", run], ["report", run, "--format", "html", "--out", tmp_path / "r.html"],
                 ["compare", run, run], ["recommend", run]):
        res = cli(*args)
        assert res.exit_code in (0, 1) and "Traceback" not in res.output, (args, res.output)
        assert "ignored keys of the wrong type" in res.stderr, (args, res.stderr)
    record_env(run, {"cpu": "x"})  # a resume records over it
    assert isinstance(json.loads((run / "env.json").read_text()).get("previous", []), list)


def test_a_results_file_that_is_a_folder_is_one_line(cli, tmp_path):
    out = tmp_path / "r"
    (out / "results.jsonl").mkdir(parents=True)
    toml = tmp_path / "s.toml"
    toml.write_text('archs = ["resnet18"]\nruntimes = ["ort-cpu"]\nimage_sizes = [32]\n')
    for args in (["sweep", toml, "--out", out, "--resume"], ["sweep", toml, "--out", out, "--resume",
                                                             "--dry-run"]):
        res = cli(*args)
        assert res.exit_code == 2 and "not a regular file" in res.stderr and _one_line(res), (args, res.output)
    res = cli("report", out)
    assert res.exit_code == 2 and "no results.jsonl" in res.stderr and _one_line(res), res.output


def test_deeply_nested_and_absurd_rows_are_skipped_with_a_warning(cli, tmp_path):
    from support.rows import make_rows

    from resnext_bench.core.fileio import append_jsonl

    run = _run(tmp_path)
    with open(run / "results.jsonl", "a") as f:
        f.write("[" * 200_000 + "]" * 200_000 + "\n")
    append_jsonl(run / "results.jsonl", dict(make_rows()[0], batch=10**30))
    for args in (["report", run], ["report", run, "--format", "html", "--out", tmp_path / "r.html"],
                 ["compare", run, run], ["recommend", run]):
        res = cli(*args)
        assert res.exit_code in (0, 1) and "Traceback" not in res.output, (args, res.output)
        assert "nested deeper than" in res.stderr and "batch 1e+30 is outside" in res.stderr, res.stderr


def test_a_non_utf8_toml_and_an_out_under_a_file_are_one_line(cli, tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_bytes(b'archs = ["resnet18\xff"]\n')
    res = cli("sweep", toml, "--out", tmp_path / "r")
    assert res.exit_code == 2 and "not UTF-8" in res.stderr and _one_line(res), res.output
    run = _run(tmp_path)
    (tmp_path / "FILE").write_text("x")
    res = cli("report", run, "--out", tmp_path / "FILE" / "x.md")
    assert res.exit_code == 2 and "is a file, not a folder" in res.stderr and _one_line(res), res.output


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc, PR_SET_PDEATHSIG")
def test_kill_9_during_export_leaves_no_orphan_and_no_traceback(tmp_path):
    """The prepare process went on exporting for nobody and ended in a BrokenPipeError."""
    proc = subprocess.Popen([_exe(), "bench", "--arch", "resnet50", "--image-size", "64",
                             "--runtime", "ort-cpu", "--iters", "2", "--rounds", "1", "--artifacts",
                             str(tmp_path / "art"), "-q", "--out", str(tmp_path / "r")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    end, kids = time.monotonic() + 120, []
    while time.monotonic() < end and not kids:
        kids = _children(proc.pid)
        time.sleep(0.2)
    assert kids, "no prepare process appeared"
    time.sleep(1.5)  # in the middle of building and exporting
    os.kill(proc.pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=120)  # returns once every holder of the pipe is gone
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    time.sleep(0.5)
    assert not [k for k in kids if Path(f"/proc/{k}").exists()
                and Path(f"/proc/{k}/stat").read_text().split()[2] != "Z"], "orphan left running"


# 8 ---------------------------------------------------------------------------------------------
def test_temp_files_of_dead_writers_are_removed(cli, artifacts):
    from resnext_bench.core.fileio import temp_prefix

    art = Path(artifacts)
    assert cli("export", "--arch", "resnet18", "--image-size", "32", "--out", art).exit_code == 0
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine = temp_prefix("model.onnx")  # .model.onnx.<host>-<pid>-
    dead_tmp = art / (mine.replace(f"-{os.getpid()}-", f"-{dead.pid}-") + "abc.tmp")
    dead_tmp.write_bytes(b"\0" * 4096)
    legacy = art / ".old.onnx.k2j4h5g6.tmp"  # a release before the PID was in the name
    legacy.write_bytes(b"\0" * 100)
    os.utime(legacy, (time.time() - 7 * 3600,) * 2)
    live = art / (mine + "live.tmp")  # this process: alive, kept
    live.write_bytes(b"x")
    res = cli("export", "--arch", "resnet18", "--image-size", "32", "--out", art)
    assert res.exit_code == 0, res.output
    assert not dead_tmp.exists() and not legacy.exists() and live.exists()
    assert "removed 2 temporary file(s) left by writers that died" in res.stderr


@pytest.mark.parametrize("args,msg", [
    (["--iters", str(10**12)], "must be <= 1000000"),
    (["--min-time", "1e9"], "must be <= 86400"),
    (["--image-size", "100000"], "must be <= 4096"),
])
def test_settings_have_upper_bounds_a_run_can_finish_in(cli, tmp_path, args, msg):
    res = cli("bench", "--arch", "resnet18", "--runtime", "ort-cpu", *args, "--out", tmp_path / "x")
    assert res.exit_code == 2 and msg in res.stderr and _one_line(res), res.output


def test_write_errors_name_the_destination():
    from resnext_bench.core.errors import write_error_text

    err = OSError(errno.ENOSPC, "No space left on device")
    err.filename, err.filename2 = "/cache/src.onnx", "/out/bundle/src.onnx"
    assert write_error_text(err) == ("cannot write /out/bundle/src.onnx: No space left on device "
                                     "(ENOSPC)")
    assert write_error_text(OSError(errno.ENOTDIR, "Not a directory", "/a/f/x.md")).startswith(
        "cannot use /a/f/x.md")


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="needs RLIMIT_FSIZE")
def test_a_full_artifacts_disk_stops_the_run_with_exit_2_naming_the_path(tmp_path):
    """A file-size limit makes every large write fail (EFBIG) as a full disk does (ENOSPC):
    the export in the prepare process fails, and the run stops with one line (not a failed row
    and exit 1)."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, 2 << 20))

    art = tmp_path / "art"
    proc = subprocess.run([_exe(), "bench", *TINY, "--artifacts", str(art), "-q", "--out",
                           str(tmp_path / "r")], capture_output=True, text=True, preexec_fn=limit,
                          timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "cannot write" in proc.stderr and str(art) in proc.stderr and "Traceback" not in proc.stderr
    assert not [p for p in art.rglob("*.tmp")]  # the failed write left nothing behind


def test_a_pickled_checkpoint_is_refused_for_safety(cli, tmp_path):
    import argparse

    with open(tmp_path / "plain.pkl", "wb") as f:  # pickle.dump, not torch.save
        pickle.dump({"state_dict": {}, "args": argparse.Namespace(lr=0.1)}, f, protocol=4)
    res = cli("export", "--arch", "resnet18", "--weights", tmp_path / "plain.pkl", "--out", tmp_path / "e")
    assert res.exit_code == 2 and "not loaded, for safety" in res.stderr, res.output
