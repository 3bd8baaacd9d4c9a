"""Does the control feel what slows a configuration? (issue 49; not a test)

    python benchmarks/control_tracking.py --onnx FILE --out reports/cpu/compare-drift/control-tracking [--rounds 30]

Times, in interleaved rounds in one process (0.1 s pause before each block, as the runner
pauses), one block of the configuration (``--onnx`` on ORT CPU at ``--threads``), of the
version-1 control (three small convolutions, 1 thread, kept here for the comparison) and of
the current control (:mod:`resnext_bench.bench.control`) at 1 thread and at ``--threads``.
The first half of the rounds runs on the machine as it is, the second beside a neighbour (one
process spinning ``--neighbour-duty`` of each 20 ms). A control that tracks the machine moves
by the configuration's factor between the halves; its per-round quotient (configuration /
control) is as steady as the configuration itself in the quiet half.

Each control is read two ways, its block's median call and its block's mean call: a median of
short calls picks those that fell between a neighbour's bursts, the mean is the time-averaged
speed that a long call (the configuration's) also feels.

Writes ``record.json`` (every round's medians and means) and ``summary.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from compare_drift import NEIGHBOUR  # the same neighbour as the drift record's (benchmarks/ is on the path)


def control_v1() -> bytes:
    """Version 1 of the control (resnext-bench 0.2, replaced): 3 conv 3x3 on 3x64x64, 1 thread."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(20261206)

    def weight(name, shape):
        fan_in = int(np.prod(shape[1:]))
        return numpy_helper.from_array((rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32), name)

    inits = [weight("w1", (32, 3, 3, 3)), weight("w2", (32, 32, 3, 3)), weight("w3", (32, 32, 3, 3)),
             weight("fc", (10, 32)), numpy_helper.from_array(np.zeros(10, np.float32), "fc_b")]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("Conv", ["r2", "w3"], ["c3"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c3"], ["r3"]), helper.make_node("GlobalAveragePool", ["r3"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]), helper.make_node("Gemm", ["f", "fc", "fc_b"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "v1", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def session(model, threads):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads, so.log_severity_level = threads, 1, 3
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--neighbour-duty", type=float, default=0.5)
    args = ap.parse_args()
    from resnext_bench.bench.control import CONTROL_CALLS, CONTROL_INPUT, CONTROL_NAME, control_model
    from resnext_bench.bench.env import capture_env
    from resnext_bench.models.inputs import synthetic_images

    cfg = session(args.onnx, args.threads)
    size = cfg.get_inputs()[0].shape[-1]
    size = size if isinstance(size, int) else 224
    rng = np.random.default_rng(0)
    members = {  # name: (session, feeds, timed calls)
        "configuration": (cfg, {cfg.get_inputs()[0].name: synthetic_images(1, size, 1234)}, args.iters),
        "control v1 (1 thread)": (session(control_v1(), 1), {"x": rng.standard_normal((1, 3, 64, 64), dtype=np.float32)}, 40),
        "control v2, 1 thread": (session(control_model(), 1), {"x": rng.standard_normal(CONTROL_INPUT, dtype=np.float32)}, CONTROL_CALLS),
        f"control v2, {args.threads} threads": (session(control_model(), args.threads),
                                                {"x": rng.standard_normal(CONTROL_INPUT, dtype=np.float32)}, CONTROL_CALLS)}

    def block(name):
        s, feeds, calls = members[name]
        wake = time.perf_counter() + 0.03
        while time.perf_counter() < wake:
            s.run(None, feeds)
        out = []
        for _ in range(calls):
            t0 = time.perf_counter_ns()
            s.run(None, feeds)
            out.append((time.perf_counter_ns() - t0) / 1e6)
        return statistics.median(out), statistics.fmean(out)

    names = list(members)
    for n in names:
        block(n)
    medians = {n: [] for n in names}
    means = {n: [] for n in names}
    half = args.rounds // 2
    neighbour = None
    try:
        for r in range(args.rounds):
            if r == half:
                neighbour = subprocess.Popen([sys.executable, "-c", NEIGHBOUR, str(args.neighbour_duty)])
            order = names[r % len(names):] + names[:r % len(names)]
            for n in order:
                time.sleep(0.1)
                med, mean = block(n)
                medians[n].append(med)
                means[n].append(mean)
    finally:
        if neighbour is not None:
            neighbour.kill()
            neighbour.wait()
    cfg_log = np.log(medians["configuration"][:half])
    result = {}
    rows = [(n, medians[n]) for n in names] + [(n + ", block mean", means[n]) for n in names[1:]]
    for n, v in rows:
        v = np.asarray(v)
        quiet, busy = np.median(v[:half]), np.median(v[half:])
        q = cfg_log - np.log(v[:half])
        result[n] = {"quiet_ms": float(quiet), "neighbour_ms": float(busy), "factor": float(busy / quiet),
                     "quiet_sd_log": float(np.log(v[:half]).std()), "quiet_quotient_sd_log": float(q.std()),
                     "quiet_corr": float(np.corrcoef(cfg_log, np.log(v[:half]))[0, 1])}
    env = capture_env()
    record = {"machine": {k: env.get(k) for k in ("cpu", "cpu_flags", "cpu_count", "packages")},
              "onnx": Path(args.onnx).name, "threads": args.threads, "rounds": args.rounds,
              "neighbour": f"one process spinning {args.neighbour_duty:.0%} of each 20 ms",
              "control": CONTROL_NAME, "result": result, "medians_ms": medians, "means_ms": means}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "record.json").write_text(json.dumps(record, indent=1))
    lines = [f"# Does the control feel what slows the configuration? ({record['onnx']}, ort-cpu, {args.threads} threads)", "",
             f"Machine: {env.get('cpu')}, {env.get('cpu_count')} CPUs. {args.rounds} interleaved rounds, the second half "
             f"beside {record['neighbour']}.", "",
             "| member | quiet ms | beside the neighbour ms | factor | quiet round sd | quiet sd of configuration/member | quiet correlation |",
             "|---|---|---|---|---|---|---|"]
    for n, r in result.items():
        lines.append(f"| {n} | {r['quiet_ms']:.3f} | {r['neighbour_ms']:.3f} | {r['factor']:.2f}x | "
                     f"{r['quiet_sd_log']:.1%} | {r['quiet_quotient_sd_log']:.1%} | {r['quiet_corr']:+.2f} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
