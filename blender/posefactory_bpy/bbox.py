"""The character's bounding box over a whole clip, measured in ONE pass over its frames.

Per frame: each mesh's evaluated `bound_box` (skinning applied) through `matrix_world`,
unioned over every mesh. `scene.frame_set` (depsgraph + skinning) is the cost, so the pass
runs once per clip and every camera reuses it (recomputing it per camera made placement
about 8x slower with 8 cameras). Every frame counts: sampling every 8th frame missed a fast
gesture by 12 cm.

Modes (job.json `cameras.bbox`):
- `exact`: the pass above, every mesh fully evaluated (skinned) on every frame.
- `fast` (default): the armature's pose on every frame (poses.py computes it without
  evaluating the scene; rigs it cannot model are evaluated by Blender with skinning off),
  then every vertex skinned here in bulk with Blender's formula (see the comment above
  `SkinnedMesh`): the exact box to float rounding, padded so that it always contains it. A
  mesh this cannot model (other modifiers, animated shape keys, dual-quaternion or envelope
  skinning, B-Bones) makes the clip fall back to `exact`; the manifest records the mode used
  and why.

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
from .poses import MATCH_TOLERANCE, as_array, pose_matrices, rest_matrices, sample_poses


@dataclass
class ClipBox:
    framing: str
    min: Vector  # world metres; relative to the root's (x, y) in follow framing
    max: Vector
    root_xy: dict[int, tuple[float, float]] = field(default_factory=dict)
    evaluations: int = 0
    seconds: float = 0.0
    mode: str = "exact"  # the method that measured it: "fast" or "exact"
    poses: str | None = None  # fast: how the armature's poses were found (computed, or by Blender and why)
    weights: str | None = None  # fast: how the skinned meshes' weights were read ("nodes", "vertices", both: "+")
    fallback: str | None = None  # why "fast" was asked for and "exact" used

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


# --- fast: the armature's pose per frame, then every vertex skinned by matrix products ------
#
# Blender's armature modifier (linear blend skinning with vertex groups, no preserve volume, no
# B-Bones) moves a vertex v of the mesh, in the mesh's local space, to
#     v' = sum_i u_i * D_i v,   D_i = P^-1 @ pose_i @ rest_i^-1 @ P,   u_i = w_i / sum_j w_j
# over the deforming bones i whose vertex group holds v with a weight w_i > 0, where P maps
# mesh-local to armature space (armature.matrix_world^-1 @ mesh.matrix_world), pose_i is
# `pose_bone.matrix`, rest_i `bone.matrix_local`; when sum_j w_j <= 0.0001 v stays put.
#
# The exact pass has Blender skin every vertex on every frame (with normals and the rest of a
# full depsgraph evaluation) and reads the mesh-local box (`bound_box`). The fast pass takes
# the armature's pose on every frame (poses.py; or from Blender, skinning switched off) and
# applies the formula above to every vertex itself, for many frames at once: the vertices
# driven by the same bones form a group; its rows [u_1 v, u_2 v, ...] (n, 4 * bones) times
# the bones' D stacked, each frame side by side (4 * bones, frames * 3), are the skinned
# coordinates of the whole group on every frame: one matrix product per group and block of
# frames, reduced to its min and max at once. In float32 as Blender skins; the per-frame
# mesh-local box then goes through matrix_world as the exact pass does, so the two boxes
# differ only by rounding, which the pad covers.

# Blender skins in float32, as does this (in another order), and the manifest rounds to 10 um:
# pad that much, plus the relative error on coordinates far from the origin (float_pad).
FLOAT_PAD_M = 2e-5
# A vertex whose deform weights sum to at most this may stay in rest position (Blender: 1e-4).
STATIC_WEIGHT = 1e-3
# Bones' matrices per block of frames (bones * frames * 12 float32), about 4 MB, and the
# skinned coordinates of a group of vertices at most that many times its size.
BLOCK_VALUES = 1 << 20
# Meshes from this many vertices have their weights read by geometry nodes (read_by_nodes: a
# fixed ~3 ms, then well under the ~1.2 us per vertex of reading them one by one), on Blender
# 4.0+: Blender 3.4 reads them one by one in ~0.65 us a vertex, faster than its nodes do.
NODES_FROM_VERTICES = 4000
NODES_FROM_BLENDER = (4, 0, 0)


@dataclass
class SkinnedMesh:
    """A mesh skinned by the character's armature, ready for the fast pass (`prepare_skinning`)."""

    obj: bpy.types.Object
    modifier: bpy.types.Modifier
    measured: bool = False
    bones: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # slot -> pose bone index
    rest_inv: np.ndarray = field(default_factory=lambda: np.zeros((0, 4, 4)))  # per slot: bone.matrix_local^-1
    # Vertices grouped by the set of slots (bones) that drive them: per group, its slots and
    # (vertices, 4 * slots) each vertex's homogeneous rest coordinates times each slot's weight.
    group_slots: list[np.ndarray] = field(default_factory=list)
    group_weighted: list[np.ndarray] = field(default_factory=list)
    rest_box: np.ndarray | None = None  # (2, 3) mesh-local box of vertices that may stay at rest
    weights_read: str = ""  # how its weights were read: "nodes" (read_by_nodes) or "vertices"


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


