"""The tensors layer-wise parity compares, named by the model's own module paths.

A *tap* is one tensor of the network: ``stem`` (the tensor entering the first block),
``layer2.0.branch`` (block ``layer2.0``'s residual branch, the tensor entering its residual
Add), ``layer2.0`` (the block's output) and ``layer2`` (the stage's output, i.e. its last
block's). WRN stages are ``block1..3``, as its modules are named. The plan comes from the arch
spec alone (no torch), so a worker that runs an ONNX file names the same tensors as the torch
reference does; :class:`TapRecorder` gives them from a torch module by forward hooks.

The pre-activation WRN has no ``stem`` tap: its first block's shortcut reads the pre-activated
input, so the graph holds no single tensor both paths take that is the block's input (the
first block's branch still sees a stem fault).
"""

from __future__ import annotations

from dataclasses import dataclass

from .spec import ArchSpec, parse_arch


@dataclass(frozen=True)
class Tap:
    name: str  # "stem" | "layer2.0.branch" | "layer2.0" | "layer2"
    kind: str  # "stem" | "branch" | "block" | "stage"
    block: str | None = None  # the block's module path (branch, block); a stage: its last block


def stage_prefix(spec: ArchSpec) -> str:
    return "block" if spec.family == "cifar_wrn" else "layer"


def block_paths(spec: ArchSpec) -> list[list[str]]:
    """Module paths of the residual blocks, per stage, in network order."""
    prefix = stage_prefix(spec)
    return [[f"{prefix}{s + 1}.{b}" for b in range(n)] for s, n in enumerate(spec.layers)]


def tap_plan(arch) -> list[Tap]:
    """Every tap of ``arch`` (a name or :class:`ArchSpec`) in network order."""
    spec = arch if isinstance(arch, ArchSpec) else parse_arch(arch)
    taps = [] if spec.family == "cifar_wrn" else [Tap("stem", "stem")]
    prefix = stage_prefix(spec)
    for s, blocks in enumerate(block_paths(spec)):
        for path in blocks:
            taps.append(Tap(f"{path}.branch", "branch", path))
            taps.append(Tap(path, "block", path))
        if blocks:
            taps.append(Tap(f"{prefix}{s + 1}", "stage", blocks[-1]))
    return taps


def tensor_key(tap: Tap) -> str:
    """The tap whose tensor this one is: a stage's output is its last block's output, the same
    tensor (compared once, reported under both names)."""
    return tap.block if tap.kind == "stage" else tap.name


class TapRecorder:
    """Forward hooks that record the taps of ``plan`` from a torch module, installed once
    (torch.compile traces them into the compiled graph; new hooks would recompile it).

    The branch is the output of the block's ``drop_path`` (the identity in eval mode, the last
    op before the residual Add in every block class); the block's output its forward's result;
    ``stem`` the first block's input; a stage's output its last block's."""

    def __init__(self, model, plan: list[Tap]):
        self.plan = plan
        self.seen: dict[str, object] = {}
        self.handles = []
        modules = dict(model.named_modules())
        first_block = next((t.block for t in plan if t.kind == "block"), None)
        for tap in plan:
            if tap.kind == "branch" and f"{tap.block}.drop_path" in modules:
                self.handles.append(modules[f"{tap.block}.drop_path"].register_forward_hook(self._keep(tap.name)))
            elif tap.kind == "block" and tap.name in modules:
                self.handles.append(modules[tap.name].register_forward_hook(self._keep(tap.name)))
        if first_block in modules and any(t.kind == "stem" for t in plan):
            self.handles.append(modules[first_block].register_forward_pre_hook(self._keep_input("stem")))

    def _keep(self, name):
        def hook(_module, _inputs, output):
            self.seen[name] = output.detach().float().cpu().numpy().copy()
        return hook

    def _keep_input(self, name):
        def hook(_module, inputs):
            self.seen[name] = inputs[0].detach().float().cpu().numpy().copy()
        return hook

    def take(self) -> dict:
        """{tap name: float32 array} of the last forward (stages under their own names)."""
        out = {}
        for tap in self.plan:
            key = tensor_key(tap)
            if key in self.seen:
                out[tap.name] = self.seen[key]
        self.seen = {}
        return out

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []


def block_inputs(plan: list[Tap]) -> list[tuple[str, str]]:
    """(block path, the tap that is its input) for each block whose input is a tap: the stem
    for the first block, the previous block's output for the others."""
    out, prev = [], ("stem" if any(t.kind == "stem" for t in plan) else None)
    for tap in plan:
        if tap.kind == "block":
            if prev is not None:
                out.append((tap.name, prev))
            prev = tap.name
    return out


def local_reference(model, recorder: "TapRecorder", plan: list[Tap], taps: dict) -> dict:
    """The fp32 reference of each block run on the runtime's own input to it (``taps``: the
    runtime's tap arrays); {tap name: array} for its branch and output (and the stage it ends).
    The model's hooks (``recorder``) record them."""
    import numpy as np
    import torch

    modules = dict(model.named_modules())
    out = {}
    with torch.inference_mode():
        for path, source in block_inputs(plan):
            if source not in taps or path not in modules:
                continue
            x = torch.from_numpy(np.ascontiguousarray(taps[source], dtype=np.float32))
            modules[path](x)
            got = recorder.take()
            for tap in plan:
                if tap.block == path and tap.name in got:
                    out[tap.name] = got[tap.name]
    return out
