"""Every generated option of every measuring command, given a valid value, runs without a
traceback: ``export``, ``bench``, ``parity``, ``sweep`` (each setting as a TOML key),
``quantize`` and ``ab``. (``export --quant-activations`` once crashed with a TypeError because
the command split its settings by a name prefix; nothing tested every flag.)

The options are read from the commands themselves, so a setting added to the configuration is
tested here without a line of this file changing: a valid value is the setting's default, its
first choice, or a sample below; a setting that only some runtimes read is given with such a
runtime (``--compile-mode`` with torch-compile), an int8 setting with ``--precision int8``.
``export`` and ``quantize`` run for real on a small arch (cache hits after the first);
``bench`` and ``sweep`` plan with ``--dry-run``; ``parity`` and ``ab`` build their
configurations and plans for real and measure through a stand-in runner (a row per job,
skipped), since measuring each option would take minutes.
"""

from __future__ import annotations

import dataclasses

import pytest
from conftest import has_cuda

from resnext_bench import config as cfg
from resnext_bench.bench.runner import Runner
from resnext_bench.cli import main

ARCH = "wrn10_1"
#: values for settings whose default is None (nothing to pass)
SAMPLES = {"duration": 0.2, "warmup_time": 0.05, "parity_images": 4, "images": "builtin",
           "rtol": 0.01, "min_cosine": 0.99, "min_top1": 0.5, "max_accuracy_drop_pct": 1.0,
           "calib_images": "builtin", "quantizer": "ort",
           "int8_target": "tolerance", "profile_max_batch": 2, "threads": 1, "image_size": 32,
           "calib_count": 4, "int8_max_float": 0.1, "iters": 4, "rounds": 3, "warmup": 1,
           "weights": "WEIGHTS", "onnx": "ONNX", "image_sizes": 32, "ov_streams": 1, "archs": ARCH,
           "layers": True, "cpus": "0", "concurrency": 2, "request_rate": 5.0, "serve_slots": 2}
#: the CLI options that are not settings, with a valid value (None: a flag)
PLAIN = {"--out": "OUT", "--json": None, "--quiet": None, "--dry-run": None, "--force": None,
         "--format": "json", "--threshold": "0.05", "--artifacts": "ART", "--base-set": "batches=1",
         "--new-set": "batches=1", "--fail-on-inconclusive": None, "--form": "c",
         "--batch": "1", "--precision": "fp32", "--image-size": "32", "--arch": ARCH,
         "--onnx": "ONNX", "--settle-time": "0", "--junit": "JUNIT"}
#: the settings ab sets for both sides, the options a command has that the test gives itself
GIVEN = {"export": {"--arch", "--out"}, "quantize": {"--onnx", "--out"},
         "bench": {"--arch", "--dry-run", "--out"}, "parity": {"--arch"}, "ab": {"--out"}}


def _setting_name(param) -> str | None:
    return param.name if param.name in cfg._FIELDS else None


def _value(name: str) -> str:
    if name in SAMPLES:
        return str(SAMPLES[name])
    field = cfg._FIELDS[name]
    meta, default = field.metadata, field.default
    if isinstance(default, tuple):
        return str(default[0])
    if default is None and meta["choices"]:
        return str(meta["choices"][0])
    assert default is not None, f"no sample value for setting {name!r}: add one to SAMPLES"
    return str(default)


def _context(name: str | None, command: str) -> list[str]:
    """What makes a setting apply: a runtime that reads it, int8 for the int8 settings."""
    if name in {f.name for f in dataclasses.fields(cfg.QuantOptions)}:
        return [] if command == "quantize" else ["--precision", "int8"] + (
            [] if command == "export" else ["--runtime", "ort-cpu"])
    readers = [rt for rt, names in cfg.RUNTIME_SETTINGS.items() if name in names] \
        + list(cfg.RUNTIME_ONLY_OPTIONS.get(name, ()))
    if not readers or command == "export":
        return []
    cpu = [rt for rt in readers if rt not in ("ort-cuda", "ort-trt", "tensorrt")]
    if name == "serve_slots":  # the slots serve a load
        return ["--runtime", cpu[0], "--concurrency", "2"]
    if name in cfg.CUDA_ONLY_SETTINGS or not cpu:
        return ["--runtime", readers[0], "--device", "cuda"]
    return ["--runtime", cpu[0]]


def _options(command: str):
    """(flag, value or None, context) for each option of ``command``."""
    out = []
    for p in main.commands[command].params:
        if not p.opts or not p.opts[0].startswith("--") or p.opts[0] in GIVEN.get(command, ()):
            continue
        flag, name = p.opts[0], _setting_name(p)
        if p.is_flag:
            value = None
        elif command == "ab" and flag == "--runtime":
            value = "ort-cpu"  # ab measures ONNX files
        elif name is not None:
            value = _value(name)
        else:
            value = PLAIN[flag]
        out.append((flag, value, _context(name, command)))
    return out


def _cases(command):
    return [pytest.param(command, flag, value, ctx, id=f"{command} {flag}")
            for flag, value, ctx in _options(command)]