def deforming_groups(character: Character, obj: bpy.types.Object) -> list[tuple[bpy.types.VertexGroup, int]]:
    """The mesh's vertex groups that a deforming bone moves, each with its pose bone's index."""
    pose_names = {pb.name: n for n, pb in enumerate(character.armature.pose.bones)}
    deforming = {b.name for b in character.armature.data.bones if b.use_deform}
    return [(g, pose_names[g.name]) for g in obj.vertex_groups if g.name in deforming and g.name in pose_names]


def read_rest(character: Character, mesh: SkinnedMesh) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What the armature modifier starts from: (vertices, 3) coordinates (the mesh's own, or
    with shape keys the evaluated mesh while the modifier is off: static keys mixed in), and
    every (vertex, pose bone index, weight > 0) of a deforming bone's vertex group."""
    groups = deforming_groups(character, mesh.obj)
    bone_of = np.array([bone for _, bone in groups], dtype=int)
    worth = bpy.app.version >= NODES_FROM_BLENDER and len(mesh.obj.data.vertices) >= NODES_FROM_VERTICES
    by_nodes = read_by_nodes(mesh, [g.name for g, _ in groups]) if groups and worth else None
    if by_nodes is not None:
        mesh.weights_read = "nodes"
        coords, weights = by_nodes
        column, vertex = np.nonzero(weights > 0)
        return coords, vertex, bone_of[column], weights[column, vertex].astype(np.float64)
    mesh.weights_read = "vertices"
    vertex, column, weight = read_by_vertex(mesh.obj, [g.index for g, _ in groups])
    return rest_coordinates(mesh), vertex, bone_of[column], weight


