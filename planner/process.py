"""What the command-line process does around a command: one-line usage errors, signals, and the
faults of standard output. The rules (README, "Exit codes and failure classes"):

- a bad option, a missing argument or an unknown command: one `error:` line, exit 2;
- SIGINT (Ctrl-C) and SIGTERM stop the command within a second or two, even inside a long
  solver call: one `error:` line, the temporary files of unfinished writes removed, exit 130
  (SIGINT) or 143 (SIGTERM), the shell's codes;
- the reader of standard output went away (`planner ... | head -1`): nothing more is written,
  exit 141 (the shell's code for SIGPIPE), never 1 (which means infeasible);
- standard output closed (`>&-`) or full (`> /dev/full`): one `error:` line, exit 2;
- standard output that cannot encode a character (`PYTHONIOENCODING=ascii`): the character is
  replaced by `?`; the command succeeds.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import threading
from typing import Any

from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError  # typer 0.29 vendors click
from typer.core import TyperGroup
from typer.exceptions import Abort

from planner.errors import EXIT_BAD_INPUT, PlannerError

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal's number
_SIGNAL_NAME = {signal.SIGINT: "SIGINT (Ctrl-C)", signal.SIGTERM: "SIGTERM"}


class OutputError(PlannerError):
    """Standard output cannot be written (closed, full)."""

    exit_code = EXIT_BAD_INPUT


class BrokenPipe(BaseException):
    """The reader of standard output went away (a BaseException: no command's error handler
    turns it into an error line, and rich's own broken-pipe handler, exit 1, never sees it)."""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class OneLineGroup(TyperGroup):
    """Usage errors (bad option values, unknown options or commands, missing arguments) as one
    `error:` line with exit 2, instead of click's framed box; the rest as typer does."""

    def main(self, args: Any = None, prog_name: Any = None, complete_var: Any = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError as e:  # the help, which rich has printed already while making the error
            if e.format_message().strip():
                sys.stdout.write(e.format_message() + "\n")
            rv = e.exit_code
        except ClickException as e:
            where = e.ctx.command_path if getattr(e, "ctx", None) is not None else "planner"
            hint = f" (see `{where} --help`)" if isinstance(e, UsageError) else ""
            message = _one_line(e.format_message()).replace("Value error, ", "")
            sys.stderr.write(f"error: {where}: {message}{hint}\n")
            rv = e.exit_code
        except Abort:
            sys.stderr.write("error: aborted\n")
            rv = 1
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


# --- signals ---------------------------------------------------------------------------------
_stopping = threading.Lock()


def _stop(signum: int) -> None:
    """Clean up and leave at once (from the Python handler or the watcher thread, whichever
    runs first)."""
    if not _stopping.acquire(blocking=False):
        return
    from planner.files import cleanup_temporaries

    cleanup_temporaries()
    with contextlib.suppress(OSError):
        os.write(2, f"error: interrupted by {_SIGNAL_NAME.get(signum, signum)}; stopped\n".encode())
    os._exit(EXIT_SIGNAL.get(signum, 128 + int(signum)))


def install_signal_handlers() -> None:
    """SIGINT and SIGTERM end the process within a second or two with one line.

    A Python signal handler runs only when the main thread executes Python code, not during a
    long solver call in C; so the C-level handler also writes the signal number to a pipe
    (`signal.set_wakeup_fd`), which a watcher thread reads and acts on (the solver releases the
    GIL while it works)."""
    if threading.current_thread() is not threading.main_thread():  # pragma: no cover
        return
    r, w = os.pipe()
    os.set_blocking(w, False)
    for s in EXIT_SIGNAL:
        signal.signal(s, lambda signum, frame: _stop(signum))
    signal.set_wakeup_fd(w, warn_on_full_buffer=False)

    def watch() -> None:
        while True:
            try:
                data = os.read(r, 1)
            except OSError:  # pragma: no cover
                return
            if data and data[0] in EXIT_SIGNAL:  # only the signals handled here
                _stop(signal.Signals(data[0]))

    threading.Thread(target=watch, name="planner-signals", daemon=True).start()


# --- standard output -------------------------------------------------------------------------
class _GuardedStdout:
    """sys.stdout, with its write faults turned into OutputError / BrokenPipe."""

    def __init__(self, inner: Any, closed: bool = False):
        self._inner = inner
        self._closed = closed
        self._failed = False  # a fault was reported: later output is dropped, not reported again

    def _fault(self, e: OSError) -> BaseException:
        self._failed = True
        _devnull_on_fd1()  # the buffered rest goes nowhere, and the final flush cannot fail
        if isinstance(e, BrokenPipeError) or e.errno == errno.EPIPE:
            return BrokenPipe()
        return OutputError(f"cannot write to standard output: {e.strerror or e}")

    def write(self, text: str) -> int:
        if self._failed:
            return len(text)
        if self._closed:
            self._failed = True
            raise OutputError("cannot write to standard output: it is closed")
        try:
            return self._inner.write(text)
        except OSError as e:
            raise self._fault(e) from None

    def flush(self) -> None:
        if self._closed or self._failed:
            return
        try:
            self._inner.flush()
        except OSError as e:
            raise self._fault(e) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def guard_stdout() -> None:
    """Make standard output's faults clean errors (see the module docstring)."""
    closed = sys.stdout is None
    try:
        os.fstat(1)
    except OSError:
        closed = True
        fd = os.open(os.devnull, os.O_WRONLY)  # keep descriptor 1 taken: no file opened later lands on it
        if fd != 1:
            os.dup2(fd, 1)
            os.close(fd)
    inner = sys.stdout
    if closed or inner is None:
        inner = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
        closed = True
    else:
        with contextlib.suppress(AttributeError, ValueError):
            inner.reconfigure(errors="replace")
    with contextlib.suppress(AttributeError, ValueError):
        sys.stderr.reconfigure(errors="backslashreplace")
    sys.stdout = _GuardedStdout(inner, closed)


def _devnull_on_fd1() -> None:
    """After a write fault: point descriptor 1 at /dev/null so the interpreter's final flush
    cannot fail again ("Exception ignored ... BrokenPipeError")."""
    with contextlib.suppress(OSError):
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.close(fd)


def run_main(app: Any) -> None:
    """The `planner` entry point: the command inside the rules above."""
    install_signal_handlers()
    guard_stdout()
    try:
        code = app(standalone_mode=False)
        sys.stdout.flush()
    except BrokenPipe:
        _devnull_on_fd1()
        sys.exit(EXIT_BROKEN_PIPE)
    except OutputError as e:
        _devnull_on_fd1()
        sys.stderr.write(f"error: {_one_line(e.message)}\n")
        sys.exit(e.exit_code)
    except SystemExit as e:
        with contextlib.suppress(BrokenPipe, OutputError):
            sys.stdout.flush()
        raise e from None
    sys.exit(code if isinstance(code, int) else 0)
