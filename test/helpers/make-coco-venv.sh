#!/usr/bin/env bash
# A small Python venv with pycocotools for the COCO export test (COCOeval on our export),
# cached under the user's cache folder; prints its python. Idempotent: a second run only checks.
set -euo pipefail
venv="${XDG_CACHE_HOME:-$HOME/.cache}/posefactory/venvs/pycocotools-2.0.11"
if ! "$venv/bin/python" -c 'import pycocotools.cocoeval' >/dev/null 2>&1; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check pycocotools==2.0.11 numpy==2.2.6 >&2
fi
echo "$venv/bin/python"
