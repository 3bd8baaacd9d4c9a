"""Shared fixtures: one artifacts dir per test session so calibrated weights and exports are
built once; small archs and small images wherever the size does not matter."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory):
    return tmp_path_factory.mktemp("artifacts")


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


gpu = pytest.mark.skipif(not has_cuda(), reason="needs a CUDA GPU")
