"""Compact text table of result rows for the terminal (no pandas needed)."""

from __future__ import annotations

from ..core.schema import F, ResultRow, settings_suffix
from .tables import cell, table_notes, text_table

#: (schema field, title, format spec) of `bench`'s table
BENCH_COLUMNS = [
    (F.arch, "arch", "s"), (F.form, "form", "s"), (F.runtime, "runtime", "s"), (F.device, "dev", "s"),
    (F.precision, "prec", "s"), (F.batch, "batch", "d"), (F.threads, "thr", "s"),
    (F.latency_p50_ms, "p50 ms", ".2f"), (F.latency_p99_ms, "p99 ms", ".2f"), (F.latency_n, "n", "d"),
    (F.round_spread, "spread", ".1%"),
    (F.throughput_ips, "img/s", ".1f"), (F.parity_max_rel_err, "max rel", ".1e"),
    (F.parity_top1_agreement, "top1", ".2f"), (F.parity_passed, "parity", "s"), (F.status, "status", "s"),
]
#: added before the parity column when any row was measured on labeled images
ACCURACY_COLUMNS = [(F.accuracy_top1, "acc", ".2%"), (F.accuracy_top1_drop, "drop pt", "+.2f")]
#: `parity`'s table
PARITY_COLUMNS = [
    (F.arch, "arch", "s"), (F.runtime, "runtime", "s"), (F.precision, "prec", "s"),
    (F.batch, "batch", "d"), (F.parity_max_abs_err, "max abs", ".2e"),
    (F.parity_max_rel_err, "max rel", ".2e"), (F.parity_cosine, "cosine", ".6f"),
    (F.parity_top1_agreement, "top1", ".3f"), (F.parity_top5_agreement, "top5", ".3f"),
    (F.parity_passed, "result", "s"), (F.status, "status", "s"),
]


#: added after the threads column when any row runs non-default runtime settings
SETTINGS_COLUMN = (F.settings, "settings", "s")


def _format(v, spec: str) -> str:
    if isinstance(v, bool):
        return "pass" if v else "FAIL"
    if isinstance(v, dict):
        return settings_suffix(v) or "-"
    if spec == "s":
        return str(v)
    try:
        return format(v, spec)
    except (TypeError, ValueError):
        return str(v)


#: the layer-wise verdict beside the row's: "pass 37", "FAIL layer2.1", "-" (not compared)
LAYERS_COLUMN = ("layers", "layers", "s")


def layers_cell(row) -> str:
    if not row.parity_layers_compared:
        return "-"
    if row.parity_layers_passed:
        return f"pass {row.parity_layers_compared}"
    first = (row.parity_layers_first_failure or "?").split()[0]
    return f"FAIL {first}"


def layer_profiles(rows) -> str:
    """``parity --layers``: each row's per-layer table, with where its taps came from."""
    from ..core.layerwise import profile_table

    out = []
    for r in rows:
        if r.parity_layers_profile:
            out.append(f"{r.arch} {r.runtime} {r.precision} b{r.batch}: layer-wise "
                       f"{'pass' if r.parity_layers_passed else 'FAIL'} "
                       f"({r.parity_layers_source}; local = the fp32 block on this runtime's own input)")
            out.append(profile_table(r.parity_layers_profile))
            for note in (r.parity_layers_notes or []) + (
                    [f"not matched: {', '.join(r.parity_layers_unmatched)}"] if r.parity_layers_unmatched else []):
                out.append(f"  note: {note}")
        elif r.parity_layers_skipped:
            out.append(f"{r.arch} {r.runtime} {r.precision} b{r.batch}: layer-wise not run: {r.parity_layers_skipped}")
    return "\n".join(out)


def rows_table(rows: list[ResultRow], columns=BENCH_COLUMNS) -> str:
    columns = list(columns)
    keys = [c[0] for c in columns]
    if any(r.settings for r in rows):  # after threads (bench) or batch (parity): rows differ there
        anchor = F.threads if F.threads in keys else F.batch
        columns.insert(keys.index(anchor) + 1, SETTINGS_COLUMN)
    if any(r.accuracy_top1 is not None for r in rows):
        at = [c[0] for c in columns].index(F.parity_passed)
        columns[at:at] = ACCURACY_COLUMNS
    if any(r.parity_layers_compared for r in rows) and F.parity_passed in [c[0] for c in columns]:
        at = [c[0] for c in columns].index(F.parity_passed)
        columns[at:at] = [LAYERS_COLUMN]
    body = [[layers_cell(r) if key == "layers" else cell(r, key, lambda v, spec=spec: _format(v, spec))
             for key, _, spec in columns] for r in rows]
    def who(r):
        return f"{r.runtime} {r.precision} b{r.batch}" + (f" {settings_suffix(r.settings)}" if r.settings else "")

    notes = [f"  {who(r)}: {r.status}: {r.error}"
             for r in rows if not r.ok and r.error]
    notes += [f"  {who(r)}: ran as {r.precision_executed} (the engine's "
              f"report), judged with that precision's tolerance" for r in rows if r.precision_executed]
    notes += [f"  {who(r)}: parity FAIL: {'; '.join(r.parity_failed)}"
              + (f" (weights: {r.parity_weights})" if r.parity_weights else "")
              for r in rows if r.parity_passed is False and r.parity_failed]
    if any(c[0] == F.latency_p99_ms for c in columns):
        notes += table_notes(rows)
    return "\n".join([text_table([c[1] for c in columns], body)] + notes)
