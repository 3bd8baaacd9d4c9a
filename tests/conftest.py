"""Shared fixtures: one artifacts dir per test session so calibrated weights and exports are
built once; small archs and small images wherever the size does not matter."""

from __future__ import annotations

import os

import pytest

# The suite runs with the automatic layer-wise parity and the control workload off (each costs
# seconds a row or a group, and most tests are about something else); the tests of those
# features turn them on explicitly, and check the real defaults with these variables unset.
os.environ.setdefault("RESNEXT_BENCH_LAYERS", "off")
os.environ.setdefault("RESNEXT_BENCH_CONTROL", "off")


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory):
    return tmp_path_factory.mktemp("artifacts")


def run_config(**values):
    """A checked RunConfig from flat setting values (the same path as the CLI and the TOML)."""
    from resnext_bench.config import RunConfig

    return RunConfig.from_values(values)


@pytest.fixture
def cli():
    from click.testing import CliRunner

    from resnext_bench.cli import main

    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=True)

    return invoke


def has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def gpu(test):
    """A GPU test: marked ``gpu`` (``pytest -m gpu`` selects it) and skipped without CUDA."""
    return pytest.mark.gpu(pytest.mark.skipif(not has_cuda(), reason="needs a CUDA GPU")(test))


def gpu_test_runtimes() -> list[str]:
    """torch, plus ort-cuda whenever the imported ONNX Runtime is a GPU build (also when a CPU
    onnxruntime is installed beside it and shadowed): if that build then cannot run, the GPU
    test fails with the reason instead of silently leaving ort-cuda out."""
    from resnext_bench.runtimes.ort_build import ort_build
    from resnext_bench.runtimes.packages import module_present

    names = ["torch"]
    if module_present("onnxruntime") and "CUDAExecutionProvider" in ort_build()["providers"]:
        names.append("ort-cuda")
    return names

