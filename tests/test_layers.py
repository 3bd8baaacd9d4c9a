"""The package's shape: the layer contract, and every module importing without the optional
heavy dependencies (Polygraphy's habit, with the dependencies really absent)."""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Runs in a fresh interpreter with onnxruntime, tensorrt and OpenVINO blocked: `import onnxruntime`
# raises ImportError there, as on a machine without them.
BLOCKED = textwrap.dedent("""
    import sys
    for name in ("onnxruntime", "tensorrt", "openvino", "onnxruntime_ep_openvino", "sklearn"):
        sys.modules[name] = None
    import importlib, json, pkgutil
    import resnext_bench
    failed = {}
    for mod in pkgutil.walk_packages(resnext_bench.__path__, "resnext_bench."):
        if mod.name == "resnext_bench.__main__":
            continue
        try:
            importlib.import_module(mod.name)
        except Exception as exc:
            failed[mod.name] = repr(exc)
    from click.testing import CliRunner
    from resnext_bench.cli import main
    runner = CliRunner()
    results = {}
    for args in json.loads(sys.argv[1]):
        res = runner.invoke(main, args)
        results[" ".join(args[:2])] = [res.exit_code, res.output, repr(res.exception)]
    print(json.dumps({"failed": failed, "results": results}))
""")


def test_layer_contract():
    """cli -> bench | reports -> exporters | runtimes -> config -> models -> core, and no circle
    between the modules of any package, checked by import-linter (function-local imports
    included, so a cycle cannot hide in one)."""
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter is not installed (pip install 'resnext-bench[test]')")
    out = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 kept, 0 broken" in out.stdout


def test_a_circle_inside_a_package_breaks_the_contract(tmp_path):
    """The three circles once inside bench/, exporters/ and models/ cannot come back unseen: a
    function-local import that closes one (history -> runner -> rows -> history) is caught."""
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter is not installed")
    pkg = tmp_path / "resnext_bench"
    shutil.copytree(ROOT / "src" / "resnext_bench", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    with open(pkg / "bench" / "history.py", "a") as f:
        f.write("\n\ndef _sneaky():\n    from .runner import SETTLE_S  # noqa: F401\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    out = subprocess.run([exe, "--no-cache"], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 1, out.stdout + out.stderr
    assert "no import circle between the modules of any package BROKEN" in out.stdout
    assert "No cycles are allowed in resnext_bench.bench" in out.stdout


def test_layer_contract_catches_a_hidden_upward_import(tmp_path):
    """The check is real: a function-local import of bench from core breaks the contract."""
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter is not installed")
    pkg = tmp_path / "resnext_bench"
    shutil.copytree(ROOT / "src" / "resnext_bench", pkg,
                    ignore=shutil.ignore_patterns("__pycache__"))
    with open(pkg / "core" / "stats.py", "a") as f:
        f.write("\n\ndef _sneaky():\n    from ..bench import runner  # noqa: F401\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    out = subprocess.run([exe, "--no-cache"], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 1 and "BROKEN" in out.stdout, out.stdout + out.stderr
    assert "resnext_bench.core.stats -> resnext_bench.bench.runner" in out.stdout


def test_everything_imports_and_reads_without_onnxruntime_or_tensorrt(tmp_path):
    from support.rows import make_rows, write_run

    run = write_run(tmp_path / "run", make_rows())
    commands = [["--help"], ["list", "--json"], ["info", "--arch", "resnet18"],
                ["report", str(run)], ["compare", str(run), str(run)], ["recommend", str(run)],
                ["bench", "--help"]]
    out = subprocess.run([sys.executable, "-c", BLOCKED, json.dumps(commands)], capture_output=True,
                         text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["failed"] == {}
    for name, (code, output, exc) in data["results"].items():
        assert code == 0, (name, output, exc)
    runtimes = {r["name"]: r for r in json.loads(data["results"]["list --json"][1])["runtimes"]}
    for name in ("ort-cpu", "ort-cuda", "ort-trt"):
        assert not runtimes[name]["available"] and "onnxruntime" in runtimes[name]["reason"]
    assert not runtimes["tensorrt"]["available"] and runtimes["torch"]["available"]
    assert not runtimes["openvino"]["available"] and "pip install" in runtimes["openvino"]["reason"]
    assert not runtimes["ort-openvino"]["available"] and "onnxruntime" in runtimes["ort-openvino"]["reason"]


def test_help_imports_nothing_heavy():
    code = ("import sys, time; t = time.perf_counter(); from resnext_bench.cli import main\n"
            "try:\n    main(['bench', '--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'onnx', 'onnxruntime', 'tensorrt', 'pandas', 'matplotlib', 'numpy',"
            " 'openvino', 'sklearn')"
            " if m in sys.modules]\nprint('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout
