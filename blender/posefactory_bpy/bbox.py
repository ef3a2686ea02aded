"""The character's bounding box over a whole clip, measured in ONE pass over its frames.

Per frame: each mesh's evaluated `bound_box` (skinning applied) through `matrix_world`,
unioned over every mesh. `scene.frame_set` (depsgraph + skinning) is the cost, so the pass
runs once per clip and every camera reuses it (recomputing it per camera made placement
about 8x slower with 8 cameras). Every frame counts: sampling every 8th frame missed a fast
gesture by 12 cm.

Modes (job.json `cameras.bbox`):
- `exact`: the pass above, every mesh fully evaluated (skinned) on every frame.
- `fast` (default): skinning is switched off for the pass; per frame only the armature is
  evaluated and each bone's rest-pose box of the vertices it drives is carried by the bone's
  pose matrix. The result always contains the exact box (see `measure_fast` for why) and is
  a few millimetres larger. A mesh this cannot model safely (other modifiers, animated shape
  keys, dual-quaternion or envelope skinning, B-Bones) makes the clip fall back to `exact`;
  the manifest records the mode used and why.

Framing:
- `static`: one world box for the whole clip; cameras stand still.
- `follow`: the box is measured relative to the root bone's horizontal position, and the
  cameras move with the root. A walk that is not "In Place" travels metres; its union box
  would make the character tiny, the relative box keeps it large.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import bpy
import numpy as np
from mathutils import Vector

from .character import Character, Clip


@dataclass
class ClipBox:
    framing: str
    min: Vector  # world metres; relative to the root's (x, y) in follow framing
    max: Vector
    root_xy: dict[int, tuple[float, float]] = field(default_factory=dict)
    evaluations: int = 0
    seconds: float = 0.0
    mode: str = "exact"  # the method that measured it: "fast" or "exact"
    fallback: str | None = None  # why "fast" was asked for and "exact" used
    exact_frames: int = 0  # frames the fast method also evaluated exactly (refine_box)

    @property
    def center(self) -> Vector:
        return (self.min + self.max) / 2

    def corners(self) -> list[Vector]:
        """The 8 corners relative to the box center."""
        half = (self.max - self.min) / 2
        return [Vector((sx * half.x, sy * half.y, sz * half.z)) for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]

    def target_at(self, frame: int) -> Vector:
        """World point the cameras aim at on `frame`: the box center, moved with the root when following."""
        if self.framing != "follow":
            return self.center.copy()
        x, y = self.root_xy.get(frame, (0.0, 0.0))
        return self.center + Vector((x, y, 0.0))

    def world_bounds_at(self, frame: int) -> tuple[Vector, Vector]:
        offset = self.target_at(frame) - self.center
        return self.min + offset, self.max + offset


def root_bone_name(character: Character) -> str:
    """The rig profile's hips, else Mixamo's Hips, else the top-level bone with the most descendants."""
    hips = character.root_bone or character.bones.get("Hips")
    if hips is not None:
        return hips
    roots = [b for b in character.armature.data.bones if b.parent is None]
    return max(roots, key=lambda b: len(b.children_recursive)).name


def root_position(character: Character, bone_name: str) -> Vector:
    return character.armature.matrix_world @ character.armature.pose.bones[bone_name].head


BBOX_MODES = ("fast", "exact")


def measure_clip_box(character: Character, clip: Clip, framing: str, mode: str = "exact") -> ClipBox:
    """The clip's box in one pass over its frames, by the `fast` or the `exact` method."""
    if mode not in BBOX_MODES:
        raise ValueError(f"bbox mode {mode!r}: expected one of {', '.join(BBOX_MODES)}")
    if mode == "exact":
        return measure_exact(character, clip, framing)
    started = time.perf_counter()
    plan = plan_fast(character)
    if isinstance(plan, str):
        box = measure_exact(character, clip, framing)
        box.fallback = plan
        box.seconds = time.perf_counter() - started
        return box
    return measure_fast(character, clip, framing, plan, started)


