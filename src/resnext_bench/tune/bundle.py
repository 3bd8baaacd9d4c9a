"""The packaged answer of a ``tune``: a directory a deployment engineer can ship or hand on.

``BUNDLE/``:

* the artifact (the ONNX file the winner ran, copied; torch winners have none: the model is
  rebuilt from the package and its weights),
* ``inference_config.json``: everything the runtime needs, as measured -- runtime, precision,
  batch, threads, input name / shape / dtype, and per family the ORT session options and
  providers, the OpenVINO ``compile_model`` properties and infer requests, or the torch build
  (arch, form, seed, weights, dtype, channels_last, compile mode),
* ``run.py``: reads ``inference_config.json``, loads the artifact, runs it and prints the output
  shape and a p50 over a few calls (``python run.py``),
* ``metrics.json``: the winner's measured percentiles, throughput, memory, parity, the ratio to
  the default configuration and the search's record,
* ``report.md``: the run's report,
* ``openvino/`` (an OpenVINO pick: the IR and its compile config) and ``triton/`` (an ONNX
  Runtime or OpenVINO pick on the CPU: a Triton model repository, its ``config.pbtxt``
  checked against Triton's schema): :mod:`.server_formats`.

Olive packages its best candidate the same way (``BestCandidateModel_<rank>/`` with
``inference_config.json`` and ``metrics.json``); this one also says what it was compared with.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..config import runtime_spec
from ..core.errors import write_error_text
from ..core.fileio import (ensure_dir, replace_dir, temp_dir_beside, write_json_atomic,
                           write_text_atomic)
from ..exporters.onnxfile import external_data_files, onnx_provenance
from ..core.schema import ResultRow
from ..reports.deploy import runtime_settings
from ..runtimes.torch_eager import TORCH_DTYPES


def preprocessing(image_size: int) -> dict:
    """What the artifact expects of an image, as the parity and calibration inputs were made
    (``models/inputs.folder_images``): RGB, shorter side resized (bilinear) to size / 0.875,
    centre crop, scaled to [0, 1], ImageNet mean / std, NCHW."""
    from ..models.inputs import IMAGENET_MEAN, IMAGENET_STD

    return {"color": "RGB", "resize_shorter_side": int(round(image_size / 0.875)),
            "resize_interpolation": "bilinear", "center_crop": image_size, "scale": 1 / 255,
            "mean": [round(float(v), 6) for v in IMAGENET_MEAN],
            "std": [round(float(v), 6) for v in IMAGENET_STD], "layout": "NCHW"}


def inference_config(r: ResultRow, artifact_name: str | None) -> dict:
    """What the bundle's ``run.py`` reads: the measured configuration, nothing re-derived."""
    settings = runtime_settings(r)  # as the measured runtime recorded them
    fp16_file = (r.onnx_precision or r.precision) == "fp16"
    cfg = {"arch": r.arch, "runtime": r.runtime, "precision": r.precision,
           "precision_executed": r.precision_executed, "batch": r.batch, "threads": r.threads,
           "image_size": r.image_size, "settings": r.settings, "artifact": artifact_name,
           "artifact_sha256": r.onnx_sha256 if artifact_name else None,
           "input_name": "input", "input_shape": [r.batch, 3, r.image_size, r.image_size],
           "input_dtype": "float16" if fp16_file and runtime_spec(r.runtime).runs_onnx else "float32",
           "preprocessing": preprocessing(r.image_size)}
    loader = cfg["loader"] = runtime_spec(r.runtime).bundle  # which branch of run.py loads it
    if loader == "onnxruntime":
        so = settings.session_dict(r)  # as the measured session was created
        cfg["onnxruntime"] = {
            "graph_optimization_level": so["graph_optimization_level"],
            "intra_op_num_threads": so.get("intra_op_num_threads"),
            "providers": settings.providers or ["CPUExecutionProvider"]}
    elif loader == "openvino":
        cfg["openvino"] = {"device": settings.ov_device or "CPU",
                           "config": {k: v for k, v in (settings.compile_config or {}).items()
                                      if k != "CACHE_DIR"},
                           "infer_requests": settings.infer_requests or 1,
                           "inference_precision_read_back": settings.inference_precision}
    elif loader == "torch":
        cfg["torch"] = {"form": r.form, "seed": r.seed or 0,
                        "weights": None if r.weights in (None, "calibrated-default") else r.weights,
                        "dtype": TORCH_DTYPES.get(r.precision, "float32"), "device": r.device,
                        "channels_last": bool(settings.channels_last),
                        "compile_mode": settings.compile_mode if r.runtime == "torch-compile" else None}
    return cfg


