"""posefactory's code that runs inside Blender (imported by blender/render.py).

Modules by concern: `character` (import, rig and clips), `bbox` (one pass per clip),
`cameras` (placement, exact fit, K/R/t), `keypoints` (ground truth from the rig),
`render` (engine, device, outputs), `writer` (annotations.json, manifest.json), plus the
small helpers `job` (job.json), `landmarks` (keypoint tables) and `log`.
"""

__version__ = "1"