def measure_exact(character: Character, clip: Clip, framing: str) -> ClipBox:
    """One pass over every frame of the clip, every mesh evaluated (skinned) on each."""
    started = time.perf_counter()
    scene = bpy.context.scene
    root = root_bone_name(character)
    lo = Vector((float("inf"),) * 3)
    hi = Vector((float("-inf"),) * 3)
    root_xy: dict[int, tuple[float, float]] = {}
    for frame in range(clip.frame_start, clip.frame_end + 1):
        scene.frame_set(frame)
        depsgraph = bpy.context.evaluated_depsgraph_get()
        r = root_position(character, root)
        root_xy[frame] = (r.x, r.y)
        shift = Vector((r.x, r.y, 0.0)) if framing == "follow" else Vector()
        for mesh in character.meshes:
            evaluated = mesh.evaluated_get(depsgraph)
            matrix = evaluated.matrix_world
            for corner in evaluated.bound_box:
                p = matrix @ Vector(corner) - shift
                lo = Vector((min(lo.x, p.x), min(lo.y, p.y), min(lo.z, p.z)))
                hi = Vector((max(hi.x, p.x), max(hi.y, p.y), max(hi.z, p.z)))
    if lo.x == float("inf"):
        raise ValueError(f"clip {clip.name}: no geometry to measure")
    return ClipBox(
        framing=framing,
        min=lo,
        max=hi,
        root_xy=root_xy,
        evaluations=1,
        seconds=time.perf_counter() - started,
    )


# --- fast: the armature carries per-bone rest boxes -------------------------------------------
#
# Why the fast box always contains the exact one. Blender's armature modifier (linear blend
# skinning with vertex groups, no preserve volume, no B-Bones) moves a vertex v of the mesh,
# in the mesh's local space, to
#     v' = sum_i u_i * D_i v,   D_i = P^-1 @ pose_i @ rest_i^-1 @ P,   u_i = w_i / sum_j w_j
# over the deforming bones i whose vertex group holds v with a weight w_i > 0, where P maps
# mesh-local to armature space (armature.matrix_world^-1 @ mesh.matrix_world), pose_i is
# `pose_bone.matrix`, rest_i `bone.matrix_local`; when sum_j w_j <= 0.0001 v stays put.
# - A vertex driven by one bone (u = 1) moves rigidly: v' = D_i v. D_i is affine, so the box
#   (in any fixed frame) of all such vertices of bone i is carried to a parallelepiped, the
#   convex hull of its 8 carried corners: their axis-aligned box holds every such v'.
# - A blended vertex: its normalised weights u lie in a bin [a_i, a_i + h) per bone, so
#   u_i = a_i + d_i with d_i >= 0 and sum_i d_i = r = 1 - sum_i a_i. Then
#       v' = A v + sum_i d_i D_i v,   A = sum_i a_i D_i,
#   a convex combination (weights d_i / r) of the points E_m v, E_m = A + r D_m, one per bone
#   m of the vertex. All vertices with the same bones and bins form a group; E_m is affine,
#   so the carried corners of the group's box, over every m, hold every v' of the group.
# - Vertices that may stay at rest (weights summing to <= 0.001, a margin over Blender's
#   0.0001) keep their rest box.
# The union of these boxes is a mesh-local box that holds every skinned vertex: it contains
# the local box the exact pass reads (`bound_box`), and both go through the same matrix_world
# to world axes, so the fast box contains the exact one. Tightness: rigid vertices get several
# boxes per bone (see TURNS), blended ones are off only by r (at most h per bone).

# Blender skins in float32, this in float64, and the manifest rounds to 10 um: pad that much.
FLOAT_PAD_M = 2e-5
# A vertex whose deform weights sum to at most this may stay in rest position (Blender: 1e-4).
STATIC_WEIGHT = 1e-3
# Bin width of normalised weights for blended vertices (see above).
WEIGHT_BIN = 0.1
# The fast box ends at most this share of the box's size outside the exact one (refine_box).
REFINE_TOLERANCE = 0.025
# ... using at most this share of the clip's frames (and at least this many) exactly.
REFINE_SHARE = 0.1
REFINE_MIN_FRAMES = 4

_CORNER_SIGNS = np.array([[sx, sy, sz] for sx in (0, 1) for sy in (0, 1) for sz in (0, 1)], dtype=bool)


