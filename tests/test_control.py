"""The control workload: every round times it beside the run's configurations, and `compare`
divides the machine's drift out -- an unchanged configuration on a machine that drifted 14 % is
`unchanged`, a real 15 % slowdown on a steady machine is still a regression."""

from __future__ import annotations

import numpy as np

from resnext_bench.core.schema import ResultRow
from resnext_bench.core.verdict import (Outcome, control_elasticity, controlled_verdict, history_floor,
                                        unpaired_verdict)

ROUNDS = [43.6, 43.9, 43.5, 43.8, 43.7]
CONTROL = [1.00, 1.01, 0.99, 1.00, 1.005]


def _scaled(values, k, jitter=0.0, seed=0):
    rng = np.random.default_rng(seed)
    return [v * k * (1 + jitter * rng.standard_normal()) for v in values]


def test_the_machine_drifting_is_not_a_regression_and_a_real_slowdown_is():
    drift_new = _scaled(ROUNDS, 1.14, 0.002, 1)
    drift_ctrl = _scaled(CONTROL, 1.13, 0.002, 2)
    # without the control: the drift reads as a regression (the false alarm)
    assert unpaired_verdict(ROUNDS, drift_new, ROUNDS, drift_new, 0.05).verdict is Outcome.REGRESSION
    v = controlled_verdict(ROUNDS, drift_new, CONTROL, drift_ctrl, 0.05)
    assert v.verdict is Outcome.UNCHANGED, v.notes
    assert "1.14x slower, the control 1.13x slower" in v.notes[0]
    assert "the machine, not the change" in v.notes[0]
    # a real slowdown on a steady machine: still a regression through the control
    slow = controlled_verdict(ROUNDS, _scaled(ROUNDS, 1.15, 0.002, 3), CONTROL, _scaled(CONTROL, 1.0, 0.002, 4), 0.05)
    assert slow.verdict is Outcome.REGRESSION and slow.ci_low > 1.1
    # and one that happened while the machine drifted too (both at once)
    both = controlled_verdict(ROUNDS, _scaled(ROUNDS, 1.15 * 1.13, 0.002, 5), CONTROL,
                              _scaled(CONTROL, 1.13, 0.002, 6), 0.05)
    assert both.verdict is Outcome.REGRESSION and 1.12 < both.ratio < 1.18


def test_history_sets_a_floor_that_a_change_must_clear():
    assert history_floor([1.0, 1.01]) is None  # too few runs
    floor = history_floor([10.0, 11.4, 10.1, 11.3, 10.2, 11.5, 10.0])
    assert 0.1 < floor < 0.5
    new = _scaled(ROUNDS, 1.12)
    assert unpaired_verdict(ROUNDS, new, ROUNDS, new, 0.05).verdict is Outcome.REGRESSION
    v = unpaired_verdict(ROUNDS, new, ROUNDS, new, 0.05, floor=floor)
    assert v.verdict is Outcome.INCONCLUSIVE and "history" in " ".join(v.notes)
    within = _scaled(ROUNDS, 1.03)  # inside the threshold: unchanged, floor or not
    assert unpaired_verdict(ROUNDS, within, ROUNDS, within, 0.05, floor=floor).verdict is Outcome.UNCHANGED


def _row(rounds, control, **kw):
    return ResultRow(arch="resnet18", form="c", runtime="ort-cpu", device="cpu", precision="fp32",
                     batch=1, threads=2, image_size=64, status="ok", samples_ms=list(rounds) * 3,
                     round_medians_ms=list(rounds), latency_p50_ms=float(np.median(rounds)),
                     control_rounds_ms=control, control_version=1 if control else None,
                     control_threads=2 if control else None,
                     params=1, macs=1, **kw)


def test_compare_judges_through_the_control_where_both_runs_have_it():
    from resnext_bench.reports.compare import compare_rows

    base = _row(ROUNDS, CONTROL)
    drifted = _row(_scaled(ROUNDS, 1.14, 0.002, 1), _scaled(CONTROL, 1.13, 0.002, 2))
    [c] = compare_rows([base], [drifted], 0.05, history=[])
    assert c.verdict is Outcome.UNCHANGED and "the control 1.13x slower" in c.notes[0]
    # a base run from before the control existed: judged as before, and said so
    old = _row(ROUNDS, None)
    [c] = compare_rows([old], [drifted], 0.05, history=[])
    assert c.verdict is Outcome.REGRESSION and any("no control" in n for n in c.notes)
    # a control noisier than the configuration (20 % between rounds) is not divided by
    noisy = _row(_scaled(ROUNDS, 1.14, 0.002, 1), [1.13, 0.95, 1.15, 1.0, 1.12])
    [c] = compare_rows([base], [noisy], 0.05, history=[])
    assert c.verdict is Outcome.REGRESSION and any("too noisy a yardstick" in n for n in c.notes)
    # this machine's history of the configuration (control-normalized) sets the noise floor
    history = [{"key": base.config_key, "p50_ms": v, "control_ms": 1.0, "control_version": 1, "control_threads": 2}
               for v in (43.7, 50.0, 43.6, 49.8, 43.9, 49.5, 43.5)]
    wobbly = _row(_scaled(ROUNDS, 1.10, 0.002, 7), CONTROL)
    [c] = compare_rows([base], [wobbly], 0.05, history=history)
    assert c.verdict is Outcome.INCONCLUSIVE and "history" in " ".join(c.notes)
    [c] = compare_rows([base], [wobbly], 0.05, history=[])
    assert c.verdict is Outcome.REGRESSION


