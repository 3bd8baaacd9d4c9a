"""What a measuring run tells its caller while it runs (progress lines, tests that kill a
worker mid-block): ``on_event(kind, **info)`` with ``kind`` an :class:`Event`.

* ``GROUP``: a measurement group starts (``index``, ``groups``, ``combos``, ``done``,
  ``total``, ``rounds``) -- for a Ray sweep, when its task is submitted;
* ``LOAD``: a worker is started for ``combo``;
* ``ROUND``: round ``round`` of ``rounds`` over ``size`` configurations starts;
* ``BLOCK``: ``combo``'s worker (``pid``) times one block of round ``round``;
* ``ROW``: a finished ``row`` was kept (``done`` of ``total``);
* ``NOTE``: a sentence about the options (``text``), said even when progress is quiet.

The members are strings (``Event.ROW == "row"``), so a listener may compare with either.
"""

from __future__ import annotations

from enum import Enum


class Event(str, Enum):
    GROUP = "group"
    LOAD = "load"
    ROUND = "round"
    BLOCK = "block"
    ROW = "row"
    NOTE = "note"


def silent(kind, **info) -> None:
    """The listener of a run nobody watches."""