def _rotation(axis: int, degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    m = np.eye(4)
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
    return m


# A bone's rigid vertices get several boxes: in the frame of their principal axes (a part of a
# limb need not lie along its bone) and in the bone's own rest frame, each also turned 45 deg
# about each axis. Every box holds all the vertices, so the intersection of the carried boxes
# does too, and it is much tighter than one box (a limb is round: a box turned 45 deg about it
# cuts off the corners of the other).
TURNS = np.array([np.eye(4)] + [_rotation(axis, 45.0) for axis in range(3)])
BOX_FRAMES_PER_BONE = 2 * len(TURNS)


def box_frames(points: np.ndarray) -> np.ndarray:
    """(BOX_FRAMES_PER_BONE, 4, 4) frames (rotations) for the boxes of these points."""
    principal = np.eye(4)
    if len(points) >= 3:
        _, vectors = np.linalg.eigh(np.cov((points - points.mean(axis=0)).T))
        principal[:3, :3] = vectors
    return np.concatenate([principal @ TURNS, TURNS])


def box_axes(points: np.ndarray, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points' box in `frame`'s axes, in the points' space: its homogeneous centre (4,) and
    its three half-axes as rows (3, 3). The corners are centre +- each half-axis; an affine map
    carries the box to a parallelepiped whose axis-aligned box is the carried centre +- the sum
    of the carried half-axes' absolute values: the same box as the 8 carried corners give, in
    a fraction of the operations (this runs for every frame)."""
    turned = points @ frame[:3, :3]  # coordinates along the frame's axes (its columns)
    lo, hi = turned.min(axis=0), turned.max(axis=0)
    centre = np.ones(4)
    centre[:3] = (lo + hi) / 2 @ frame[:3, :3].T
    return centre, frame[:3, :3].T * ((hi - lo) / 2)[:, None]


def carried_box(centre: np.ndarray, axes: np.ndarray, carry: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned (lo, hi) of boxes (centre (..., 4), half-axes (..., 3, 3)) carried by the
    affine maps `carry` (..., 4, 3) in the homogeneous-row layout (point @ carry)."""
    moved = (centre[..., None, :] @ carry)[..., 0, :]
    reach = np.abs(axes @ carry[..., :3, :]).sum(axis=-2)
    return moved - reach, moved + reach


@dataclass
class SkinnedMesh:
    obj: bpy.types.Object
    modifier: bpy.types.Modifier
    measured: bool = False
    bones: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # indices in pose.bones
    rest_inv: np.ndarray = field(default_factory=lambda: np.zeros((0, 4, 4)))  # bone.matrix_local^-1
    # rigid vertices: per bone (index into `bones`) with any, each of its boxes (box_axes)
    rigid_bone: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    rigid_centre: np.ndarray = field(default_factory=lambda: np.zeros((0, BOX_FRAMES_PER_BONE, 4)))
    rigid_axes: np.ndarray = field(default_factory=lambda: np.zeros((0, BOX_FRAMES_PER_BONE, 3, 3)))
    # blended groups: lower weight bounds per bone (a), their bones (padded), mesh-axes box
    group_low: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (groups, bones)
    group_rest: np.ndarray = field(default_factory=lambda: np.zeros(0))  # r = 1 - sum a
    group_members: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=int))
    group_centre: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    group_axes: np.ndarray = field(default_factory=lambda: np.zeros((0, 3, 3)))
    static_box: np.ndarray | None = None  # (2, 3) mesh-local box of vertices that may stay at rest


@dataclass
class FastPlan:
    skinned: list[SkinnedMesh]
    rigid: list[bpy.types.Object]  # meshes without deforming modifiers: their own bound_box


_plans: dict[int, tuple[Character, FastPlan | str]] = {}


def plan_fast(character: Character) -> FastPlan | str:
    """How each mesh is measured in fast mode, or why fast mode cannot be used (a reason)."""
    cached = _plans.get(id(character))
    if cached is not None and cached[0] is character:
        return cached[1]
    plan = classify_meshes(character)
    _plans.clear()  # one character at a time: keep only the current one alive
    _plans[id(character)] = (character, plan)
    return plan


def shape_keys_animated(obj: bpy.types.Object) -> bool:
    keys = getattr(obj.data, "shape_keys", None)
    data = keys.animation_data if keys is not None else None
    return data is not None and (data.action is not None or len(data.drivers) > 0 or len(data.nla_tracks) > 0)


