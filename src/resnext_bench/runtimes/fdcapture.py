"""Capture what C++ code writes to file descriptors 1 and 2: ONNX Runtime's provider loader
logs its reasons there, not through Python, and the availability probe needs that text."""

from __future__ import annotations

import contextlib
import os
import tempfile


@contextlib.contextmanager
def captured_fds():
    """Capture what C++ code writes to file descriptors 1 and 2 (ORT's loader logs there)."""
    import sys

    saved = []
    with tempfile.TemporaryFile(mode="w+b") as sink:
        holder = {"text": ""}
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        for fd in (1, 2):
            saved.append((fd, os.dup(fd)))
            os.dup2(sink.fileno(), fd)
        try:
            yield holder
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            holder["text"] = sink.read().decode(errors="replace")

