"""One rich console for the whole program (stderr), and progress that degrades to log lines."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

console = Console(stderr=True, highlight=False, soft_wrap=True)
log = logging.getLogger("vidcli")

_state = {"verbosity": 0, "interactive": False}


def setup(verbosity: int, interactive: bool | None = None) -> None:
    """Configure logging: -1 quiet, 0 normal, 1+ verbose (debug and tracebacks)."""
    _state["verbosity"] = verbosity
    _state["interactive"] = console.is_terminal if interactive is None else interactive
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    handler: logging.Handler
    if _state["interactive"]:
        handler = RichHandler(console=console, show_path=False, show_time=False, markup=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def silence_native_output() -> None:
    """Send what native libraries write to file descriptor 2 (TensorFlow Lite, absl and glog lines of
    mediapipe, which no setting turns off) to /dev/null, while Python's own stderr (this console, logs,
    tracebacks) keeps the real one. For -q, where only warnings and errors of vidcli are wanted."""
    sys.stderr.flush()
    real = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = os.fdopen(real, "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace")


def error(message: str) -> None:
    """Print `error: MESSAGE` on stderr; the message is user text (paths, values), never Rich markup."""
    console.print(f"[bold red]error:[/] {escape(message)}")


def verbosity() -> int:
    return _state["verbosity"]


class _LineProgress:
    """Progress as plain log lines, at most one every few seconds."""

    def __init__(self, description: str, total: int | None, every_s: float = 5.0):
        self.description, self.total, self.every_s = description, total, every_s
        self.done, self.note = 0, ""
        self._last = time.monotonic()

    def describe(self, note: str) -> None:
        """Show `note` (say, the current loss) beside the count."""
        self.note = note

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            total = f"/{self.total}" if self.total else ""
            log.info("%s: %d%s%s", self.description, self.done, total, f" {self.note}" if self.note else "")


class _RichProgress:
    def __init__(self, progress, task_id, description: str):
        self._progress, self._task_id, self._description = progress, task_id, description

    def describe(self, note: str) -> None:
        self._progress.update(self._task_id, description=f"{self._description} {note}")

    def advance(self, n: int = 1) -> None:
        self._progress.advance(self._task_id, n)


@contextlib.contextmanager
def progress(description: str, total: int | None = None):
    """Yield an object with `advance(n)`; a rich bar on a TTY, periodic log lines otherwise."""
    if _state["interactive"] and _state["verbosity"] >= 0:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, transient=True,
        ) as bar:
            yield _RichProgress(bar, bar.add_task(description, total=total), description)
    else:
        yield _LineProgress(description, total)