def classify_meshes(character: Character) -> FastPlan | str:
    skinned: list[SkinnedMesh] = []
    rigid: list[bpy.types.Object] = []
    bones = character.armature.data.bones
    for obj in character.meshes:
        name = obj.name
        if obj.parent is not None and obj.parent_type not in ("OBJECT", "BONE", "VERTEX", "VERTEX_3"):
            return f"mesh {name!r} is deformed through its parent ({obj.parent_type})"
        if shape_keys_animated(obj):
            return f"mesh {name!r} has animated shape keys"
        active = [m for m in obj.modifiers if m.show_viewport]
        if not active:
            rigid.append(obj)
            continue
        if len(active) > 1 or active[0].type != "ARMATURE":
            kinds = ", ".join(m.type for m in active)
            return f"mesh {name!r} has modifiers the fast box cannot follow ({kinds})"
        mod = active[0]
        if mod.object is None:
            rigid.append(obj)
            continue
        if mod.object != character.armature:
            return f"mesh {name!r} is skinned to another armature ({mod.object.name!r})"
        if mod.use_deform_preserve_volume or mod.use_bone_envelopes or mod.use_multi_modifier:
            return f"mesh {name!r}: preserve volume, envelopes or multi-modifier skinning"
        if mod.vertex_group or not mod.use_vertex_groups:
            return f"mesh {name!r}: armature modifier masked by a vertex group or without vertex groups"
        if any(b.use_deform and b.bbone_segments > 1 for b in bones):
            return "the armature has B-Bones (curved bone deformation)"
        skinned.append(SkinnedMesh(obj, mod))
    return FastPlan(skinned=skinned, rigid=rigid)


def as_array(matrix) -> np.ndarray:  # noqa: ANN001 - mathutils.Matrix
    return np.array([list(row) for row in matrix], dtype=np.float64)


def read_weights(character: Character, obj: bpy.types.Object) -> list[list[tuple[int, float]]]:
    """Per vertex, (pose bone index, weight > 0) of each deforming bone's group that holds it."""
    pose_names = [pb.name for pb in character.armature.pose.bones]
    deforming = {b.name for b in character.armature.data.bones if b.use_deform}
    group_bone = {g.index: pose_names.index(g.name) for g in obj.vertex_groups if g.name in deforming}
    weights: list[list[tuple[int, float]]] = []
    for vert in obj.data.vertices:
        weights.append([(group_bone[g.group], g.weight) for g in vert.groups if g.group in group_bone and g.weight > 0])
    return weights


def measure_rest_boxes(character: Character, mesh: SkinnedMesh, depsgraph: bpy.types.Depsgraph) -> None:
    """The rest-pose boxes of `mesh`'s vertices: per bone (rigid ones) and per group (blended).

    Read from the evaluated mesh while its armature modifier is off: the coordinates the
    modifier starts from (shape keys included); weights from the original mesh (the same
    vertices: no other modifier is active)."""
    evaluated = mesh.obj.evaluated_get(depsgraph)
    count = len(evaluated.data.vertices)
    coords = np.empty(count * 3, dtype=np.float64)
    evaluated.data.vertices.foreach_get("co", coords)
    coords = coords.reshape(count, 3)
    weights = read_weights(character, mesh.obj)
    used = sorted({bone for vertex in weights for bone, _w in vertex})
    column = {bone: n for n, bone in enumerate(used)}
    rigid: dict[int, list[int]] = {}
    groups: dict[tuple[tuple[int, int], ...], list[int]] = {}
    static: list[int] = []
    for index, vertex in enumerate(weights):
        total = sum(w for _b, w in vertex)
        if total <= STATIC_WEIGHT:
            static.append(index)
            if total <= 0:
                continue
        if len(vertex) == 1:
            rigid.setdefault(column[vertex[0][0]], []).append(index)
            continue
        key = tuple(sorted((column[b], int(np.floor(w / total / WEIGHT_BIN))) for b, w in vertex))
        groups.setdefault(key, []).append(index)
    pose_names = [pb.name for pb in character.armature.pose.bones]
    bones = character.armature.data.bones
    mesh.bones = np.array(used, dtype=int)
    mesh.rest_inv = np.array([np.linalg.inv(as_array(bones[pose_names[b]].matrix_local)) for b in used]).reshape(-1, 4, 4)
    homogeneous = np.hstack([coords, np.ones((count, 1))])
    # Rigid vertices: boxes in frames of the bone's rest space (their mesh-local corners).
    mesh.rigid_bone = np.array(sorted(rigid), dtype=int)
    mesh.rigid_centre = np.zeros((len(rigid), BOX_FRAMES_PER_BONE, 4))
    mesh.rigid_axes = np.zeros((len(rigid), BOX_FRAMES_PER_BONE, 3, 3))
    for n, col in enumerate(mesh.rigid_bone):
        points = homogeneous[rigid[col]]
        for f, frame in enumerate(box_frames(points[:, :3])):
            mesh.rigid_centre[n, f], mesh.rigid_axes[n, f] = box_axes(points[:, :3], frame)
    # Blended groups: lower bounds of the normalised weights, one box each (mesh-local axes).
    widest = max((len(key) for key in groups), default=1)
    mesh.group_low = np.zeros((len(groups), len(used)))
    mesh.group_members = np.zeros((len(groups), widest), dtype=int)
    mesh.group_centre = np.zeros((len(groups), 4))
    mesh.group_axes = np.zeros((len(groups), 3, 3))
    for g, (key, members) in enumerate(groups.items()):
        for col, bin_index in key:
            mesh.group_low[g, col] = bin_index * WEIGHT_BIN
        cols = [col for col, _bin in key]
        mesh.group_members[g] = cols + [cols[0]] * (widest - len(cols))
        mesh.group_centre[g], mesh.group_axes[g] = box_axes(coords[members], np.eye(4))
    mesh.group_rest = 1.0 - mesh.group_low.sum(axis=1)
    mesh.static_box = np.array([coords[static].min(axis=0), coords[static].max(axis=0)]) if static else None
    mesh.measured = True