RUN_PY = '''"""Run the deployment resnext-bench tune chose: reads inference_config.json beside this file.

python run.py IMAGE [IMAGE ...]  -> preprocesses each image as the artifact expects (the
  config's "preprocessing": resize, centre crop, mean / std, NCHW), runs them in batches of the
  measured batch size with the measured settings and prints the top-5 classes and scores of
  each image; class names from --labels FILE or labels.txt beside this file (one per line).
python run.py  -> random input: prints the output shape and the p50 of a few calls here.
"""
import json
import pathlib
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
CFG = json.loads((HERE / "inference_config.json").read_text())


def preprocess(path):
    """One image as the artifact expects it (Pillow: pip install pillow)."""
    from PIL import Image

    p = CFG["preprocessing"]
    img = Image.open(path).convert(p["color"])
    w, h = img.size
    scale = p["resize_shorter_side"] / min(w, h)
    size = p["center_crop"]
    img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    a = np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.float32) * p["scale"]
    a = (a - np.array(p["mean"], np.float32)) / np.array(p["std"], np.float32)
    return a.transpose(2, 0, 1)


def inputs(paths):
    """The batch the artifact takes: the images (the last repeated to fill a static batch)."""
    if not paths:
        return np.random.default_rng(0).standard_normal(CFG["input_shape"]).astype(CFG["input_dtype"])
    images = [preprocess(p) for p in paths]
    batch = CFG["input_shape"][0]
    images += [images[-1]] * (batch - len(images) % batch if len(images) % batch else 0)
    return np.stack(images).astype(CFG["input_dtype"])


def class_names(argv):
    """(names or None, the image paths): --labels FILE, else labels.txt beside this file."""
    names, paths = HERE / "labels.txt", list(argv)
    if "--labels" in paths:
        i = paths.index("--labels")
        if i + 1 >= len(paths):
            sys.exit("run.py: --labels needs a file (one class name per line)")
        names = pathlib.Path(paths[i + 1])
        del paths[i:i + 2]
    return (names.read_text().splitlines() if names.is_file() else None), paths


def load():
    """run(x): the artifact loaded once with the measured settings, called per batch."""
    loader = CFG.get("loader", "openvino" if CFG["runtime"] == "openvino" else
                     "onnxruntime" if CFG["runtime"].startswith("ort-") else "torch")  # older bundles
    if loader is None:
        sys.exit(f"run.py: no loader for runtime {CFG['runtime']}: load {CFG['artifact']} with "
                 "that runtime's own API and the settings in inference_config.json")
    if loader == "openvino":
        import openvino as ov

        o = CFG["openvino"]
        compiled = ov.Core().compile_model(str(HERE / CFG["artifact"]), o["device"], o["config"])
        if o["infer_requests"] > 1:
            queue = ov.AsyncInferQueue(compiled, o["infer_requests"])

            def run(x):  # the measured call: that many requests in flight
                for _ in range(o["infer_requests"]):
                    queue.start_async({0: x})
                queue.wait_all()
                return queue[0].get_output_tensor(0).data
            return run
        request = compiled.create_infer_request()
        return lambda x: request.infer({0: x})[compiled.output(0)]
    if loader == "onnxruntime":
        import onnxruntime as ort

        o = CFG["onnxruntime"]
        so = ort.SessionOptions()
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, o["graph_optimization_level"])
        if o["intra_op_num_threads"]:
            so.intra_op_num_threads = o["intra_op_num_threads"]
        session = ort.InferenceSession(str(HERE / CFG["artifact"]), so, providers=o["providers"])
        return lambda x: session.run(None, {CFG["input_name"]: x})[0]
    import torch
    from resnext_bench.models import build_model

    t = CFG["torch"]
    if CFG["threads"]:
        torch.set_num_threads(CFG["threads"])
    dtype = getattr(torch, t["dtype"])
    model = build_model(CFG["arch"], form=t["form"], seed=t["seed"], weights=t["weights"],
                        cache_dir="artifacts").eval().to(t["device"], dtype)
    if t["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    if t["compile_mode"]:
        model = torch.compile(model, mode=t["compile_mode"], backend="inductor", dynamic=False)

    def run(x):
        xt = torch.from_numpy(x).to(t["device"], dtype)
        if t["channels_last"]:
            xt = xt.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return model(xt).float().cpu().numpy()
    return run


def main():
    names, paths = class_names(sys.argv[1:])
    run = load()
    if paths:
        batch = CFG["input_shape"][0]
        for i in range(0, len(paths), batch):  # as many batches as the images need
            chunk = paths[i:i + batch]
            y = np.asarray(run(inputs(chunk)))[:len(chunk)]
            scores = np.exp(y - y.max(axis=1, keepdims=True))
            scores /= scores.sum(axis=1, keepdims=True)
            for path, s in zip(chunk, scores):
                top = np.argsort(-s)[:5]
                print(f"{path}: " + ", ".join(
                    f"class {int(k)}" + (f" ({names[k]})" if names and k < len(names) else "")
                    + f" {s[k]:.3f}" for k in top))
        return
    x = inputs([])
    y = np.asarray(run(x))
    times = []
    for _ in range(10):
        t0 = time.perf_counter()
        run(x)
        times.append((time.perf_counter() - t0) * 1e3)
    print(f"{CFG['runtime']} {CFG['precision']} batch {CFG['batch']}: output {list(y.shape)}, "
          f"p50 {sorted(times)[len(times) // 2]:.2f} ms over {len(times)} calls")


if __name__ == "__main__":
    main()
'''


