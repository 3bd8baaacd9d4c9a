"""The control: a fixed reference workload timed in every round of every run.

Why: ``compare`` of two stored runs judges configurations measured minutes or days apart, and a
shared machine drifts at that scale -- measured on a quiet 2-core EPYC, three back-to-back runs
of one configuration gave p50 43.65, 49.59 and 43.81 ms, each with tight rounds, so no
statistic from inside one run can see the 14 %. The control is one more member of each round
(interleaved with the run's configurations, in its own worker process): the same ONNX graph
with the same session settings on every machine, so its per-round times measure the machine's
speed during the run. ``compare`` divides each configuration's per-round medians by the
control's reading of the same round (its block's mean call) before judging
(:func:`resnext_bench.core.verdict.controlled_verdict`): a machine 13 % slower makes both 13 %
slower, and the quotient unchanged.

What it must feel is what slows the configurations: on a shared 2-vCPU host that is mostly the
other vCPU taken by a neighbour, and memory traffic. Version 1 (three small convolutions, one
thread, ~0.8 ms a call) felt neither: beside a process spinning half of every 20 ms
resnext50_32x4d on 2 threads ran 1.37x slower and version 1 1.00x
(``benchmarks/control_tracking.py``, ``reports/cpu/compare-drift/control-tracking``). Version 2
therefore

* runs with the **thread count of the configurations it controls** (one control worker per
  distinct count in the run; a row carries the control of its own count, ``control_threads``),
  so a lost core slows it as it slows them: 1.47x in that measurement, read as the block's mean
  call (the median of short calls keeps those that fell between the neighbour's bursts: 1.21x);
* is a small ResNeXt itself (:func:`control_model`): two grouped bottleneck blocks (256
  channels, 32 groups of 8, 28x28) and two 2048-wide 1x1 convolutions at 7x7 (32 MB of
  weights, beyond a core's L2): the family's grouped 3x3 and wide 1x1 kernels and a working set
  that feels memory contention; about 0.6 GMAC, 5-6 ms a call on 2 threads of the KVM Xeon
  (AMX) this was measured on.

``CONTROL_VERSION`` changes with the graph or settings; rows of other versions or thread counts
are not compared through it.
"""

from __future__ import annotations

import time

CONTROL_VERSION = 2
CONTROL_SEED = 20261207
#: timed calls per control block (~140 ms on 2 threads of the KVM Xeon, after ~30 ms untimed)
CONTROL_CALLS = 24
CONTROL_INPUT = (1, 256, 28, 28)
CONTROL_NAME = (f"control-v{CONTROL_VERSION}: ort-cpu at the rows' thread count, mini ResNeXt "
                "(2 grouped bottlenecks 256x28x28 g32, 2 1x1 2048x7x7; ~0.6 GMAC)")


def control_threads(threads: int | None) -> int:
    """The control's thread count for a row asking for ``threads`` (None: the CPUs this process
    may use, what an unpinned runtime takes)."""
    from .hostload import usable_cpus

    return int(threads) if threads else usable_cpus()


def control_model() -> bytes:
    """The control graph as ONNX bytes: built here, byte for byte the same on every machine."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(CONTROL_SEED)
    inits, nodes = [], []

    def conv(x, name, shape, **attrs):
        fan_in = int(np.prod(shape[1:]))
        inits.append(numpy_helper.from_array(
            (rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))), name))
        nodes.append(helper.make_node("Conv", [x, name], [name + "_y"], **attrs))
        nodes.append(helper.make_node("Relu", [name + "_y"], [name + "_r"]))
        return name + "_r"

    x = "x"
    for b in range(2):  # grouped bottlenecks with identity shortcuts (ResNeXt's stage-2 shape)
        h = conv(x, f"b{b}_reduce", (128, 256, 1, 1))
        h = conv(h, f"b{b}_group", (128, 4, 3, 3), pads=[1, 1, 1, 1], group=32)
        h = conv(h, f"b{b}_expand", (256, 128, 1, 1))
        nodes.append(helper.make_node("Add", [h, x], [f"b{b}_sum"]))
        x = f"b{b}_sum"
    x = conv(x, "wide_in", (2048, 256, 1, 1), strides=[4, 4])
    for i in range(2):  # wide 1x1s at 7x7 (the last stage's memory traffic)
        x = conv(x, f"wide{i}", (2048, 2048, 1, 1))
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["y"]))
    graph = helper.make_graph(nodes, "resnext_bench_control", [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, list(CONTROL_INPUT))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2048, 1, 1])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name=f"resnext-bench control v{CONTROL_VERSION}")
    model.ir_version = 8
    return model.SerializeToString()


class ControlSession:
    """The control loaded (ORT CPU, ``threads`` intra-op threads, one inter-op) and timed a
    block at a time."""

    def __init__(self, threads: int = 1):
        import numpy as np
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        self.session = ort.InferenceSession(control_model(), so, providers=["CPUExecutionProvider"])
        self.feeds = {"x": np.random.default_rng(CONTROL_SEED).standard_normal(CONTROL_INPUT).astype(np.float32)}
        for _ in range(5):  # warm-up
            self.session.run(None, self.feeds)

    def block(self, calls: int = CONTROL_CALLS) -> list[float]:
        run, feeds, clock = self.session.run, self.feeds, time.perf_counter_ns
        # untimed, ~30 ms: the caches the configuration before it evicted, and a core that was
        # idle through the settle pause (measured: a 25 ms block straight after a 0.1 s idle
        # pause moved 28 % between blocks)
        wake = time.perf_counter() + 0.03
        while time.perf_counter() < wake:
            run(None, feeds)
        samples = []
        for _ in range(calls):
            t0 = clock()
            run(None, feeds)
            samples.append((clock() - t0) / 1e6)
        return samples


def control_main(conn, job=None, artifact=None) -> None:
    """The control's worker process (:class:`~.worker.Worker` target; ``job``: its thread
    count): LOAD, then a BLOCK per round, until STOP or FINISH."""
    from .protocol import Block, Command, Loaded
    from .worker import parent_handles_signals, _send_quietly, failure

    parent_handles_signals()
    try:
        t0 = time.perf_counter()
        session = ControlSession(int(job or 1))  # at once: the group's prepare step runs meanwhile
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
