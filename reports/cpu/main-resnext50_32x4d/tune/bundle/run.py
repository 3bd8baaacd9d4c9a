"""Run the deployment resnext-bench tune chose: reads inference_config.json beside this file.

python run.py  -> loads the artifact with the measured settings, runs it, prints the output
shape and the p50 of a few calls on this machine.
"""
import json
import pathlib
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
CFG = json.loads((HERE / "inference_config.json").read_text())


def load():
    x = np.random.default_rng(0).standard_normal(CFG["input_shape"]).astype(CFG["input_dtype"])
    if CFG["runtime"] == "openvino":
        import openvino as ov

        o = CFG["openvino"]
        compiled = ov.Core().compile_model(str(HERE / CFG["artifact"]), o["device"], o["config"])
        if o["infer_requests"] > 1:
            queue = ov.AsyncInferQueue(compiled, o["infer_requests"])

            def run():  # the measured call: that many requests in flight
                for _ in range(o["infer_requests"]):
                    queue.start_async({0: x})
                queue.wait_all()
                return queue[0].get_output_tensor(0).data
            return run
        request = compiled.create_infer_request()
        return lambda: request.infer({0: x})[compiled.output(0)]
    if CFG["runtime"].startswith("ort-"):
        import onnxruntime as ort

        o = CFG["onnxruntime"]
        so = ort.SessionOptions()
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, o["graph_optimization_level"])
        if o["intra_op_num_threads"]:
            so.intra_op_num_threads = o["intra_op_num_threads"]
        session = ort.InferenceSession(str(HERE / CFG["artifact"]), so, providers=o["providers"])
        return lambda: session.run(None, {CFG["input_name"]: x})[0]
    import torch
    from resnext_bench.models import build_model

    t = CFG["torch"]
    if CFG["threads"]:
        torch.set_num_threads(CFG["threads"])
    dtype = getattr(torch, t["dtype"])
    model = build_model(CFG["arch"], form=t["form"], seed=t["seed"], weights=t["weights"],
                        cache_dir="artifacts").eval().to(t["device"], dtype)
    xt = torch.from_numpy(x).to(t["device"], dtype)
    if t["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
        xt = xt.contiguous(memory_format=torch.channels_last)
    if t["compile_mode"]:
        model = torch.compile(model, mode=t["compile_mode"], backend="inductor", dynamic=False)

    def run():
        with torch.inference_mode():
            return model(xt).float().cpu().numpy()
    return run


def main():
    run = load()
    y = np.asarray(run())
    times = []
    for _ in range(10):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1e3)
    print(f"{CFG['runtime']} {CFG['precision']} batch {CFG['batch']}: output {list(y.shape)}, "
          f"p50 {sorted(times)[len(times) // 2]:.2f} ms over {len(times)} calls")


if __name__ == "__main__":
    main()
