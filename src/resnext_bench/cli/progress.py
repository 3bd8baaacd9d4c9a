"""Progress lines of a measuring command (``bench``, ``parity``, ``sweep``, ``ab``, ``tune``)."""

from __future__ import annotations

import click


def _combo_text(c) -> str:
    from ..core.schema import settings_suffix

    return (f"{c.arch} form {c.form} {c.runtime} {c.device} {c.precision} batch {c.batch}"
            + (f" threads {c.threads}" if c.threads else "")
            + (f" {settings_suffix(c.settings)}" if c.settings else ""))


class _Progress:
    """Progress on stderr from the runner's events: one line per group, load, round and row,
    and an ETA from the time measured so far per unit of work (a configuration's load, each
    of its timed blocks, its finish), so groups of different sizes and rounds count right.
    A torch.compile load says it is compiling (it is silent for 20-60 s otherwise)."""

    def __init__(self, quiet: bool):
        import time as _time

        self.quiet, self.clock = quiet, _time.perf_counter
        self.started = self.clock()
        self.total_units = None
        self.units = 0

    def _eta(self) -> str:
        if not self.total_units or not self.units:
            return ""
        left = (self.clock() - self.started) / self.units * (self.total_units - self.units)
        return f", ETA {left:.0f}s" if left >= 1 else ""

    def __call__(self, kind, **e):
        if kind == "note":  # an option that changes nothing: said even with --quiet
            click.echo(f"note: {e['text']}", err=True)
            return
        if kind == "group" and self.total_units is None:
            self.rounds = e.get("rounds") or 1
            self.total_units = e["total"] * (self.rounds + 2)
        if kind == "load":
            self.units += 1
        elif kind == "block":
            self.units += 1
        elif kind == "row":  # the rest of its units: finish, or all of them when skipped
            self.units = max(self.units, e["done"] * (self.rounds + 2))
        if self.quiet:
            return
        if kind == "group":
            first = e["combos"][0]
            click.echo(f"[group {e['index'] + 1}/{e['groups']}{self._eta()}] {first.arch} "
                       f"{first.image_size}px: {len(e['combos'])} configuration(s), one worker "
                       "process each", err=True)
        elif kind == "load":
            compiling = (" (torch.compile: compiling, typically 20-60 s)"
                         if e["combo"].runtime == "torch-compile" else "")
            click.echo(f"  load {_combo_text(e['combo'])}{compiling}", err=True)
        elif kind == "round":
            click.echo(f"  round {e['round'] + 1}/{e['rounds']} over {e['size']} "
                       f"configuration(s){self._eta()}", err=True)
        elif kind == "row":
            row = e["row"]
            if not row.ok:
                click.echo(f"  [{e['done']}/{e['total']}] {_combo_text(row)}: {row.status}: {row.error}", err=True)
            else:
                p = row.parity_passed
                spread = (f", rounds spread {row.round_spread:.1%}"
                          if row.round_spread is not None and (row.rounds or 0) > 1 else "")
                click.echo(f"  [{e['done']}/{e['total']}{self._eta()}] {_combo_text(row)}: p50 "
                           f"{row.latency_p50_ms or float('nan'):.2f} ms{spread}, "
                           f"{row.throughput_ips or 0:.1f} img/s, parity "
                           f"{'pass' if p else ('FAIL' if p is False else '-')}", err=True)


def _progress_printer(quiet: bool):
    return _Progress(quiet)
