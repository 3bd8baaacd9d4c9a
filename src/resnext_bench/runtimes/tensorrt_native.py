"""``tensorrt``: native TensorRT engine, written to the documented Python API (TensorRT 10/11).

NOT YET RUN on any machine: TensorRT's builder cannot be installed from the registries reachable
where this was written (the README says so). No number from it exists until a machine with
TensorRT runs it.

* Parse the ONNX with ``OnnxParser``; build with ``build_serialized_network`` and one
  optimization profile for the batch sizes asked (min 1, opt = measured batch, max).
* Precision: TensorRT 11 removed the weak-typing flags (``BuilderFlag.FP16``), so fp16 builds a
  STRONGLY_TYPED network from the real fp16 ONNX export (valid on 10.x too). fp32 clears
  ``BuilderFlag.TF32`` so fp32 parity means fp32.
* Workspace limit (``set_memory_pool_limit``), builder optimization level, a timing cache file per
  TensorRT version and GPU, and an engine cache keyed by ONNX sha256, TensorRT version, GPU,
  profile and builder settings.
* Execution: ``set_input_shape`` + ``set_tensor_address`` on torch CUDA tensors and
  ``execute_async_v3`` on a torch stream (CUDA events time it); optionally captured once into a
  CUDA graph and replayed.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from dataclasses import dataclass

from ..config import TensorRTOptions
from ..core.fileio import atomic_path, file_digest
from .base import Runtime
from .cuda_probe import cuda_status
from .packages import dist_version, module_present
from .settings import RuntimeSettings


#: TensorRT ``DataType`` names -> torch dtype attribute names (I/O tensors of an engine)
TRT_TO_TORCH = {"FLOAT": "float32", "HALF": "float16", "BF16": "bfloat16", "INT8": "int8",
                "INT32": "int32", "INT64": "int64", "BOOL": "bool", "UINT8": "uint8"}


@dataclass
class TensorRTSettings(RuntimeSettings):
    """A TensorRT engine as built: its optimization profile, the builder settings, TF32 and
    CUDA graphs."""

    engine_path: str | None = None
    input_name: str | None = None
    profile_min_opt_max: list | None = None
    precision: str | None = None
    strongly_typed: bool | None = None
    workspace_mb: int | None = None
    builder_opt_level: int | None = None
    image_size: int | None = None
    tf32: bool | None = None
    cuda_graph: bool | None = None

    SUMMARY = ("tf32", "cuda_graph", "builder_opt_level", "workspace_mb", "profile_min_opt_max")

    def code(self, row) -> str:
        """The ``trtexec`` line that builds the same engine."""
        size = row.image_size
        lo, opt, hi = self.profile_min_opt_max or (1, row.batch, row.batch)
        name = self.input_name or "input"
        args = ["trtexec", f"--onnx={row.onnx_path}",
                f"--saveEngine={Path(str(row.onnx_path)).stem}.engine",
                f"--minShapes={name}:{lo}x3x{size}x{size}", f"--optShapes={name}:{opt}x3x{size}x{size}",
                f"--maxShapes={name}:{hi}x3x{size}x{size}",
                f"--memPoolSize=workspace:{self.workspace_mb or TensorRTOptions.workspace_mb}M",
                "--builderOptimizationLevel="
                f"{TensorRTOptions.builder_opt_level if self.builder_opt_level is None else self.builder_opt_level}"]
        args.append("--stronglyTyped" if row.precision == "fp16" else "--noTF32")
        return " ".join(args)


def torch_dtype_for(torch, trt_dtype) -> object:
    """The torch dtype of an engine tensor, from ``engine.get_tensor_dtype`` (not from the
    precision setting: a strongly typed fp16 engine's output may be fp32, and vice versa)."""
    name = getattr(trt_dtype, "name", str(trt_dtype).split(".")[-1])
    if name not in TRT_TO_TORCH:
        raise RuntimeError(f"engine tensor dtype {name} is not supported")
    return getattr(torch, TRT_TO_TORCH[name])


class TensorRTRuntime(Runtime):
    name = "tensorrt"
    dependency_rank = 3
    search_options = (({"cuda_graph": True}, "CUDA graph replay: less launch overhead at batch 1"),)
    devices = ("cuda",)
    settings_type = TensorRTSettings

    @classmethod
    def available(cls):
        if not module_present("tensorrt"):
            return False, "tensorrt is not installed (pip install 'resnext-bench[tensorrt]' on a CUDA machine)"
        import tensorrt as trt

        if not hasattr(trt, "Builder"):
            return False, f"tensorrt {trt.__version__} is the lean/dispatch runtime: it cannot build engines"
        ok, reason = cuda_status()
        if not ok:
            return False, reason
        return True, f"tensorrt {trt.__version__}, {reason}"

    @classmethod
    def versions(cls):
        return {"tensorrt": dist_version("tensorrt") or dist_version("tensorrt-cu12")
                or dist_version("tensorrt-cu13")}

    # -- build ------------------------------------------------------------------------------
    def _engine_key(self, onnx_sha: str, trt, gpu: str, profile: tuple, settings: dict) -> str:
        blob = json.dumps({"onnx": onnx_sha, "trt": trt.__version__, "gpu": gpu,
                           "profile": profile, **settings}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def _build(self, trt, onnx_path: Path, profile: tuple, settings: dict, timing_path: Path):
        logger = self._logger
        builder = trt.Builder(logger)
        flags = 0
        if settings["strongly_typed"]:
            flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(str(onnx_path)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise RuntimeError(f"TensorRT could not parse {onnx_path.name}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings["workspace_mb"] << 20)
        config.builder_optimization_level = settings["builder_opt_level"]
        tf32_cleared = False
        if hasattr(trt.BuilderFlag, "TF32"):
            config.clear_flag(trt.BuilderFlag.TF32)
            tf32_cleared = True
        timing = config.create_timing_cache(timing_path.read_bytes() if timing_path.exists() else b"")
        config.set_timing_cache(timing, ignore_mismatch=False)
        prof = builder.create_optimization_profile()
        name = network.get_input(0).name
        size = settings["image_size"]
        mn, opt, mx = ((b, 3, size, size) for b in profile)
        prof.set_shape(name, mn, opt, mx)
        config.add_optimization_profile(prof)
        t0 = time.perf_counter()
        serialized = builder.build_serialized_network(network, config)
        build_s = time.perf_counter() - t0
        if serialized is None:
            raise RuntimeError("TensorRT engine build failed (see TensorRT log above)")
        with atomic_path(timing_path) as tmp:
            tmp.write_bytes(memoryview(config.get_timing_cache().serialize()))
        return bytes(serialized), build_s, tf32_cleared

    def load(self, onnx_path):
        import tensorrt as trt
        import torch

        self._torch, self._trt = torch, trt
        self._logger = trt.Logger(trt.Logger.WARNING)
        opts = self.options
        onnx_path = Path(onnx_path)
        cache = Path(opts.cache_dir or "artifacts") / "tensorrt"
        cache.mkdir(parents=True, exist_ok=True)
        gpu = torch.cuda.get_device_name(0)
        cc = "sm%d%d" % torch.cuda.get_device_capability(0)
        max_batch = opts.profile_max_batch
        profile = (1, opts.batch, max_batch)
        settings = {
            "precision": opts.precision, "strongly_typed": opts.precision == "fp16",
            "workspace_mb": opts.tensorrt.workspace_mb,
            "builder_opt_level": opts.tensorrt.builder_opt_level,
            "image_size": opts.image_size,
        }
        digest = opts.artifact_sha256 or file_digest(onnx_path)  # verified by the prepare step
        key = self._engine_key(digest, trt, f"{gpu}-{cc}", profile, settings)
        engine_path = cache / f"{onnx_path.stem}-{key}.engine"
        timing_path = cache / f"timing-trt{trt.__version__}-{cc}.cache"
        build_s, cache_hit, tf32_cleared = 0.0, engine_path.exists(), None
        if cache_hit:
            blob = engine_path.read_bytes()
        else:
            blob, build_s, tf32_cleared = self._build(trt, onnx_path, profile, settings, timing_path)
            with atomic_path(engine_path) as tmp:
                tmp.write_bytes(blob)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(blob)
        if self.engine is None:
            raise RuntimeError(f"TensorRT could not deserialize {engine_path}")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_name = next(n for n in names
                               if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        self.output_name = next(n for n in names
                                if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
        self.in_dtype = torch_dtype_for(torch, self.engine.get_tensor_dtype(self.input_name))
        self.out_dtype = torch_dtype_for(torch, self.engine.get_tensor_dtype(self.output_name))
        self.stream = torch.cuda.Stream()
        self._graph = None
        self._bound = None
        self.load_info = {
            "tensorrt_version": trt.__version__, "engine_path": str(engine_path),
            "input_name": self.input_name,
            "engine_bytes": len(blob), "engine_cache_hit": cache_hit,
            "engine_build_seconds": round(build_s, 3), "profile_min_opt_max": list(profile),
            "tf32": False if tf32_cleared or opts.precision == "fp32" else None,
            "cuda_graph": opts.cuda.cuda_graph, **settings,
        }

    def prepare(self, images):
        torch = self._torch
        with torch.cuda.stream(self.stream):
            x = torch.from_numpy(images).to("cuda", self.in_dtype).contiguous()
        self.stream.synchronize()
        if not self.context.set_input_shape(self.input_name, tuple(x.shape)):
            raise RuntimeError(f"TensorRT rejected input shape {tuple(x.shape)} "
                               f"(profile {self.load_info['profile_min_opt_max']})")
        out_shape = tuple(self.context.get_tensor_shape(self.output_name))
        out = torch.empty(out_shape, dtype=self.out_dtype, device="cuda")
        self.context.set_tensor_address(self.input_name, x.data_ptr())
        self.context.set_tensor_address(self.output_name, out.data_ptr())
        self._graph = None
        self._bound = (x, out)
        if self.load_info["cuda_graph"]:
            # one plain run lets TensorRT finish lazy allocations, then capture; a failed run
            # must not be captured into a graph that then replays nothing
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError("TensorRT execute_async_v3 failed before CUDA-graph capture")
            self.stream.synchronize()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, stream=self.stream):
                self.context.execute_async_v3(self.stream.cuda_stream)
            self._graph = graph
        return (x, out)

    def run(self, prepared):
        _x, out = prepared
        if self._graph is not None:
            with self._torch.cuda.stream(self.stream):
                self._graph.replay()
        elif not self.context.execute_async_v3(self.stream.cuda_stream):
            raise RuntimeError("TensorRT execute_async_v3 failed")
        return out

    def run_host(self, images):
        """End-to-end: H2D copy into the bound input buffer, execute, D2H copy, all on the
        engine's stream. Buffers (and a captured CUDA graph) are reused while the shape is the
        same, so the end-to-end loop times copies + compute, not re-binding or re-capture."""
        torch = self._torch
        if self._bound is None or tuple(self._bound[0].shape) != tuple(images.shape):
            self._bound = self.prepare(images)
        x, _out = self._bound
        with torch.cuda.stream(self.stream):
            x.copy_(torch.from_numpy(images))
            out = self.run(self._bound)
            host = out.float().cpu()  # synchronizes the stream
        return host.numpy()

    def to_numpy(self, out):
        self.stream.synchronize()
        return out.float().cpu().numpy()

    def synchronize(self):
        self.stream.synchronize()

    @property
    def cuda_stream(self):
        return self.stream

    def close(self):
        self._graph = None
        self._bound = None
        self.context = None
        self.engine = None
