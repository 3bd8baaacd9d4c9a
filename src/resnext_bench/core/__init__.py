"""The dependency-free core: result schema, statistics, parity metrics, complexity counting,
Pareto front, run-dir files, errors and crash-safe file writing.

Nothing here imports another layer of the package (the layer contract in ``pyproject.toml``
says so and CI checks it), and nothing here imports torch, onnx or onnxruntime at module level.
"""
