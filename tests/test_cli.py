import json
import subprocess
import sys

import pytest


def test_version(cli):
    res = cli("--version")
    assert res.exit_code == 0 and "resnext-bench" in res.output


def test_list_json(cli):
    res = cli("list", "--json")
    assert res.exit_code == 0
    data = json.loads(res.output)
    names = [r["name"] for r in data["runtimes"]]
    assert names == ["torch", "torch-compile", "ort-cpu", "ort-cuda", "ort-trt", "tensorrt",
                     "openvino", "ort-openvino"]
    assert all(isinstance(r["available"], bool) and r["reason"] for r in data["runtimes"])
    assert "resnext50_32x4d" in data["examples"]


def test_info_json(cli):
    res = cli("info", "--arch", "resnext50_32x4d", "--json")
    data = json.loads(res.output)
    assert data["params"] == 25_028_904 and data["flops"] == 2 * data["macs"]
    assert [s["inner"] for s in data["stages"]] == [128, 256, 512, 1024]
    assert data["published"]["top1_error"] == 22.2 and data["published"]["error_source"].endswith("Table 3")
    assert data["torchvision"]["params"] == data["params"]  # counted = torchvision's published count
    text = cli("info", "--arch", "resnext50_2x40d").output
    assert "top-1 error 23.0 % on ImageNet-1K (arXiv 1611.05431 Table 3)" in text
    assert "no published number" in cli("info", "--arch", "resnext29_2x4d").output


@pytest.mark.parametrize("args", [
    ["info", "--arch", "resnext50_0x4d"],
    ["info", "--arch", "nonsense"],
    ["info", "--arch", "resnet50", "--image-size", "8"],
    ["export", "--arch", "resnet77"],
    ["export", "--arch", "resnet18", "--weights", "/no/such/file.pth"],
    ["export", "--arch", "resnet18", "--batch", "0"],
    ["export", "--arch", "resnet18", "--batch", "1,2"],
    ["export", "--arch", "resnet18", "--form", "d"],
    ["export", "--arch", "resnet18", "--opset", "99"],
    ["info", "--arch", "resnet50", "--image-size", "0"],
    ["info", "--arch", "resnet50", "--image-size", "100000"],
    ["export", "--arch", "resnet18", "--out", "/proc/forbidden/dir"],
    ["bench", "--arch", "resnet18", "--runtime", "nope"],
    ["bench", "--arch", "resnet18", "--runtime", "tensorrt"],
    ["bench", "--arch", "resnet18", "--runtime", "ort-cpu", "--batch", "x"],
    ["bench", "--arch", "resnet18", "--runtime", "ort-cpu", "--precision", "int4"],
    ["bench", "--runtime", "ort-cpu"],
    ["bench", "--arch", "resnet18", "--runtime", "ort-cpu", "--onnx", "/no/file.onnx"],
    ["parity", "--arch", "resnet18", "--runtime", "ort-cuda"],
])
def test_usage_errors_exit_2_one_line(cli, args):
    res = cli(*args)
    assert res.exit_code == 2, res.output
    # handled by the CLI (an escaped exception would be res.exception, not SystemExit) ...
    assert isinstance(res.exception, SystemExit), repr(res.exception)
    # ... and said in exactly one line on stderr
    assert res.stderr.startswith("error: ") and len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_unreadable_weights_exit_2(cli, tmp_path):
    bad = tmp_path / "w.pth"
    bad.write_text("garbage")
    res = cli("export", "--arch", "resnet18", "--image-size", 64, "--weights", bad, "--out", tmp_path)
    assert res.exit_code == 2 and "cannot read" in res.stderr and isinstance(res.exception, SystemExit)
    assert not list(tmp_path.glob("*.onnx"))  # nothing half-written


def test_console_script_subprocess(tmp_path):
    """The installed entry point behaves the same (exit code 2, one line on stderr)."""
    out = subprocess.run([sys.executable, "-m", "resnext_bench", "info", "--arch", "bad"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().startswith("error: bad arch name") and len(out.stderr.strip().splitlines()) == 1


def test_doctor_json(cli):
    res = cli("doctor", "--json")
    assert res.exit_code in (0, 1)  # 1 only when it found a problem, which it must then name
    data = json.loads(res.output)
    assert {"torch", "onnxruntime", "tensorrt", "runtimes"} <= set(data["sections"])
    assert (res.exit_code == 1) == bool(data["problems"])