def test_each_row_carries_the_control_of_its_rounds(tmp_path):
    from conftest import run_config

    from resnext_bench.bench.control import CONTROL_VERSION
    from resnext_bench.bench.plan import combos
    from resnext_bench.bench.runner import Runner

    config = run_config(archs="wrn10_1", runtimes="ort-cpu", image_sizes=32, warmup=1, iters=3,
                        rounds=3, parity=False, control=True, artifacts=str(tmp_path / "art"))
    rows = Runner(config, tmp_path / "run").run(combos(config, strict=True))
    [row] = [r for r in rows if r.ok]
    assert row.control_version == CONTROL_VERSION
    assert len(row.control_rounds_ms) == len(row.round_medians_ms) == 3
    assert all(0 < c < 1000 for c in row.control_rounds_ms)
    two = run_config(archs="wrn10_1", runtimes="ort-cpu", image_sizes=32, warmup=1, iters=2,
                     rounds=2, parity=False, control=True, artifacts=str(tmp_path / "art"))
    [row] = [r for r in Runner(two, tmp_path / "run3").run(combos(two, strict=True)) if r.ok]
    assert row.control_rounds_ms is None  # under 3 rounds compare could not use it: not timed


def _history(key, pairs, threads=2):
    return [{"key": key, "p50_ms": p, "control_ms": c, "control_version": 1, "control_threads": threads}
            for p, c in pairs]


def test_the_history_learns_how_far_the_configuration_follows_the_control():
    # a machine with fast and slow spells: the control moves 16 %, the configuration 6 %
    # (the shape of a first, uncommitted ten-run try on the KVM Xeon)
    spells = [(37.6, 4.86), (40.4, 5.70), (37.9, 4.89), (40.0, 5.74), (38.2, 5.01), (40.6, 5.67)]
    beta = control_elasticity(*zip(*spells))
    assert 0.3 < beta < 0.5
    assert control_elasticity([40.0, 40.1, 39.9, 40.0], [5.0, 5.01, 4.99, 5.0]) is None  # control steady
    assert control_elasticity([40.0, 42.0], [5.0, 5.7]) is None  # too few runs
    from resnext_bench.reports.compare import compare_rows

    fast, slow_spell = [37.6, 37.8, 37.5, 37.7, 37.6], [4.85, 4.9, 4.87, 4.86, 4.88]
    base = _row(fast, slow_spell)
    # unchanged, in the machine's slow spell: the control 1.17x, the configuration 1.065x
    spell = _row(_scaled(fast, 1.065, 0.003, 1), _scaled(slow_spell, 1.17, 0.003, 2))
    history = _history(base.config_key, spells)
    [whole] = compare_rows([base], [spell], 0.05, history=[])  # divided by the control whole
    assert whole.verdict is Outcome.IMPROVEMENT  # over-corrected: the old rule's false call
    [c] = compare_rows([base], [spell], 0.05, history=history)
    assert c.verdict is Outcome.UNCHANGED, c.notes
    assert "control^0." in c.notes[0] and "6 earlier runs" in c.notes[0]
    # a real 1.15x slowdown in the same spell is still a regression
    slower = _row(_scaled(fast, 1.065 * 1.15, 0.003, 3), _scaled(slow_spell, 1.17, 0.003, 4))
    [c] = compare_rows([base], [slower], 0.05, history=history)
    assert c.verdict is Outcome.REGRESSION and 1.12 < c.ratio < 1.19, c.notes
    # a control that moved 20 % between rounds is used once the history has weighed it
    noisy = _row(_scaled(fast, 1.15, 0.003, 5), [4.9, 5.8, 4.9, 5.7, 4.95])
    [c] = compare_rows([base], [noisy], 0.05, history=[])
    assert any("too noisy a yardstick" in n for n in c.notes)
    [c] = compare_rows([base], [noisy], 0.05, history=history)
    assert not any("too noisy" in n for n in c.notes) and c.verdict is Outcome.REGRESSION
    # another thread count's control teaches nothing about this one
    [c] = compare_rows([base], [spell], 0.05, history=_history(base.config_key, spells, threads=1))
    assert c.verdict is Outcome.IMPROVEMENT


def test_rows_of_two_thread_counts_carry_the_control_of_their_own(tmp_path):
    from conftest import run_config

    from resnext_bench.bench.plan import combos
    from resnext_bench.bench.runner import Runner

    config = run_config(archs="wrn10_1", runtimes="ort-cpu", image_sizes=32, warmup=1, iters=3,
                        rounds=3, threads=[1, 2], parity=False, control=True, artifacts=str(tmp_path / "art"))
    rows = [r for r in Runner(config, tmp_path / "run").run(combos(config, strict=True)) if r.ok]
    assert sorted((r.threads, r.control_threads) for r in rows) == [(1, 1), (2, 2)]
    one, two = sorted(rows, key=lambda r: r.threads)
    assert len(one.control_rounds_ms) == len(two.control_rounds_ms) == 3
    assert one.control_rounds_ms != two.control_rounds_ms  # two controls, not one copied