def pose_matrices(armature: bpy.types.Object) -> np.ndarray:
    """(bones, 4, 4) `pose_bone.matrix` of every bone (armature space), row-major."""
    bones = armature.pose.bones
    flat = np.empty(len(bones) * 16, dtype=np.float32)
    bones.foreach_get("matrix", flat)  # Blender's column-major float[4][4]
    return flat.astype(np.float64).reshape(-1, 4, 4).transpose(0, 2, 1)


def skinned_local_box(mesh: SkinnedMesh, pose: np.ndarray, to_armature: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mesh-local box that holds every skinned vertex on this frame (see the proof above)."""
    los: list[np.ndarray] = []
    his: list[np.ndarray] = []
    if mesh.static_box is not None:
        los.append(mesh.static_box[0])
        his.append(mesh.static_box[1])
    if len(mesh.bones):
        # D_i of every bone the mesh uses, mesh-local rest -> mesh-local posed
        deform = np.linalg.inv(to_armature) @ pose[mesh.bones] @ mesh.rest_inv @ to_armature
        carry = deform[:, :3, :].transpose(0, 2, 1)  # (bones, 4, 3): homogeneous point @ carry
        if len(mesh.rigid_bone):
            lo, hi = carried_box(mesh.rigid_centre, mesh.rigid_axes, carry[mesh.rigid_bone][:, None])
            # per bone: the intersection of its carried boxes; then the union over bones
            los.append(lo.max(axis=1).min(axis=0))
            his.append(hi.min(axis=1).max(axis=0))
        if len(mesh.group_low):
            low = (mesh.group_low @ carry.reshape(len(mesh.bones), 12)).reshape(-1, 4, 3)  # A per group
            # E_m = A + r D_m for each bone m of each group: (groups, m, 4, 3)
            maps = low[:, None] + mesh.group_rest[:, None, None, None] * carry[mesh.group_members]
            lo, hi = carried_box(mesh.group_centre[:, None], mesh.group_axes[:, None], maps)
            los.append(lo.min(axis=(0, 1)))
            his.append(hi.max(axis=(0, 1)))
    if not los:  # a mesh without vertices: bound_box is the origin
        return np.zeros(3), np.zeros(3)
    return np.min(los, axis=0), np.max(his, axis=0)


def exact_frame_box(character: Character, frame: int, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The exact pass's box of one frame (every mesh skinned), less the framing shift."""
    bpy.context.scene.frame_set(frame)
    depsgraph = bpy.context.evaluated_depsgraph_get()
    points = []
    for mesh in character.meshes:
        evaluated = mesh.evaluated_get(depsgraph)
        local = np.array([tuple(c) for c in evaluated.bound_box])
        world = as_array(evaluated.matrix_world)
        points.append(local @ world[:3, :3].T + world[:3, 3] - shift)
    stacked = np.concatenate(points)
    return stacked.min(axis=0), stacked.max(axis=0)


def refine_box(
    character: Character, frames: list[int], shifts: np.ndarray, frame_lo: np.ndarray, frame_hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Tighten the fast box with a few exact frames, keeping it around the exact box.

    Each side of each axis: the frames in order of their fast bound, the most outward first;
    the exact box of a frame never passes its fast bound, so once the next fast bound is within
    REFINE_TOLERANCE (of the box's size) of the best exact value seen, no later frame can go
    further than that bound: it is the side, at most the tolerance outside the exact box. A
    clip whose fast bounds are tight needs a handful of exact frames; the worst case is every
    frame once, which the budget below prevents."""
    lo = frame_lo.min(axis=0)
    hi = frame_hi.max(axis=0)
    tolerance = REFINE_TOLERANCE * (hi - lo)
    # Exact frames cost what the exact pass pays per frame: a share of the clip at most, so the
    # fast method stays fast where its bounds are loose on every frame (then the side is the
    # best fast bound left: still around the exact box, only less tight).
    budget = max(REFINE_MIN_FRAMES, int(REFINE_SHARE * len(frames)))
    exact: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def exact_at(index: int) -> tuple[np.ndarray, np.ndarray]:
        if index not in exact:
            exact[index] = exact_frame_box(character, frames[index], shifts[index])
        return exact[index]

    out_lo, out_hi = lo.copy(), hi.copy()
    for axis in range(3):
        for sign in (1.0, -1.0):  # +1: the max side (frame_hi), -1: the min side (frame_lo)
            bounds = sign * (frame_hi[:, axis] if sign > 0 else frame_lo[:, axis])
            best = -np.inf
            side = bounds.max()
            for index in np.argsort(-bounds, kind="stable"):
                out_of_budget = int(index) not in exact and len(exact) >= budget
                if bounds[index] <= best + tolerance[axis] or out_of_budget:
                    side = max(best, bounds[index])
                    break
                box_lo, box_hi = exact_at(int(index))
                best = max(best, sign * (box_hi[axis] if sign > 0 else box_lo[axis]))
                side = best
            if sign > 0:
                out_hi[axis] = side
            else:
                out_lo[axis] = -side
    return out_lo, out_hi, len(exact)


def measure_fast(character: Character, clip: Clip, framing: str, plan: FastPlan, started: float) -> ClipBox:
    """One pass over every frame of the clip with skinning switched off (restored after), then
    a few exact frames where the fast box may be loose (refine_box)."""
    scene = bpy.context.scene
    root = root_bone_name(character)
    frames = list(range(clip.frame_start, clip.frame_end + 1))
    frame_lo = np.zeros((len(frames), 3))
    frame_hi = np.zeros((len(frames), 3))
    shifts = np.zeros((len(frames), 3))
    root_xy: dict[int, tuple[float, float]] = {}
    for mesh in plan.skinned:
        mesh.modifier.show_viewport = False
    try:
        for n, frame in enumerate(frames):
            scene.frame_set(frame)
            depsgraph = bpy.context.evaluated_depsgraph_get()
            r = root_position(character, root)
            root_xy[frame] = (r.x, r.y)
            shift = np.array([r.x, r.y, 0.0]) if framing == "follow" else np.zeros(3)
            shifts[n] = shift
            lo = np.full(3, np.inf)
            hi = np.full(3, -np.inf)
            boxes: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
            if plan.skinned:
                armature = character.armature.evaluated_get(depsgraph)
                arm_inv = np.linalg.inv(as_array(armature.matrix_world))
                pose = pose_matrices(armature)
                for mesh in plan.skinned:
                    if not mesh.measured:
                        measure_rest_boxes(character, mesh, depsgraph)
                    world = as_array(mesh.obj.evaluated_get(depsgraph).matrix_world)
                    boxes.append((world, *skinned_local_box(mesh, pose, arm_inv @ world)))
            for obj in plan.rigid:  # as the exact pass does: its evaluated bound_box
                evaluated = obj.evaluated_get(depsgraph)
                local = np.array([tuple(c) for c in evaluated.bound_box])
                boxes.append((as_array(evaluated.matrix_world), local.min(axis=0), local.max(axis=0)))
            for world, box_lo, box_hi in boxes:
                corners = np.where(_CORNER_SIGNS, box_hi, box_lo)
                points = corners @ world[:3, :3].T + world[:3, 3] - shift
                lo = np.minimum(lo, points.min(axis=0))
                hi = np.maximum(hi, points.max(axis=0))
            frame_lo[n], frame_hi[n] = lo, hi
    finally:
        for mesh in plan.skinned:
            mesh.modifier.show_viewport = True
    if not frames or not np.isfinite(frame_lo).all() or not np.isfinite(frame_hi).all():
        raise ValueError(f"clip {clip.name}: no geometry to measure")
    lo, hi, exact_frames = refine_box(character, frames, shifts, frame_lo, frame_hi)
    return ClipBox(
        framing=framing,
        min=Vector((lo - FLOAT_PAD_M).tolist()),
        max=Vector((hi + FLOAT_PAD_M).tolist()),
        root_xy=root_xy,
        evaluations=1,
        seconds=time.perf_counter() - started,
        mode="fast",
        exact_frames=exact_frames,
    )
