"""A stand-in for the onnxruntime-gpu wheel, for CPU tests of the GPU set-up.

It has what the clash logic and the availability probe look at: the build info
(``package_name = 'onnxruntime-gpu'``, ``cuda_version``), the providers a GPU build lists, and a
session that falls back to CPU while printing ONNX Runtime's own loader error to stderr, as the
real wheel does on a machine without the CUDA libraries. :func:`build_wheel` packs it as a wheel
(for the set-up script's offline install); :func:`install_dir` lays it out as ``pip install
--target`` would.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

VERSION = "1.31.1"

INIT = '''
import os
__version__ = "{version}"
FAKE = True

def get_available_providers():
    return ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]

class SessionOptions:
    log_severity_level = 2

class InferenceSession:
    def __init__(self, model, options=None, providers=None):
        os.write(2, b"\\x1b[1;31m2026-11-23 [E:onnxruntime:Default, provider_bridge_ort.cc:2458 operator()] "
                    b"[ONNXRuntimeError] : 1 : FAIL : Failed to load library "
                    b"/x/onnxruntime/capi/libonnxruntime_providers_cuda.so with error: "
                    b"libcublasLt.so.13: cannot open shared object file: No such file or directory\\x1b[m\\n")
        self._providers = ["CPUExecutionProvider"]

    def get_providers(self):
        return self._providers
'''
BUILD_INFO = 'package_name = "onnxruntime-gpu"\n__version__ = "{version}"\ncuda_version = "13.0"\n'
METADATA = "Metadata-Version: 2.1\nName: onnxruntime-gpu\nVersion: {version}\n"
WHEEL = "Wheel-Version: 1.0\nGenerator: resnext-bench-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def _files() -> dict[str, str]:
    dist = f"onnxruntime_gpu-{VERSION}.dist-info"
    files = {
        "onnxruntime/__init__.py": INIT.format(version=VERSION),
        "onnxruntime/capi/__init__.py": "",
        "onnxruntime/capi/build_and_package_info.py": BUILD_INFO.format(version=VERSION),
        f"{dist}/METADATA": METADATA.format(version=VERSION),
        f"{dist}/WHEEL": WHEEL,
        f"{dist}/top_level.txt": "onnxruntime\n",
    }
    files[f"{dist}/RECORD"] = "".join(f"{name},,\n" for name in files) + f"{dist}/RECORD,,\n"
    return files


def install_dir(target: Path) -> Path:
    """The fake GPU build laid out like ``pip install --target target``."""
    for name, text in _files().items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return target


def build_wheel(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"onnxruntime_gpu-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name, text in _files().items():
            z.writestr(name, text)
    return path
