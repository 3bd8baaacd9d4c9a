"""The ``resnext-bench`` command line: each command parses, calls one function, prints.

Nothing heavy is imported at module level (no torch, onnx, onnxruntime, tensorrt, pandas,
numpy): the options of ``bench`` / ``parity`` are generated from the typed settings of
:mod:`resnext_bench.config` (pure Python, :mod:`.options`), and each command imports what it
needs when it runs, so ``--help`` is instant and a command for one runtime never loads another's
library.

One module per command group, each registering its commands on the group (:mod:`.app`):
:mod:`.machine` (``list``, ``info``, ``doctor``), :mod:`.files` (``export``, ``quantize``),
:mod:`.measure` (``bench``, ``parity``, ``sweep``, ``merge``), :mod:`.verdicts` (``report``,
``compare``, ``baseline``, ``ab``, ``recommend``), :mod:`.tuning` (``tune``); progress lines in
:mod:`.progress`.

Exit codes (the contract CI scripts rely on): 0 ok; 1 a regression was found or a check failed;
2 usage or input error (one line on stderr, no traceback); 3 (``ab`` / ``compare`` with
``--fail-on-inconclusive``) no regression, but a verdict could not be reached.
"""

from __future__ import annotations

from . import files, machine, measure, tuning, verdicts  # noqa: F401 -- each registers its commands
from .app import DEFAULT_BASELINE_STORE, INCONCLUSIVE_EXIT, main
from .measure import _exit_for

__all__ = ["main", "DEFAULT_BASELINE_STORE", "INCONCLUSIVE_EXIT", "_exit_for"]
