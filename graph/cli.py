"""One base for the commands ``python -m graph.run``, ``graph.report`` and ``graph.export``:
a parser whose errors are one line, the exit codes, and the wrapper that turns a user's error
into ``error: ...`` and exit code 2."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from agents.errors import UserError

EXIT_OK, EXIT_BUDGET, EXIT_USER_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


class OneLineParser(argparse.ArgumentParser):
    """``argparse`` whose errors are a ``UserError`` (one line, exit 2, no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(message)


def run_command(body: Callable[[], int], *, interrupted_hint: str = "") -> int:
    """Run a command's body; a ``UserError`` becomes ``error: ...`` on stderr and exit code 2.

    Errors of our own code stay loud (a traceback). Ctrl-C prints ``interrupted: ...``.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        return body()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"interrupted{': ' + interrupted_hint if interrupted_hint else ''}", file=sys.stderr)
        return EXIT_INTERRUPTED
