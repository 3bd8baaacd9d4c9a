"""Errors the CLI turns into a one-line message and a documented exit code.

Library code raises these for bad user input (a malformed arch name, an unreadable weights file,
an unusable runtime) so that the CLI can report them without a traceback, while genuine bugs
still surface as tracebacks.
"""


class UsageError(Exception):
    """Bad input from the user: exit code 2, one line, no traceback."""

    exit_code = 2


class RuntimeUnavailable(UsageError):
    """A runtime asked for by name cannot be used on this machine; the message says why."""


class CheckFailed(Exception):
    """A check the user asked for failed (an export's own checks): exit code 1, one line."""

    exit_code = 1


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, CI runners, systemd), raised in the main thread like Ctrl-C's
    KeyboardInterrupt so that every ``finally`` runs: workers stopped, nothing half written.
    Exit 143 (128 + 15), one line."""

    exit_code = 143


#: errno values of a disk that cannot take the write: one line naming the path, exit 2
WRITE_ERRNOS = frozenset({"ENOSPC", "EROFS", "EACCES", "EDQUOT", "EPERM", "EFBIG", "EIO"})


def write_error_text(exc: OSError) -> str | None:
    """``cannot write PATH: No space left on device (ENOSPC)`` for a full, read-only or
    forbidden disk; ``cannot use PATH: Not a directory (ENOTDIR)`` for any other error that
    names its path (a user's path that is not what it should be); None when ``exc`` names no
    path (a genuine bug: its traceback is kept). A copy names its destination (``filename2``:
    shutil sets ``filename`` to the source even when the destination's disk is full)."""
    import errno

    name = errno.errorcode.get(exc.errno or 0)
    where = getattr(exc, "filename2", None) or exc.filename
    if name in WRITE_ERRNOS:
        return f"cannot write {where or 'a file'}: {exc.strerror or exc} ({name})"
    if where is None or name is None:
        return None
    return f"cannot use {where}: {exc.strerror or exc} ({name})"
