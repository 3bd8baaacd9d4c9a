import json
import os

import numpy as np
import pytest

from conftest import gpu, gpu_test_runtimes, run_config
from resnext_bench.bench.plan import combos
from resnext_bench.bench.runner import Runner
from resnext_bench.core.errors import RuntimeUnavailable
from resnext_bench.core.fileio import read_jsonl
from resnext_bench.runtimes import cuda_probe, describe_runtimes, get_runtime, ort_build, ort_session
from resnext_bench.runtimes.registry import check_available

SCHEMA = ["arch", "cardinality", "width", "runtime", "device", "precision", "batch", "threads",
          "params", "macs", "flops", "latency_p50_ms", "latency_p90_ms", "latency_p95_ms",
          "latency_p99_ms", "latency_mean_ms", "latency_std_ms", "throughput_ips",
          "parity_max_abs_err", "parity_max_rel_err", "parity_cosine", "parity_top1_agreement",
          "parity_top5_agreement", "parity_passed", "onnx_path", "status", "error"]


def test_available_answers_for_every_runtime():
    rows = describe_runtimes()
    assert {r["name"] for r in rows} == {"torch", "torch-compile", "ort-cpu", "ort-cuda", "ort-trt", "tensorrt",
                                          "openvino", "ort-openvino"}
    by = {r["name"]: r for r in rows}
    assert by["torch"]["available"] and by["ort-cpu"]["available"]


def test_gpu_runtimes_explain_absence(monkeypatch):
    import onnxruntime

    from resnext_bench.runtimes.ort_cuda import ort_gpu_status

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    ort_gpu_status.cache_clear()
    ok, reason = check_available("ort-cuda")
    assert not ok and "CUDAExecutionProvider" in reason and "onnxruntime-gpu" in reason
    with pytest.raises(RuntimeUnavailable, match="ort-cuda"):
        get_runtime("ort-cuda")


def test_distributions_in_one_folder_are_a_problem(monkeypatch):
    """Two ONNX Runtime distributions installed into the same folder overwrite each other's
    files: doctor names it as a problem (exit 1). In different folders one only shadows the
    other, which is a note (tests/test_gpu_paths.py)."""
    from resnext_bench.bench import doctor

    monkeypatch.setattr(ort_build, "ort_module_dirs",
                        lambda: {"onnxruntime": "/site/onnxruntime", "onnxruntime-gpu": "/site/onnxruntime"})
    assert ort_build.overwritten_distributions() == ["onnxruntime", "onnxruntime-gpu"]
    report = doctor.diagnose()
    assert any("installed into the same folder" in p for p in report["problems"])
    monkeypatch.setattr(ort_build, "ort_module_dirs",
                        lambda: {"onnxruntime": "/a/onnxruntime", "onnxruntime-gpu": "/b/onnxruntime"})
    assert ort_build.overwritten_distributions() == []


def test_tensorrt_absent_reason(monkeypatch):
    monkeypatch.setattr("resnext_bench.runtimes.tensorrt_native.module_present", lambda n: False)
    ok, reason = check_available("tensorrt")
    assert not ok and "not installed" in reason


