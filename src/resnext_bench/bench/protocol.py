"""The messages between the parent (:mod:`.runner`) and its worker processes (:mod:`.worker`).

One measurement group runs like this::

    parent                                   prepare process (short-lived, one per group)
      PREPARE(jobs) ------------------------>  export / quantize, verify, parity reference
      <---------------- [Prepared | Failed]    one answer per job, in order
                                             measuring worker (one per job and process span)
      Worker(job, artifact)                    spawned with the verified Artifact
      LOAD -------------------------------->   load the artifact and the runtime, warm up
      <------------------------------ Loaded
      BLOCK ------------------------------->   one timed block (once per round)
      <------------------------------- Block
      FINISH ------------------------------>   host memory, settings, parity; then it exits
      <---------------------------- Finished
      STOP -------------------------------->   (instead of FINISH: end now, answer nothing)

A command is a :class:`Command`; an answer is one of the dataclasses below, or
:class:`Failed` (the job's row fails with that error, the run goes on) or :class:`Refused`
(bad user input, e.g. an unreadable weights file: the whole run stops with a usage error). A
worker answers one message per command and exits after ``FINISH``, ``STOP``, ``Failed`` or
``Refused``; a worker that dies instead is noticed by the parent while it waits
(:class:`~.worker.WorkerDied`). Everything here is pickled across a ``spawn`` pipe: plain
dataclasses of plain values, no torch or runtime objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from ..config import RunConfig
from ..core.schema import Combo
from ..exporters.artifact import Artifact
from ..runtimes.settings import RuntimeSettings


class Command(str, Enum):
    PREPARE = "prepare"
    LOAD = "load"
    BLOCK = "block"
    FINISH = "finish"
    STOP = "stop"


@dataclass(frozen=True)
class Job:
    """One configuration as a worker runs it: the run configuration pinned to the row's
    settings, the combination, whether it is timed (``parity`` is not), and the largest batch
    of a TensorRT profile (the ``profile_max_batch`` setting, resolved by :meth:`for_combo`)."""

    config: RunConfig
    combo: Combo
    timed: bool = True
    profile_max_batch: int | None = None

    @classmethod
    def for_combo(cls, config: RunConfig, combo: Combo, *, timed: bool = True) -> "Job":
        pinned = config.pinned(combo.settings)
        asked = pinned.tensorrt.profile_max_batch
        largest = max(pinned.plan.batches) if asked is None else asked
        return cls(pinned, combo, timed, max(combo.batch, largest))


# -- answers ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prepared:
    """The prepare process's answer for one job: the verified ONNX file (None for a runtime
    that takes the torch module) and the row's complexity fields."""

    artifact: Artifact | None
    complexity: dict


@dataclass(frozen=True)
class Loaded:
    """The worker loaded its artifact and runtime (and warmed up, when timed)."""

    load_seconds: float
    requests_per_call: int = 1
    warmup: int | None = None
    timing_method: str | None = None
    #: device memory after the load, while the group's other workers are idle
    device_memory: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Block:
    """One timed block: per-iteration latencies of the timed path, and of the end-to-end path
    (empty where it was not timed), in ms."""

    samples_ms: list
    end_to_end_ms: list
    #: a block under load (:class:`~.loadgen.Served` as a dict): its counts, wall and CPU
    #: seconds; None for one caller's block
    served: dict | None = None


@dataclass(frozen=True)
class Finished:
    """The worker's last answer: what the runtime ran with (its own typed settings), the
    precision it reports having run, host memory, the timing harness's wall time, parity."""

    settings: RuntimeSettings
    precision_executed: str | None
    host_memory: dict
    measure_seconds: float | None = None
    parity: dict | None = None


@dataclass(frozen=True)
class Failed:
    """The job failed: the row's ``error`` (``Type: message``) and the traceback's last lines."""

    error: str
    traceback_tail: list = field(default_factory=list)

    def row_fields(self) -> dict:
        out = {"status": "failed", "error": self.error}
        if self.traceback_tail:
            out["traceback_tail"] = list(self.traceback_tail)
        return out


@dataclass(frozen=True)
class Refused:
    """Bad user input found in the worker: the run stops with this one-line usage error."""

    message: str
