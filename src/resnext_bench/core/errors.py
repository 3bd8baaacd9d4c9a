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
