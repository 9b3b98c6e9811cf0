"""Reading input files within a byte limit, and writing output files atomically.

Inputs: `read_input` refuses a missing, unreadable or oversized file with one line naming it; it
reads at most `limit + 1` bytes, so a FIFO or a growing file cannot exhaust memory either.

Outputs (`write_atomic`), the rule the README documents:
- a regular file (new or existing) is written to a temporary file in its folder and renamed over
  it: never a half-written file. A new file gets the mode the umask allows (0666 & ~umask), an
  existing one keeps its mode;
- a symbolic link is followed: its target is replaced that way, the link stays;
- a character device or a FIFO (`/dev/null`, `/dev/stdout`, a named pipe) is written through,
  never replaced; a folder or another special file is refused;
- an empty name is refused.
Temporary files still pending are removed on SIGINT/SIGTERM (`cleanup_temporaries`, called by
the CLI's signal handler); a SIGKILL cannot be caught.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
from pathlib import Path

from planner.errors import InputError

# the temporary name is `.<first TMP_NAME_CHARS characters of the name>.<8 random>.tmp`, well
# under NAME_MAX (255) even for a 255-character target name
TMP_NAME_CHARS = 64

# the longest CSV field any reader accepts (measurements, serving points, traces): csv's own
# default limit, named so the README can list it; a longer field is an input error
MAX_CSV_FIELD_CHARS = 131_072
# bytes of one measurement or serving-points CSV (the shipped ones: 0.13 and 0.68 MB); keeps a
# file whose last row is bad answered within about 2 s (traces: MAX_TRACE_BYTES)
MAX_CSV_BYTES = 2 * 1024 * 1024

_pending: set[str] = set()
_pending_lock = threading.Lock()


def read_input(path: str | Path, kind: str, limit: int) -> bytes:
    """The bytes of an input file of `kind` (e.g. "plan", "trace"), at most `limit` of them."""
    p = Path(path)
    src = str(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise InputError(f"{src}: file not found") from None
    except NotADirectoryError:
        raise InputError(f"{src}: file not found (a part of the path is not a folder)") from None
    except OSError as e:
        raise InputError(f"{src}: cannot read: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{src}: not a regular file (a folder)")
    if stat.S_ISREG(st.st_mode) and st.st_size > limit:
        raise InputError(f"{src}: file is {st.st_size} bytes; {kind} files are limited to {limit}")
    try:
        with open(p, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise InputError(f"{src}: cannot read: {e.strerror or e}") from None
    if len(data) > limit:
        raise InputError(f"{src}: more than {limit} bytes; {kind} files are limited to {limit}")
    return data


def decode_text(data: bytes, src: str, encoding: str = "utf-8") -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        raise InputError(f"{src}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def csv_error(src: str, line: int, e: Exception) -> InputError:
    """A csv module error (a field over MAX_CSV_FIELD_CHARS, a NUL byte) as one input error."""
    msg = str(e)
    if "field limit" in msg:
        msg = f"a field longer than {MAX_CSV_FIELD_CHARS} characters (CSV fields are limited to {MAX_CSV_FIELD_CHARS})"
    return InputError(f"{src}:{line}: CSV error: {msg}")


def pending_temporaries() -> set[str]:
    with _pending_lock:
        return set(_pending)


def cleanup_temporaries() -> None:
    """Remove the temporary files of writes still in progress (signal handlers call this)."""
    for tmp in pending_temporaries():
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, text: str) -> None:
    """Write `text` to `path` by the rule in the module docstring."""
    if not str(path):
        raise InputError("the output file name is empty (--json '' or --out ''); give a path, or - for standard output")
    p = Path(path)
    if p.is_symlink():
        p = Path(os.path.realpath(p))
    try:
        st = os.stat(p)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise InputError(f"{path}: cannot write: {e.strerror or e}") from None
    if st is not None and (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
        try:
            with open(p, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            raise InputError(f"{path}: cannot write: {e.strerror or e}") from None
        return
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "a special file"
        raise InputError(f"{path}: cannot write: it is {kind}, not a regular file")
    folder = p.parent
    if not folder.is_dir():
        raise InputError(f"{path}: folder '{folder}' does not exist")
    mode = stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name[:TMP_NAME_CHARS]}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise InputError(f"{path}: cannot write: {e.strerror}") from None
    with _pending_lock:
        _pending.add(tmp)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise InputError(f"{path}: cannot write: {e.strerror}") from None
        raise
    finally:
        with _pending_lock:
            _pending.discard(tmp)
