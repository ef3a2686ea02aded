"""Seeded random draws, one stream per image and concern.

`rng_for(seed, "camera", character, clip, view, frame)` gives the same generator for the same
inputs in every process and on every machine (Python seeds a Random from a str through
SHA-512), whatever order the images are rendered in; separate streams per concern ("camera",
"scene", "occluder") keep, say, the camera draws the same when occluders are switched on.
"""

from __future__ import annotations

import random


def rng_for(seed: int, *parts: object) -> random.Random:
    return random.Random("|".join(str(p) for p in (seed, *parts)))


def draw(rng: random.Random, bounds: tuple[float, float] | None, default: float = 0.0) -> float:
    """Uniform in [min, max]; `default` when the range is not configured."""
    if bounds is None:
        return default
    lo, hi = bounds
    return lo if lo == hi else rng.uniform(lo, hi)
