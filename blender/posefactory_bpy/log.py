"""Progress lines on stdout, prefixed so the TypeScript side can tell them from Blender's own.

TypeScript only forwards these lines to its logger: results travel through manifest.json.
"""

from __future__ import annotations

import sys

PREFIX = "posefactory:"


def log(message: str) -> None:
    print(f"{PREFIX} {message}", flush=True)


def warn(message: str) -> None:
    print(f"{PREFIX} warning: {message}", flush=True)


def error(message: str) -> None:
    print(f"{PREFIX} error: {message}", file=sys.stderr, flush=True)
