"""Run the deployment resnext-bench tune chose: reads inference_config.json beside this file.

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
