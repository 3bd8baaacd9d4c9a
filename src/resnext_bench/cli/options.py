"""Command-line options generated from the typed settings of :mod:`resnext_bench.config`
(pure Python, so ``--help`` imports nothing heavy)."""

from __future__ import annotations

from dataclasses import fields

import click

from ..config import SECTIONS, field_flag, render_settings_help


_METAVARS = {"str": "TEXT", "int": "INT", "float": "NUM", "path": "PATH", "str_list": "A[,B]",
             "int_list": "N[,M]"}


def _setting_option(f, shown_default=None):
    """A click option for one setting: flag and help from the dataclass field; the value is
    left as given (None when not given) and checked by the configuration, not by click.
    ``shown_default``: the default this command applies instead of the setting's own."""
    meta = f.metadata
    default = f.default if shown_default is None else shown_default
    shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
    help_text = meta["help"]
    if meta["choices"]:
        help_text += f" One of: {', '.join(map(str, meta['choices']))}."
    flag = field_flag(f)
    if meta["kind"] == "bool":
        kw = {} if "/" in flag else {"is_flag": True}  # "--x/--no-x" is a boolean pair already
        return click.option(flag, f.name, default=None, help=help_text, **kw)
    if shown not in (None, "", ()):
        help_text += f"  [default: {shown}]"
    return click.option(flag, f.name, default=None, help=help_text,
                        metavar=_METAVARS[meta["kind"]], required=bool(meta.get("required")))


def setting_options(*sections: str, exclude: tuple[str, ...] = (), defaults=None):
    """Decorate a command with the options of the named config sections; ``defaults``: the
    settings whose default this command changes (its help says the command's own)."""
    defaults = defaults or {}

    def deco(func):
        for sec in reversed(sections):
            for f in reversed(fields(SECTIONS[sec])):
                if f.name not in exclude:
                    func = _setting_option(f, defaults.get(f.name))(func)
        return func
    return deco


def dataclass_options(option_fields):
    """Decorate a command with one option per field of a typed options class (``tune``'s
    :class:`~resnext_bench.tune.options.TuneOptions`), declared as the settings are."""
    def deco(func):
        for f in reversed(option_fields):
            func = _setting_option(f)(func)
        return func
    return deco


def _help_config(ctx, _param, value):
    if value and not ctx.resilient_parsing:
        click.echo(render_settings_help())
        ctx.exit(0)
