"""The control: a fixed, cheap reference workload timed in every round of every run.

Why: ``compare`` of two stored runs judges configurations measured minutes or days apart, and a
shared machine drifts at that scale -- measured on a quiet 2-core EPYC, three back-to-back runs
of one configuration gave p50 43.65, 49.59 and 43.81 ms, each with tight rounds, so no
statistic from inside one run can see the 14 %. The control is one more member of each round
(interleaved with the run's configurations, in its own worker process): the same small ONNX
graph with the same session settings on every machine, so its per-round times measure the
machine's speed during the run. ``compare`` divides each configuration's per-round medians by
the control's of the same round before judging (:func:`resnext_bench.core.verdict.
controlled_verdict`): a machine 13 % slower makes both 13 % slower, and the quotient unchanged.

The graph (:func:`control_model`): 3x64x64 input, three 3x3 convolutions (3->32->32->32, the
last with stride 2) with ReLU, global pooling and a 32->10 Gemm, weights from a fixed seed:
about 50 M multiply-adds, a few ms a call. It runs on ONNX Runtime's CPU provider with one
intra-op and one inter-op thread (the same everywhere; one thread also measures the core's speed
rather than how a pool shares cores). ``CONTROL_VERSION`` changes with the graph or settings;
rows of other versions are not compared through it.
"""

from __future__ import annotations

import time

CONTROL_VERSION = 1
CONTROL_SEED = 20261206
#: timed calls per control block (about 35 ms on a current x86 core, after ~20 ms untimed)
CONTROL_CALLS = 40
CONTROL_NAME = f"control-v{CONTROL_VERSION}: ort-cpu, 1 thread, 3 conv 3x3 on 3x64x64 (~50 MMAC)"


def control_model() -> bytes:
    """The control graph as ONNX bytes: built here, byte for byte the same on every machine."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(CONTROL_SEED)

    def weight(name, shape):
        fan_in = int(np.prod(shape[1:]))
        return numpy_helper.from_array((rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32), name)

    inits = [weight("w1", (32, 3, 3, 3)), weight("w2", (32, 32, 3, 3)), weight("w3", (32, 32, 3, 3)),
             weight("fc", (10, 32)), numpy_helper.from_array(np.zeros(10, np.float32), "fc_b")]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Conv", ["r2", "w3"], ["c3"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c3"], ["r3"]),
        helper.make_node("GlobalAveragePool", ["r3"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc", "fc_b"], ["y"], transB=1),
    ]
    graph = helper.make_graph(nodes, "resnext_bench_control", [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name=f"resnext-bench control v{CONTROL_VERSION}")
    model.ir_version = 8
    return model.SerializeToString()


class ControlSession:
    """The control loaded (ORT CPU, one thread each way) and timed a block at a time."""

    def __init__(self):
        import numpy as np
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        self.session = ort.InferenceSession(control_model(), so, providers=["CPUExecutionProvider"])
        self.feeds = {"x": np.random.default_rng(CONTROL_SEED).standard_normal((1, 3, 64, 64)).astype(np.float32)}
        for _ in range(5):  # warm-up
            self.session.run(None, self.feeds)

    def block(self, calls: int = CONTROL_CALLS) -> list[float]:
        run, feeds, clock = self.session.run, self.feeds, time.perf_counter_ns
        # untimed, ~20 ms: the caches the configuration before it evicted, and a core that was
        # idle through the settle pause (measured: a 25 ms block straight after a 0.1 s idle
        # pause moved 28 % between blocks)
        wake = time.perf_counter() + 0.02
        while time.perf_counter() < wake:
            run(None, feeds)
        samples = []
        for _ in range(calls):
            t0 = clock()
            run(None, feeds)
            samples.append((clock() - t0) / 1e6)
        return samples


def control_main(conn, job=None, artifact=None) -> None:
    """The control's worker process (:class:`~.worker.Worker` target): LOAD, then a BLOCK per
    round, until STOP or FINISH."""
    from .protocol import Block, Command, Loaded
    from .worker import parent_handles_signals, _send_quietly, failure

    parent_handles_signals()
    try:
        t0 = time.perf_counter()
        session = ControlSession()  # at once: the group's prepare step runs meanwhile
        loaded = round(time.perf_counter() - t0, 3)
        while True:
            command = conn.recv()
            if command == Command.LOAD:
                conn.send(Loaded(loaded))
            elif command == Command.BLOCK:
                conn.send(Block(session.block(), []))
            else:
                return
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return
    except Exception as exc:  # noqa: BLE001 -- the parent drops the control, the run goes on
        _send_quietly(conn, failure(exc))