@pytest.fixture(scope="module")
def files(artifacts, tmp_path_factory):
    """An exported small file (``--onnx``) and the artifacts dir."""
    from resnext_bench.exporters.onnx_export import ExportConfig, export_onnx

    import torch

    from resnext_bench.models import build_model

    res = export_onnx(ExportConfig(arch=ARCH, image_size=32), artifacts)
    weights = tmp_path_factory.mktemp("weights") / f"{ARCH}.pt"
    torch.save(build_model(ARCH, seed=3).state_dict(), weights)
    return {"ONNX": str(res.path), "ART": str(artifacts), "WEIGHTS": str(weights)}


class _StandInRunner(Runner):
    """Measures nothing: a skipped row per job (the configuration and plan were built for real)."""

    def measure_group(self, jobs, emit=None):
        return [self.row(j.combo, j.config).skipped("stand-in runner").row for j in jobs]

    def run(self, combos, on_event=None):
        return [self.row(c).skipped("stand-in runner").row for c in combos]


def _invoke(command, args, monkeypatch):
    from click.testing import CliRunner

    from resnext_bench.bench import api

    monkeypatch.setattr(api, "Runner", _StandInRunner)
    return CliRunner().invoke(main, [command, *args], catch_exceptions=True)


def _check(res, allowed=(0,)):
    assert res.exception is None or isinstance(res.exception, SystemExit), \
        f"traceback: {res.exception!r}\n{res.output}"
    assert res.exit_code in allowed, res.output


def _fill(value, files, tmp_path):
    if value is None:
        return []
    named = {"OUT": str(tmp_path / "out"), "JUNIT": str(tmp_path / "junit.xml")}
    return [files.get(value, named.get(value, value))]


@pytest.mark.parametrize("command, flag, value, ctx", _cases("export") + _cases("quantize"))
def test_export_and_quantize_take_every_flag(command, flag, value, ctx, files, tmp_path, monkeypatch):
    base = (["--arch", ARCH, "--image-size", "32"] if command == "export" else ["--onnx", files["ONNX"]])
    args = base + ["--out", files["ART"]] + ctx + [flag] + _fill(value, files, tmp_path)
    if command == "export" and flag == "--image-size":
        args = ["--arch", ARCH, "--out", files["ART"], flag, "32"]
    _check(_invoke(command, args, monkeypatch))


@pytest.mark.parametrize("command, flag, value, ctx",
                         _cases("bench") + _cases("parity") + _cases("ab"))
def test_measuring_commands_take_every_flag(command, flag, value, ctx, files, tmp_path, monkeypatch):
    if command == "ab":
        args = [files["ONNX"], files["ONNX"], "--out", str(tmp_path / "ab"), "--format", "json"]
        if flag in ("--format",):
            args = args[:-2]
    elif command == "bench":
        args = ["--arch", ARCH, "--dry-run", "--out", str(tmp_path / "run")]
    else:
        args = ["--arch", ARCH]
    if flag == "--onnx":
        args = [a for a in args if a not in ("--arch", ARCH)]
    args += ["--artifacts", files["ART"]] if flag != "--artifacts" and command != "ab" else []
    args += ctx + [flag] + _fill(value, files, tmp_path)
    if flag not in ("--image-size", "--onnx") and command != "ab":
        args += ["--image-size", "32"]
    # the stand-in runner skips every row: parity and ab then exit 1 (nothing measured); a
    # setting only a GPU reads is refused in one line on a machine without one
    res = _invoke(command, args, monkeypatch)
    if "cuda" in ctx and not has_cuda():
        _check(res, allowed=(0, 1, 2))
        assert res.exit_code != 2 or (res.output.startswith("error: ")
                                      and res.output.count("\n") == 1), res.output
    else:
        _check(res, allowed=(0, 1))


def _toml_value(name: str, files: dict) -> str:
    kind = cfg._FIELDS[name].metadata["kind"]
    value = files.get(_value(name), _value(name))
    if kind in ("int", "int_list"):
        return value
    if kind == "float":
        return value
    if kind == "bool":
        return "true"
    return f'"{value}"'


def _toml_cases():
    names = [n for n in cfg._FIELDS if n not in ("archs", "runtimes")]
    return [pytest.param(n, id=f"sweep {n}") for n in names]


@pytest.mark.parametrize("name", _toml_cases())
def test_sweep_takes_every_setting_as_a_toml_key(name, files, tmp_path, monkeypatch):
    ctx = _context(name, "sweep")
    runtime = ctx[ctx.index("--runtime") + 1] if "--runtime" in ctx else "ort-cpu"
    lines = [f'archs = ["{ARCH}"]', f'runtimes = ["{runtime}"]', f'artifacts = "{files["ART"]}"']
    if "--precision" in ctx:
        lines.append('precisions = ["int8"]')
    if "--device" in ctx:
        lines.append('device = "cuda"')
    if "--concurrency" in ctx:
        lines.append("concurrency = 2")
    if name not in ("artifacts", "precisions", "device"):
        lines.append(f"{name} = {_toml_value(name, files)}")
    path = tmp_path / "sweep.toml"
    path.write_text("\n".join(lines) + "\n")
    _check(_invoke("sweep", [str(path), "--dry-run", "--out", str(tmp_path / "run")], monkeypatch))
    assert f"{name} = " not in "\n".join(lines) or res_ok(path)


def res_ok(path) -> bool:
    """The TOML key was read (a sweep config it did not know would be a usage error)."""
    from resnext_bench.bench.sweep import load_sweep_config

    return load_sweep_config(path) is not None
