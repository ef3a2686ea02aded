"""One behaviour for the entry scripts under both launchers.

    blender --background --factory-startup --python-exit-code 2 --python render.py -- --job job.json
    python3 render.py -- --job job.json          (Blender as a Python module: the `bpy` wheel)

The script's own arguments come after `--` in both. In module mode Blender has read no
`--factory-startup`: the bpy wheels (4.5, 5.0) start from factory settings all the same
(`bpy.app.factory_startup`); where one does not, the entry reads them itself. An uncaught
exception would exit 1 there (which means "a character failed"): `run` turns it into exit 2,
as `--python-exit-code 2` does for the binary. argparse's usage errors exit 2 in both.
"""

from __future__ import annotations

import sys
import traceback
from typing import Callable

import bpy


def is_module_mode() -> bool:
    """True when Python imported bpy (the wheel); the Blender binary has a binary path."""
    return bpy.app.binary_path == ""


def script_argv() -> list[str]:
    """The arguments after `--` (Blender's own, or Python's, come before it)."""
    return sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []


def run(main: Callable[[list[str]], int | None]) -> None:
    """Run an entry's main(argv) and exit with its code: 0 ok, 1 partly failed, 2 bad job or crash."""
    try:
        if is_module_mode() and not bpy.app.factory_startup:  # reading them again: 85-120 ms
            bpy.ops.wm.read_factory_settings(use_empty=False)
        code = main(script_argv()) or 0
    except SystemExit as exc:  # argparse: 2 for bad usage
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except Exception:  # anything else is a crash of the whole job (Ctrl-C still stops it)
        print(f"posefactory: error: {traceback.format_exc()}", file=sys.stderr, flush=True)
        code = 2
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)