def write_bundle(bundle_dir: str | Path, winner: ResultRow, metrics: dict,
                 report_md: str | None) -> Path:
    """Write the bundle (see the module doc): assembled in a temporary folder beside
    ``bundle_dir`` and moved into place whole, so an interrupt or a full disk leaves the old
    bundle or the new one, never a partial copy; the artifact (and its external data files)
    checked against the sha256 the row recorded. A write error names the bundle's file."""
    out = Path(bundle_dir)
    ensure_dir(out.parent, "bundle's folder")
    work = temp_dir_beside(out)
    name = None
    try:
        try:
            if winner.onnx_path and runtime_spec(winner.runtime).runs_onnx:
                src = Path(winner.onnx_path)
                name = src.name
                for f in [src, *external_data_files(src)]:
                    shutil.copyfile(f, work / f.relative_to(src.parent))
                if winner.onnx_sha256 and onnx_provenance(work / name)[0] != winner.onnx_sha256:
                    raise RuntimeError(f"{src} changed since it was measured (sha256 differs)")
            cfg = inference_config(winner, name)
            from .server_formats import write_server_formats

            cfg["server_formats"] = write_server_formats(work, winner, cfg, name)
            write_json_atomic(work / "inference_config.json", cfg)
            write_json_atomic(work / "metrics.json", metrics)
            write_text_atomic(work / "run.py", RUN_PY)
            if report_md is not None:
                write_text_atomic(work / "report.md", report_md)
        except OSError as exc:
            if write_error_text(exc) and (exc.filename2 or exc.filename):  # name the bundle's file
                where = Path(exc.filename2 or exc.filename)
                shown = out / where.name if work in where.parents or where.parent == work else where
                raise OSError(exc.errno, exc.strerror, str(shown)) from None
            raise
        replace_dir(work, out)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return out
