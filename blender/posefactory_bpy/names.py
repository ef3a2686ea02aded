"""Folder and key names for characters and clips: readable slugs.

A name from a file (a glTF clip `Armature|mixamo.com|Layer0`, a character `Samba "Dancing" $1`)
becomes one path segment and one storage key segment, so it is reduced to letters, digits,
`-`, `_` and `.`: accents are dropped (é -> e), every other run of characters becomes one `_`,
runs of dots become one dot, and leading/trailing `.`/`_` go. Names that then collide (also
when they differ only in case: Windows and macOS folders) get `-2`, `-3`, ... in the order
given. The original name stays in the manifest and annotations (`displayName`, `clip_name`).
src/run/names.ts applies the same rule to character names in TypeScript.
"""

from __future__ import annotations

import re
import unicodedata

MAX_LENGTH = 100


def slug(name: str, fallback: str = "clip") -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_only)
    cleaned = re.sub(r"\.{2,}", ".", cleaned).strip("._")[:MAX_LENGTH].rstrip("._")
    return cleaned or fallback


def unique(name: str, used: set[str]) -> str:
    """`name`, or `name-2`, `name-3`, ... when one (ignoring case) is in `used`; adds it."""
    candidate = name
    n = 2
    while candidate.lower() in used:
        candidate = f"{name}-{n}"
        n += 1
    used.add(candidate.lower())
    return candidate
