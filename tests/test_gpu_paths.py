"""The GPU paths, checked on CPU: provider options, the imported-build logic with a shadowed
CPU package, the availability probe's reason, TF32 handling, TensorRT dtypes, the offline set-up
script, and parity of the timed path.

With RESNEXT_BENCH_ORT_GPU_WHEEL=/path/onnxruntime_gpu-*.whl (this Python's tag), the shadowed
set-up is also checked against the real wheel (installed with ``pip --target``), as it arrives
on the lent GPU machines; without it, a stand-in wheel (tests/fake_ort.py) is used.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import fake_ort
from conftest import has_cuda, run_config
from resnext_bench.config import OrtOptions, TensorRTOptions
from resnext_bench.runtimes import ort_build as ort_build_mod
from resnext_bench.runtimes.base import RuntimeOptions
from resnext_bench.runtimes.ort_cuda import OrtCudaRuntime, cuda_provider_options
from resnext_bench.runtimes.ort_trt import OrtTrtRuntime, trt_provider_options

ROOT = Path(__file__).resolve().parents[1]
REAL_WHEEL = os.environ.get("RESNEXT_BENCH_ORT_GPU_WHEEL")


# ------------------------------------------------------------------------- provider options
def test_cuda_provider_options_fp32():
    opts = cuda_provider_options(OrtOptions(cudnn_algo="HEURISTIC"), stream_handle=0x7F00)
    assert opts["use_tf32"] == "0"  # the CUDA provider's default (1) would make fp32 TF32
    assert opts["has_user_compute_stream"] == "1" and opts["user_compute_stream"] == str(0x7F00)
    assert opts["cudnn_conv_algo_search"] == "HEURISTIC"
    with pytest.raises(ValueError, match="handle 0"):  # torch's default stream: ORT ignores it
        cuda_provider_options(OrtOptions(), stream_handle=0)


def test_runtime_provider_lists_carry_the_dedicated_stream(tmp_path):
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(ort_build_mod.probe_model_bytes())  # graph input is named "x"
    stream = SimpleNamespace(cuda_stream=4242)
    cuda = OrtCudaRuntime(RuntimeOptions(device="cuda"))
    cuda.stream = stream
    ((name, opts),) = cuda._provider_list()
    assert name == "CUDAExecutionProvider" and opts["user_compute_stream"] == "4242"

    trt = OrtTrtRuntime(RuntimeOptions(device="cuda", batch=8, max_batch=32, image_size=64,
                                       cache_dir=tmp_path, tensorrt=TensorRTOptions(workspace_mb=512)))
    trt.stream, trt._onnx_path = stream, onnx_file
    (t_name, t_opts), (c_name, c_opts) = trt._provider_list()
    assert (t_name, c_name) == ("TensorrtExecutionProvider", "CUDAExecutionProvider")
    assert t_opts["user_compute_stream"] == c_opts["user_compute_stream"] == "4242"
    # the profile names the graph's own input, not a hard-coded "input"
    assert t_opts["trt_profile_min_shapes"] == "x:1x3x64x64"
    assert t_opts["trt_profile_opt_shapes"] == "x:8x3x64x64"
    assert t_opts["trt_profile_max_shapes"] == "x:32x3x64x64"
    assert t_opts["trt_max_workspace_size"] == 512 << 20


def test_trt_provider_fp32_is_judged_as_tf32(monkeypatch):
    rt = OrtTrtRuntime(RuntimeOptions(device="cuda", precision="fp32"))
    monkeypatch.delenv("NVIDIA_TF32_OVERRIDE", raising=False)
    assert rt.parity_tolerance_key() == "tf32"
    monkeypatch.setenv("NVIDIA_TF32_OVERRIDE", "0")
    assert rt.parity_tolerance_key() == "fp32"
    assert OrtTrtRuntime(RuntimeOptions(precision="fp16")).parity_tolerance_key() == "fp16"
    opts = trt_provider_options(RuntimeOptions(precision="fp16"), "input", Path("/c"), 1)
    assert opts["trt_fp16_enable"] is True


def test_tensorrt_provider_needs_tensorrt_10(monkeypatch):
    from resnext_bench.runtimes import ort_trt

    monkeypatch.setattr(ort_trt, "module_present", lambda name: True)
    monkeypatch.setitem(sys.modules, "tensorrt", SimpleNamespace(__version__="11.0.0"))
    ok, reason = ort_trt.tensorrt_libraries_status()
    assert not ok and "links TensorRT 10" in reason and "11.0.0" in reason
    monkeypatch.setitem(sys.modules, "tensorrt", SimpleNamespace(__version__="10.13.3"))
    assert ort_trt.tensorrt_libraries_status() == (True, "tensorrt 10.13.3")


# ------------------------------------------------------------------------- TF32, TensorRT dtypes
def test_torch_fp32_ieee_sets_and_restores():
    import torch

    from resnext_bench.runtimes.torch_eager import fp32_ieee

    before = (torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision)
    torch.backends.cudnn.conv.fp32_precision = "tf32"
    restore = fp32_ieee(torch)
    assert torch.backends.cuda.matmul.fp32_precision == "ieee"
    assert torch.backends.cudnn.conv.fp32_precision == "ieee"
    restore()
    assert torch.backends.cudnn.conv.fp32_precision == "tf32"
    torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision = before


def test_tensorrt_io_dtypes_come_from_the_engine():
    import torch

    from resnext_bench.runtimes.tensorrt_native import torch_dtype_for

    assert torch_dtype_for(torch, SimpleNamespace(name="HALF")) is torch.float16
    assert torch_dtype_for(torch, SimpleNamespace(name="FLOAT")) is torch.float32
    with pytest.raises(RuntimeError, match="FP8"):
        torch_dtype_for(torch, SimpleNamespace(name="FP8"))


# ------------------------------------------------------------------ the availability probe
def test_loader_reason_names_the_missing_library():
    text = ("\x1b[1;31m2026 [E:onnxruntime:Default, provider_bridge_ort.cc:2458 operator()] ... "
            "Failed to load library /s/onnxruntime/capi/libonnxruntime_providers_cuda.so with error: "
            "libcublasLt.so.13: cannot open shared object file: No such file or directory\x1b[m\n"
            "[W:onnxruntime:Default] Failed to create CUDAExecutionProvider. Require cuDNN 9.*\n")
    assert ort_build_mod.loader_reason(text) == ("libonnxruntime_providers_cuda.so could not load: "
                                           "libcublasLt.so.13: cannot open shared object file: "
                                           "No such file or directory")
    assert "Failed to create CUDAExecutionProvider" in ort_build_mod.loader_reason(
        "[W:onnxruntime:Default] Failed to create CUDAExecutionProvider. Please install")


def test_probe_on_the_cpu_build_says_the_provider_does_not_load():
    import onnxruntime

    assert ort_build_mod.probe_provider(onnxruntime, "CPUExecutionProvider") == (True, "CPUExecutionProvider loads")
    ok, reason = ort_build_mod.probe_provider(onnxruntime, "CUDAExecutionProvider")
    assert not ok and reason


SHADOWED_CHECK = r"""
import json, sys
from click.testing import CliRunner
from resnext_bench.cli import main
from resnext_bench.runtimes.ort_build import ort_build
from resnext_bench.runtimes.registry import check_available
sys.path.insert(0, sys.argv[1])
from conftest import gpu_test_runtimes
build = ort_build()
doctor = CliRunner().invoke(main, ["doctor", "--json"])
print(json.dumps({"build": build, "ort_cuda": check_available("ort-cuda"),
                  "doctor": json.loads(doctor.output), "gpu_test_runtimes": gpu_test_runtimes()}))