def test_cuda_status_on_cpu_build(monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("machine has CUDA")
    ok, reason = cuda_probe.cuda_status()
    assert not ok and ("CPU-only" in reason or "no CUDA GPU" in reason)


@pytest.fixture(scope="module")
def cpu_rows(tmp_path_factory, artifacts):
    out = tmp_path_factory.mktemp("run")
    config = run_config(archs="resnet18", runtimes="torch,ort-cpu", batches="1",
                        precisions="fp32,fp16", image_sizes=32, threads=1, warmup=1, iters=3,
                        rounds=2, parity_images=8, artifacts=str(artifacts))
    runner = Runner(config, out)
    runner.write_env()
    rows = runner.run(combos(config, strict=True))
    return out, rows


def test_bench_rows_schema_and_parity(cpu_rows):
    out, rows = cpu_rows
    assert len(rows) == 4
    on_disk, skipped = read_jsonl(out / "results.jsonl")
    assert not skipped
    assert [r["config_key"] for r in on_disk] == [r.config_key for r in rows]
    env = json.loads((out / "env.json").read_text())
    for d, r in zip(on_disk, rows):
        for k in SCHEMA:  # the schema's flat keys, in every JSON line
            assert k in d, (k, r.runtime)
        assert d["schema_version"] == 3 and d["settings"] == {} and d["env_fingerprint"] == env["fingerprint"]
        assert r.status == "ok", r.error
        assert len(r.samples_ms) == r.iters == r.latency_n >= 3
        assert r.latency_p50_ms <= r.latency_p99_ms
        assert r.throughput_ips == pytest.approx(r.batch / (r.latency_mean_ms / 1e3))
        assert r.peak_rss_mb > 0 and r.threads == 1
        assert r.parity_passed, r
        assert r.runtime == "torch" or (r.onnx_sha256 and len(r.onnx_sha256) == 64)
    fp32 = [r for r in rows if r.precision == "fp32"]
    assert all(r.parity_max_rel_err < 1e-4 for r in fp32)  # torch vs ort-cpu fp32: rounding only
    ort16 = [r for r in rows if r.runtime == "ort-cpu" and r.precision == "fp16"]
    assert all(r.onnx_precision == "fp16" for r in ort16)
    assert env["packages"]["torch"] and env["cpu"] and env["runtimes"]
    assert env["config"]["archs"] == ["resnet18"] and "cpu_flags" in env


def test_failure_is_recorded_and_run_continues(tmp_path, artifacts):
    import worker_faults

    config = run_config(archs="wrn10_1", runtimes="ort-cpu,torch", precisions="fp32,bf16",
                        warmup=0, iters=2, parity_images=4, artifacts=str(artifacts))
    rows = Runner(config, tmp_path, worker_target=worker_faults.ort_load_raises).run(
        combos(config, strict=True))
    st = {(r.runtime, r.precision): r for r in rows}
    assert st[("ort-cpu", "fp32")].status == "failed"
    assert "simulated out of memory" in st[("ort-cpu", "fp32")].error
    assert st[("ort-cpu", "bf16")].status == "skipped"
    assert st[("torch", "fp32")].ok and st[("torch", "bf16")].ok


def test_bench_cli_onnx_file_and_exit_codes(cli, tmp_path, artifacts):
    res = cli("export", "--arch", "wrn10_1", "--out", artifacts, "--json")
    path = json.loads(res.output)["path"]
    res = cli("bench", "--onnx", path, "--runtime", "ort-cpu", "--iters", 3, "--warmup", 1,
              "--parity-images", 4, "--out", tmp_path / "run", "--artifacts", artifacts)
    assert res.exit_code == 0, res.output
    rows, _ = read_jsonl(tmp_path / "run" / "results.jsonl")
    assert rows[0]["arch"] == "wrn10_1" and rows[0]["onnx_path"] == path
    # arch, seed and image size come from the file's metadata: a 64px seed-5 export benches at
    # 64px against a seed-5 reference (parity would fail otherwise)
    res = cli("export", "--arch", "resnet18", "--image-size", 64, "--seed", 5, "--out", artifacts, "--json")
    path64 = json.loads(res.output)["path"]
    res = cli("bench", "--onnx", path64, "--runtime", "ort-cpu", "--iters", 2, "--warmup", 0,
              "--parity-images", 4, "--out", tmp_path / "run64", "--artifacts", artifacts)
    assert res.exit_code == 0, res.output
    rows, _ = read_jsonl(tmp_path / "run64" / "results.jsonl")
    assert {(r["image_size"], r["seed"], r["parity_passed"]) for r in rows} == {(64, 5, True)}
    # an impossible parity tolerance fails the check: exit 1
    res = cli("parity", "--arch", "wrn10_1", "--runtime", "ort-cpu", "--rtol", "0",
              "--parity-images", 4, "--artifacts", artifacts)
    assert res.exit_code == 1 and "FAIL" in res.output


@gpu
def test_gpu_torch_and_ort_cuda_parity(tmp_path, artifacts):
    runtimes = gpu_test_runtimes()
    for name in runtimes:
        ok, reason = check_available(name)
        assert ok, f"{name}: {reason}"
    config = run_config(archs="resnet18", runtimes=runtimes, batches=2, precisions="fp32,fp16",
                        image_sizes=64, device="cuda", warmup=2, iters=5, parity_images=8,
                        artifacts=str(artifacts))
    rows = Runner(config, tmp_path).run(combos(config, strict=True))
    for r in rows:
        assert r.ok, r.error
        assert r.timing_method == "cuda_events" and r.e2e_latency_p50_ms > 0
        assert r.parity_passed, r
        if r.runtime == "ort-cuda":
            assert r.runtime_info["providers"][0] == "CUDAExecutionProvider"


def test_parity_on_a_folder_of_real_images(cli, tmp_path, artifacts):
    """--images DIR: files are resized/cropped/normalized the ImageNet way and used as inputs."""
    from PIL import Image

    from resnext_bench.models.inputs import folder_images

    rng = np.random.default_rng(0)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, (w, h) in enumerate([(80, 60), (50, 90), (64, 64)]):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    (folder / "notes.txt").write_text("ignored")
    x = folder_images(folder, 48)
    assert x.shape == (3, 3, 48, 48) and x.dtype == np.float32
    res = cli("parity", "--arch", "resnet18", "--runtime", "ort-cpu", "--image-size", 48,
              "--images", folder, "--artifacts", artifacts, "--json")
    assert res.exit_code == 0, res.output
    assert "1 file(s) that are not images" in res.stderr and "notes.txt" in res.stderr  # said
    row = json.loads(res.stdout)[0]
    assert row["parity_images"] == 3 and row["parity_inputs"].startswith("images:")
    empty = tmp_path / "empty"
    empty.mkdir()
    res = cli("parity", "--arch", "resnet18", "--runtime", "ort-cpu", "--images", empty)
    assert res.exit_code == 2 and "no image files" in res.output


def test_parity_on_the_builtin_photos(cli, artifacts):
    """--images builtin: the shipped photos, offline, for everyone; the row says so."""
    res = cli("parity", "--arch", "resnet18", "--runtime", "ort-cpu", "--image-size", 64,
              "--images", "builtin", "--parity-images", 6, "--artifacts", artifacts, "--json")
    assert res.exit_code == 0, res.output
    row = json.loads(res.output)[0]
    assert row["parity_images"] == 6 and row["parity_inputs"].startswith("builtin:")
    assert row["parity_passed"] and row["parity_top1_agreement"] == 1.0


def test_onnx_metadata_fills_only_what_was_not_given(cli, tmp_path, artifacts):
    """--onnx: the file's metadata fills arch, form, seed...; an option the user gave wins even
    when it equals the default (seed 0 used to mean "not given")."""
    res = cli("export", "--arch", "resnext29_2x4d", "--form", "b", "--seed", 2, "--out", artifacts, "--json")
    assert res.exit_code == 0, res.output
    path = json.loads(res.output)["path"]
    common = ["--onnx", path, "--runtime", "ort-cpu", "--iters", 2, "--warmup", 0,
              "--parity-images", 4, "--artifacts", artifacts]
    res = cli("bench", *common, "--out", tmp_path / "meta")
    assert res.exit_code == 0, res.output
    (row,), _ = read_jsonl(tmp_path / "meta" / "results.jsonl")
    assert (row["arch"], row["form"], row["seed"], row["parity_passed"]) == ("resnext29_2x4d", "b", 2, True)
    # explicit --seed 0: the reference is built with seed 0, so it no longer matches the file
    res = cli("bench", *common, "--seed", 0, "--out", tmp_path / "given")
    assert res.exit_code == 1, res.output
    (row,), _ = read_jsonl(tmp_path / "given" / "results.jsonl")
    assert row["seed"] == 0 and row["form"] == "b" and row["parity_passed"] is False


def test_ort_cpu_records_the_pool_it_got(tmp_path):
    """ORT chooses its default intra-op pool itself (the physical cores); the row records the
    count of threads the session added plus the caller, so the busy-host rule sees the real
    pool. Asked sizes are counted the same way and agree."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from resnext_bench.runtimes.base import RuntimeOptions

    if ort_session.process_thread_count() is None:
        pytest.skip("needs /proc")
    weight = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "W")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "W"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weight])
    path = tmp_path / "conv.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    infos = {}
    for threads in (None, 1, 2):
        rt = get_runtime("ort-cpu", RuntimeOptions(threads=threads))
        rt.load(path)
        infos[threads] = rt.describe()
        rt.close()
    assert infos[1]["intra_op_threads_counted"] == 1 and infos[1]["threads_effective"] == 1
    assert infos[2]["intra_op_threads_counted"] == 2 and infos[2]["threads_effective"] == 2
    default = infos[None]["threads_effective"]
    assert default == infos[None]["intra_op_threads_counted"]
    assert isinstance(default, int) and 1 <= default <= len(os.sched_getaffinity(0))
