"""resnext-bench: export the ResNeXt family to ONNX, run it on several runtimes, compare.

Importing the package is cheap: no torch, onnx or onnxruntime is imported here, so the CLI's
``--help`` stays fast. Heavy libraries are imported by the modules that need them.
"""

__version__ = "0.1.0"