"""


def _target_install(tmp_path) -> Path:
    site = tmp_path / "site"
    if REAL_WHEEL:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                        "--target", str(site), REAL_WHEEL], check=True)
    else:
        fake_ort.install_dir(site)
    return site


def test_gpu_build_first_on_pythonpath_beside_the_cpu_package(tmp_path):
    """The lent machines' set-up: CPU onnxruntime preinstalled, onnxruntime-gpu installed with
    --target and put first on PYTHONPATH. The imported GPU build is what counts: the CPU
    package is a note, not a conflict; ort-cuda's reason is the probe's (the missing CUDA
    library), and the GPU tests would collect ort-cuda."""
    site = _target_install(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(site))
    out = subprocess.run([sys.executable, "-c", SHADOWED_CHECK, str(ROOT / "tests")], env=env,
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout.strip().splitlines()[-1])
    build = data["build"]
    assert build["package"] == "onnxruntime-gpu" and build["cuda_version"] == "13.0"
    assert build["file"].startswith(str(site)) and build["shadowed"] == ["onnxruntime"]
    ok, reason = data["ort_cuda"]
    assert not ok and "conflicting" not in reason
    assert "does not load" in reason and "libcublas" in reason  # what the loader said
    doctor = data["doctor"]
    assert doctor["problems"] == []
    ort_lines = " ".join(doctor["sections"]["onnxruntime"])
    assert "imported: onnxruntime-gpu" in ort_lines and "shadowed: onnxruntime" in ort_lines
    assert data["gpu_test_runtimes"] == ["torch", "ort-cuda"]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to copy the checkout")
def test_setup_script_offline_with_a_wheel_folder(tmp_path):
    """scripts/setup.sh on a machine with no registry and its own torch: PIP_NO_INDEX=1, a
    local wheel folder, the system's packages reused (here: this venv's, exposed through a .pth
    file the way a system site-packages is seen), onnxruntime-gpu installed from the folder."""
    repo = tmp_path / "repo"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    wheels = tmp_path / "wheels"
    if REAL_WHEEL:
        wheels.mkdir()
        shutil.copy(REAL_WHEEL, wheels)
    else:
        fake_ort.build_wheel(wheels)
    base = getattr(sys, "_base_executable", sys.executable)
    # like a Python 3.12 venv (no setuptools of its own): pip and setuptools come from "the system"
    subprocess.run([base, "-m", "venv", "--system-site-packages", "--without-pip", str(repo / ".venv")],
                   check=True)
    (repo / ".venv" / ".resnext-bench-kind").write_text("system_torch=1\n")
    venv_site = next((repo / ".venv" / "lib").glob("python3*/site-packages"))
    this_site = next(p for p in sys.path if p.endswith("site-packages") and Path(p, "torch").is_dir())
    (venv_site / "zz_system.pth").write_text(this_site + "\n")  # after the venv's own packages
    env = dict(os.environ, PIP_NO_INDEX="1", WHEEL_DIR=str(wheels), ORT_EXTRA="gpu",
               SYSTEM_TORCH="1", PYTHON=base)
    env.pop("PYTHONPATH", None)
    out = subprocess.run(["bash", "scripts/setup.sh"], cwd=repo, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    py = repo / ".venv" / "bin" / "python"
    check = subprocess.run([str(py), "-c", "import json, resnext_bench, torch; "
                            "from resnext_bench.runtimes.ort_build import ort_build; b = ort_build(); "
                            "print(json.dumps([resnext_bench.__file__, b['package'], b['shadowed'], "
                            "torch.__file__]))"], capture_output=True, text=True, cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    mod_file, package, shadowed, torch_file = json.loads(check.stdout)
    assert mod_file.startswith(str(repo / "src"))  # editable install of this checkout
    assert package == "onnxruntime-gpu" and shadowed == ["onnxruntime"]
    assert torch_file.startswith(this_site)  # the machine's torch, not a new install
    doctor = subprocess.run([str(repo / ".venv" / "bin" / "resnext-bench"), "doctor"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert "imported: onnxruntime-gpu" in doctor.stdout and "PROBLEM" not in doctor.stdout


# ------------------------------------------------------------------------ the timed path
def test_parity_checks_the_timed_path(artifacts, monkeypatch):
    """Parity is computed on prepare+run (the path that is timed) and the end-to-end path must
    agree with it: a runtime whose run_host computes something else fails parity. (The
    worker's session, run in this process so the runtime can be patched.)"""
    from resnext_bench.bench.plan import combos
    from resnext_bench.bench.protocol import Job
    from resnext_bench.bench.session import ComboSession, prepare_job
    from resnext_bench.runtimes.ort_cpu import OrtCpuRuntime

    config = run_config(archs="wrn10_1", runtimes="ort-cpu", parity_images=4, artifacts=str(artifacts))
    (combo,) = combos(config, strict=True)
    job = Job.for_combo(config, combo, timed=False)
    artifact = prepare_job(job).artifact

    def parity():
        session = ComboSession(job, artifact)
        session.load()
        try:
            return session.parity()
        finally:
            session.close()

    good = parity()
    assert good["parity_passed"] and good["parity_paths_max_abs_diff"] == 0.0
    real = OrtCpuRuntime.run_host
    monkeypatch.setattr(OrtCpuRuntime, "run_host", lambda self, x: real(self, x) + 1.0)
    bad = parity()
    assert bad["parity_passed"] is False
    assert bad["parity_paths_max_abs_diff"] == pytest.approx(1.0, abs=1e-4)
    assert bad["parity_max_abs_err"] == good["parity_max_abs_err"]  # the timed path itself is fine


def test_end_to_end_loop_honours_min_time():
    from support.fakes import CountingRuntime

    from resnext_bench.bench.harness import time_end_to_end

    rt = CountingRuntime()
    rt.run_host = lambda x: rt.run(x)
    samples = time_end_to_end(rt, np.zeros((1, 3, 4, 4), np.float32), calls=2, seconds=0.05)
    assert len(samples) > 2


def test_gpu_check_without_a_gpu_says_so_and_exits_2(tmp_path):
    if has_cuda():  # before the script: on a GPU machine it would run the whole check
        pytest.skip("this machine has a GPU")
    env = dict(os.environ, PYTHON=sys.executable)
    out = subprocess.run(["bash", str(ROOT / "scripts" / "gpu-check.sh"), str(tmp_path), str(tmp_path / "o")],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("error: gpu-check needs a CUDA GPU:") and len(out.stderr.splitlines()) == 1
    assert not (tmp_path / "o").exists()
