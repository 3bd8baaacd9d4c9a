"""Processes and sweep files the fault tests share."""

from __future__ import annotations

import sys
from pathlib import Path


def _exe():
    return str(Path(sys.executable).with_name("resnext-bench"))


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def tiny_sweep(tmp_path, artifacts, parity: str = "parity_images = 2"):
    """A one-configuration sweep file (resnet18 at 32 px on ort-cpu)."""
    toml = tmp_path / "s.toml"
    toml.write_text('archs = ["resnet18"]\nruntimes = ["ort-cpu"]\nimage_sizes = [32]\n'
                    f'iters = 4\nrounds = 1\nwarmup = 1\n{parity}\nartifacts = "{artifacts}"\n')
    return toml
