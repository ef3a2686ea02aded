"""Progress lines on stdout, prefixed so the TypeScript side can tell them from Blender's own.

TypeScript only forwards these lines to its logger: results travel through manifest.json.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import sys
import tempfile
from collections.abc import Iterator

PREFIX = "posefactory:"


def log(message: str) -> None:
    print(f"{PREFIX} {message}", flush=True)


def warn(message: str) -> None:
    print(f"{PREFIX} warning: {message}", flush=True)


def error(message: str) -> None:
    print(f"{PREFIX} error: {message}", file=sys.stderr, flush=True)


def _flush_c_stdio() -> None:
    """Blender writes its status with C stdio: flush it before fd 1 changes hands."""
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):  # no C library by that name (Windows)
        pass


@contextlib.contextmanager
def without_render_status() -> Iterator[None]:
    """Blender's status lines of a render ("Fra:2 Mem:21M ... | Sample 3/4") left out of stdout.

    Cycles prints ~35 of them per image at 4 samples and more with more samples, 90% of a job's
    log: on a 10,000-image run tens of megabytes that every follower of the log receives over
    SSH and the push stores. The render's stdout goes to a temporary file and is copied to the
    real stdout after it, without those lines, except ones that name an error or a warning;
    when the render raises, its last lines are copied as they are.
    """
    sys.stdout.flush()
    _flush_c_stdio()
    try:
        capture = tempfile.TemporaryFile()
    except OSError:  # no room for a temporary file: the render's output as it comes
        yield
        return
    try:
        saved = os.dup(1)
    except OSError:  # no stdout to filter
        capture.close()
        yield
        return
    with capture:
        os.dup2(capture.fileno(), 1)
        failed = True
        try:
            yield
            failed = False
        finally:
            sys.stdout.flush()
            _flush_c_stdio()
            os.dup2(saved, 1)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().splitlines(keepends=True)
            if failed:
                kept = lines[-40:]
            else:
                kept = [line for line in lines if not line.startswith(b"Fra:") or _STATUS_WORTH_KEEPING.search(line)]
            data = b"".join(kept)
            while data:
                data = data[os.write(1, data) :]


_STATUS_WORTH_KEEPING = re.compile(rb"error|warning|cancel", re.IGNORECASE)