# The Python API has no bulk read of vertex groups (calls per vertex and per weight: 11 ms of
# a Mixamo character on Blender 4.5, a third of the fast pass on a short clip). Geometry nodes
# hand them over instead: a mesh turned into points and back (Mesh to Points, Points to
# Vertices) keeps its vertices in order and each vertex group as a float attribute, which
# foreach_get reads in one call.
def read_by_nodes(mesh: SkinnedMesh, names: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """(vertices, 3) rest coordinates and (len(names), vertices) the weights of the named vertex
    groups (float32, as Blender keeps them), from the mesh evaluated through a node group with
    the armature modifier off; None where the nodes cannot tell a group apart from the mesh's
    other data or this Blender lacks them (then read_by_vertex)."""
    data = mesh.obj.data
    taken = {a.name for a in data.attributes} | {uv.name for uv in data.uv_layers}
    if any(name in taken or name.startswith(".") for name in names):
        return None  # an attribute or UV map of the same name, or a hidden one: by vertex
    tree = bpy.data.node_groups.new(".posefactory vertex groups", "GeometryNodeTree")
    modifier = mesh.obj.modifiers.new(".posefactory vertex groups", "NODES")
    try:
        build_points_and_back(tree)
        modifier.node_group = tree
        mesh.modifier.show_viewport = False
        evaluated = mesh.obj.evaluated_get(bpy.context.evaluated_depsgraph_get()).data
        if len(evaluated.vertices) != len(data.vertices):
            return None
        weights = np.empty((len(names), len(data.vertices)), dtype=np.float32)
        for row, name in zip(weights, names):
            attribute = evaluated.attributes.get(name)
            if attribute is None or attribute.domain != "POINT" or attribute.data_type != "FLOAT":
                return None
            attribute.data.foreach_get("value", row)
        return vertex_coordinates(evaluated), weights
    except (RuntimeError, KeyError, TypeError):  # a Blender without these nodes or sockets
        return None
    finally:
        mesh.modifier.show_viewport = True
        mesh.obj.modifiers.remove(modifier)
        bpy.data.node_groups.remove(tree)


def build_points_and_back(tree: bpy.types.NodeTree) -> None:
    """Geometry in -> Mesh to Points -> Points to Vertices -> Geometry out."""
    if hasattr(tree, "interface"):  # Blender 4.0+
        tree.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
        tree.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    else:
        tree.inputs.new("NodeSocketGeometry", "Geometry")
        tree.outputs.new("NodeSocketGeometry", "Geometry")
    points = tree.nodes.new("GeometryNodeMeshToPoints")
    vertices = tree.nodes.new("GeometryNodePointsToVertices")
    tree.links.new(tree.nodes.new("NodeGroupInput").outputs[0], points.inputs["Mesh"])
    tree.links.new(points.outputs[0], vertices.inputs["Points"])
    tree.links.new(vertices.outputs[0], tree.nodes.new("NodeGroupOutput").inputs[0])


def read_by_vertex(obj: bpy.types.Object, indices: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (vertex, n, weight > 0) of the vertex group indices[n], vertex by vertex."""
    if not indices:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int), np.zeros(0)
    column = np.full(max((g.index for g in obj.vertex_groups), default=-1) + 2, -1, dtype=int)
    column[indices] = np.arange(len(indices))
    counts: list[int] = []
    groups: list[int] = []
    weights: list[float] = []
    for vert in obj.data.vertices:
        entries = vert.groups
        counts.append(len(entries))
        for entry in entries:
            groups.append(entry.group)
            weights.append(entry.weight)
    vertex = np.repeat(np.arange(len(counts)), counts)
    slot = column[np.minimum(np.array(groups, dtype=int), len(column) - 1)]  # last: not one of them
    weight = np.array(weights, dtype=np.float64)
    keep = (slot >= 0) & (weight > 0)
    return vertex[keep], slot[keep], weight[keep]


def rest_coordinates(mesh: SkinnedMesh) -> np.ndarray:
    """(vertices, 3) the coordinates the armature modifier starts from (read_rest)."""
    if mesh.obj.data.shape_keys is None:
        return vertex_coordinates(mesh.obj.data)
    mesh.modifier.show_viewport = False
    try:
        return vertex_coordinates(mesh.obj.evaluated_get(bpy.context.evaluated_depsgraph_get()).data)
    finally:
        mesh.modifier.show_viewport = True


def vertex_coordinates(data: bpy.types.Mesh) -> np.ndarray:
    coords = np.empty(len(data.vertices) * 3, dtype=np.float32)  # Blender's type: the fast read
    data.vertices.foreach_get("co", coords)
    return coords.reshape(-1, 3).astype(np.float64)


def prepare_skinning(character: Character, mesh: SkinnedMesh) -> None:
    """`mesh`'s rest coordinates times their weights, per bone (weights from the original mesh:
    the same vertices, no other modifier is active)."""
    coords, vertex, bone, weight = read_rest(character, mesh)
    count = len(coords)
    used, slot = np.unique(bone, return_inverse=True)  # slots in pose bone order
    total = np.bincount(vertex, weights=weight, minlength=count)
    # Each skinned vertex as a row of its slots (ascending, -1 after them) and one of its shares
    # of the total weight: a few columns (the most bones on one vertex), not one per bone.
    skinned = np.flatnonzero(total > 0)  # every entry's vertex: its weight is > 0
    entries = np.lexsort((slot, vertex))
    vertex, slot, weight = vertex[entries], slot[entries], weight[entries]
    row = np.searchsorted(skinned, vertex)
    rank = np.arange(len(vertex)) - np.searchsorted(vertex, vertex)
    width = int(rank.max(initial=-1)) + 1
    slots_of = np.full((len(skinned), width), -1)
    slots_of[row, rank] = slot
    shares = np.zeros((len(skinned), width))
    shares[row, rank] = weight / total[vertex]
    # Vertices driven by the same set of slots form a group: one matrix product for all of it.
    order = np.lexsort(slots_of.T[::-1]) if width else np.zeros(0, dtype=int)
    slots_of, shares = slots_of[order], shares[order]
    homogeneous = np.hstack([coords[skinned[order]], np.ones((len(order), 1))])
    changes = np.flatnonzero((slots_of[1:] != slots_of[:-1]).any(axis=1)) + 1
    starts = np.r_[0, changes, len(order)] if len(order) else np.zeros(1, dtype=int)
    mesh.group_slots, mesh.group_weighted = [], []
    for first, end in zip(starts[:-1], starts[1:]):
        slots = slots_of[first][slots_of[first] >= 0]
        weighted = shares[first:end, : len(slots), None] * homogeneous[first:end, None, :]  # (n, slots, 4)
        mesh.group_slots.append(slots)
        mesh.group_weighted.append(weighted.reshape(end - first, -1).astype(np.float32))
    resting = coords[total <= STATIC_WEIGHT]
    mesh.rest_box = np.array([resting.min(axis=0), resting.max(axis=0)]) if len(resting) else None
    mesh.bones = used
    mesh.rest_inv = np.linalg.inv(rest_matrices(character.armature)[used])
    mesh.measured = True


def skinned_boxes(mesh: SkinnedMesh, poses: np.ndarray, to_armature: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the mesh-local box of the skinned mesh: (frames, 3) lo and hi."""
    frames = len(poses)
    lo = np.full((frames, 3), np.inf)
    hi = np.full((frames, 3), -np.inf)
    if mesh.rest_box is None and not mesh.group_weighted:  # no vertices: bound_box is the origin
        return np.zeros((frames, 3)), np.zeros((frames, 3))
    if mesh.rest_box is not None:
        lo, hi = np.minimum(lo, mesh.rest_box[0]), np.maximum(hi, mesh.rest_box[1])
    if not mesh.group_weighted:  # every vertex stays at rest
        return lo, hi
    block = max(1, BLOCK_VALUES // (12 * len(mesh.bones)))
    # One buffer for every group's skinned coordinates: a fresh array per group (megabytes on
    # a long clip) is a fresh mapping from the OS each time, and its page faults cost more
    # than the products themselves.
    largest = max(len(weighted) for weighted in mesh.group_weighted)
    buffer = np.empty(largest * 3 * min(block, frames), dtype=np.float32)
    for start in range(0, frames, block):
        end = min(start + block, frames)
        # D of each slot on each frame, mesh-local rest -> mesh-local posed: (frames, slots, 4, 4)
        pre = to_armature[start:end, None]
        deform = np.linalg.inv(pre) @ poses[start:end, mesh.bones] @ mesh.rest_inv[None] @ pre
        # as columns: a homogeneous row @ (4, frames * 3) gives its x, y, z on every frame
        columns = deform[:, :, :3, :].transpose(1, 3, 0, 2).reshape(len(mesh.bones), 4, -1).astype(np.float32)
        block_lo = np.full(columns.shape[2], np.inf, dtype=np.float32)
        block_hi = np.full(columns.shape[2], -np.inf, dtype=np.float32)
        for slots, weighted in zip(mesh.group_slots, mesh.group_weighted):
            skinned = buffer[: len(weighted) * columns.shape[2]].reshape(len(weighted), -1)
            np.matmul(weighted, columns[slots].reshape(4 * len(slots), -1), out=skinned)  # sum over the slots
            block_lo = np.minimum(block_lo, skinned.min(axis=0))
            block_hi = np.maximum(block_hi, skinned.max(axis=0))
        lo[start:end] = np.minimum(lo[start:end], block_lo.reshape(-1, 3))
        hi[start:end] = np.maximum(hi[start:end], block_hi.reshape(-1, 3))
    return lo, hi


def float_pad(lo: np.ndarray, hi: np.ndarray) -> float:
    """Float32 skinning and poses are off by a few units of their last place, relative to the
    coordinates: computed poses match Blender's to MATCH_TOLERANCE (poses.py)."""
    return FLOAT_PAD_M + MATCH_TOLERANCE * float(max(np.abs(lo).max(), np.abs(hi).max()))


def world_boxes(world: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the world box of the 8 corners of a local box (lo, hi: (frames, 3)) through
    `world` (frames, 4, 4): what the exact pass does with `bound_box` and `matrix_world`."""
    centre = (lo + hi) / 2
    half = (hi - lo) / 2
    moved = np.einsum("fij,fj->fi", world[:, :3, :3], centre) + world[:, :3, 3]
    reach = np.einsum("fij,fj->fi", np.abs(world[:, :3, :3]), half)
    return moved - reach, moved + reach


def measure_fast(character: Character, clip: Clip, framing: str, plan: FastPlan, started: float) -> ClipBox:
    """The armature's pose on every frame (computed, or read from Blender with skinning
    switched off), then every frame's box from the vertices skinned here (see above)."""
    frames = list(range(clip.frame_start, clip.frame_end + 1))
    for mesh in plan.skinned:
        if not mesh.measured:
            prepare_skinning(character, mesh)
    computed, why = sample_poses(character, frames)
    if computed is not None:
        log_poses = f"computed ({len(frames)} frames)"
        poses, arm_world, mesh_world = computed
        world_of = {mesh.name: world for mesh, world in zip(character.meshes, mesh_world)}
        skinned_world = [world_of[mesh.obj.name] for mesh in plan.skinned]
        # Unskinned meshes only move: their evaluated box (as the exact pass reads it), once.
        depsgraph = bpy.context.evaluated_depsgraph_get()
        boxes = []
        for obj in plan.rigid:
            local = np.array([tuple(c) for c in obj.evaluated_get(depsgraph).bound_box])
            count = len(frames)
            boxes.append((world_of[obj.name], np.broadcast_to(local.min(axis=0), (count, 3)), np.broadcast_to(local.max(axis=0), (count, 3))))
        root = character.armature.pose.bones.find(root_bone_name(character))
        heads = np.einsum("fij,fj->fi", arm_world, poses[:, root, :, 3])
        root_xy = {frame: (float(h[0]), float(h[1])) for frame, h in zip(frames, heads)}
    else:
        log_poses = f"by Blender ({why})"
        root_xy, poses, arm_world, skinned_world, boxes = evaluate_frames(character, frames, plan)
    for m, mesh in enumerate(plan.skinned):
        to_armature = np.linalg.inv(arm_world) @ skinned_world[m]
        boxes.append((skinned_world[m], *skinned_boxes(mesh, poses, to_armature)))
    shifts = np.zeros((len(frames), 3))
    if framing == "follow":
        shifts[:, :2] = [root_xy[frame] for frame in frames]
    lo = np.full(3, np.inf)
    hi = np.full(3, -np.inf)
    for world, local_lo, local_hi in boxes:
        box_lo, box_hi = world_boxes(world, local_lo, local_hi)
        lo = np.minimum(lo, (box_lo - shifts).min(axis=0))
        hi = np.maximum(hi, (box_hi - shifts).max(axis=0))
    if not frames or not np.isfinite(lo).all() or not np.isfinite(hi).all():
        raise ValueError(f"clip {clip.name}: no geometry to measure")
    pad = float_pad(lo, hi)
    return ClipBox(
        framing=framing,
        min=Vector((lo - pad).tolist()),
        max=Vector((hi + pad).tolist()),
        root_xy=root_xy,
        evaluations=1,
        seconds=time.perf_counter() - started,
        mode="fast",
        poses=log_poses,
        weights="+".join(sorted({mesh.weights_read for mesh in plan.skinned})) or None,
    )


def evaluate_frames(
    character: Character, frames: list[int], plan: FastPlan
) -> tuple[dict[int, tuple[float, float]], np.ndarray, np.ndarray, list[np.ndarray], list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Blender evaluates each frame with skinning switched off (restored after): the root's
    position, the pose, the armature's and skinned meshes' matrices, and the unskinned meshes'
    world matrices and local boxes (their evaluated bound_box, as the exact pass reads it)."""
    scene = bpy.context.scene
    root = root_bone_name(character)
    count = len(frames)
    root_xy: dict[int, tuple[float, float]] = {}
    poses = np.zeros((count, len(character.armature.pose.bones), 4, 4))
    arm_world = np.zeros((count, 4, 4))
    skinned_world = [np.zeros((count, 4, 4)) for _ in plan.skinned]
    rigid = [(np.zeros((count, 4, 4)), np.zeros((count, 3)), np.zeros((count, 3))) for _ in plan.rigid]
    for mesh in plan.skinned:
        mesh.modifier.show_viewport = False
    try:
        for n, frame in enumerate(frames):
            scene.frame_set(frame)
            depsgraph = bpy.context.evaluated_depsgraph_get()
            r = root_position(character, root)
            root_xy[frame] = (r.x, r.y)
            armature = character.armature.evaluated_get(depsgraph)
            arm_world[n] = as_array(armature.matrix_world)
            poses[n] = pose_matrices(armature)
            for m, mesh in enumerate(plan.skinned):
                skinned_world[m][n] = as_array(mesh.obj.evaluated_get(depsgraph).matrix_world)
            for (world, lo, hi), obj in zip(rigid, plan.rigid):
                evaluated = obj.evaluated_get(depsgraph)
                local = np.array([tuple(c) for c in evaluated.bound_box])
                world[n], lo[n], hi[n] = as_array(evaluated.matrix_world), local.min(axis=0), local.max(axis=0)
    finally:
        for mesh in plan.skinned:
            mesh.modifier.show_viewport = True
    return root_xy, poses, arm_world, skinned_world, rigid
