"""Worker entry points that inject faults inside the worker process (tests only): a patch made
in the test process does not reach a spawned worker, so the fault travels as the worker's
target function."""

from resnext_bench.bench.worker import worker_main


def ort_load_raises(conn, job, artifact=None):
    """ort-cpu's load raises MemoryError; every other runtime is untouched."""
    from resnext_bench.runtimes.ort_cpu import OrtCpuRuntime

    def boom(self, path):
        raise MemoryError("simulated out of memory")

    OrtCpuRuntime.load = boom
    worker_main(conn, job, artifact)


def ray_group_raises_for_wrn(config, group, identity):
    """A Ray task function that raises for the wrn10_1 group and measures the others."""
    from resnext_bench.bench.ray_executor import measure_group

    if group[0].arch == "wrn10_1":
        raise RuntimeError("simulated task failure")
    return measure_group(config, group, identity)


def reports_torch_import(conn, job, artifact=None):
    """The plain worker, which then writes whether it imported torch to a file named by its
    runtime and pid under ``$RESNEXT_BENCH_TEST_IMPORTS``."""
    import os
    import sys
    from pathlib import Path

    try:
        worker_main(conn, job, artifact)
    finally:
        out = os.environ.get("RESNEXT_BENCH_TEST_IMPORTS")
        if out:
            Path(out, f"{job.combo.runtime}-{os.getpid()}").write_text(str("torch" in sys.modules))


def refuses_to_reverify(conn, job, artifact=None):
    """The plain worker, in which exporting, hashing or checking an ONNX file raises: a measuring
    worker must load the prepare step's verified artifact as it is."""
    import onnx.checker

    import resnext_bench.core.fileio as fileio
    import resnext_bench.exporters.calibration as calibration
    import resnext_bench.exporters.int8 as int8
    import resnext_bench.exporters.onnx_export as onnx_export
    import resnext_bench.exporters.onnxfile as onnxfile
    import resnext_bench.exporters.quantize as quantize

    def refuse(*args, **kwargs):
        raise AssertionError("a measuring worker exported, hashed or checked its artifact again")

    for module, names in ((onnx_export, ("export_onnx", "verify_cached", "file_digest")),
                          (onnxfile, ("verify_cached", "onnx_provenance", "file_digest", "read_metadata")),
                          (quantize, ("quantize_onnx", "file_digest", "verify_cached")),
                          (int8, ("make_int8",)), (calibration, ("file_digest",)),
                          (fileio, ("file_digest",)),
                          (onnx.checker, ("check_model",))):
        for name in names:
            setattr(module, name, refuse)
    worker_main(conn, job, artifact)
