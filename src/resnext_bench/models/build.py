"""Assemble a ready-to-run model: template + weights + block form."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..core.errors import UsageError
from .blocks import Bottleneck, SplitBottleneck
from .nets import build_module
from .spec import ArchSpec, parse_arch
from .weightsource import is_trained_reference
from .weights import load_default_weights, load_weights_file


def convert_form(model: nn.Module, form: str) -> nn.Module:
    """Rewrite every grouped bottleneck of ``model`` into the paper's form ``form`` in place.

    Form c is the built form; a and b are exact re-arrangements of its tensors.
    """
    if form == "c":
        return model
    if form not in ("a", "b"):
        raise UsageError(f"--form must be a, b or c, got {form!r}")
    if not any(isinstance(m, Bottleneck) for m in model.modules()):
        raise UsageError(f"--form {form} needs a bottleneck arch (resnet50+, resnext*, wide_resnet*); "
                         "this arch has no grouped bottleneck")
    for parent in list(model.modules()):
        if isinstance(parent, nn.Sequential):
            for idx, child in enumerate(parent):
                if isinstance(child, Bottleneck):
                    parent[idx] = SplitBottleneck.from_grouped(child, form)
    return model


def build_model(spec: ArchSpec | str, *, form: str = "c", seed: int = 0,
                weights: str | Path | None = None, drop_path_rate: float = 0.0,
                cache_dir: str | Path | None = None, verify: bool = True, log=None,
                deadline: float | None = None) -> nn.Module:
    """The module of ``spec`` with its weights in form ``form``. ``log`` / ``deadline``: the
    trained reference's training, when it is not cached (:func:`.digits.train`)."""
    if isinstance(spec, str):
        spec = parse_arch(spec)
    if form not in ("a", "b", "c"):
        raise UsageError(f"--form must be a, b or c, got {form!r}")
    if not 0.0 <= drop_path_rate < 1.0:
        raise UsageError(f"drop_path_rate must be in [0, 1), got {drop_path_rate}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_module(spec, drop_path_rate)
    if is_trained_reference(weights):
        from .digits import trained_state

        trained_state(model, spec, seed, cache_dir, log=log, verify=verify, deadline=deadline)
    elif weights is not None:
        load_weights_file(model, weights)
    else:
        load_default_weights(model, spec, seed, cache_dir, verify=verify)
    model.eval()
    return convert_form(model, form).eval()
