"""Ground-truth keypoints from the rig: MediaPipe's 33 landmarks and COCO's 17.

Each landmark is a point that moves rigidly with one bone: a bone's head (the joint), or a
fixed offset in a bone's rest frame, computed once per character from the rest pose and
its proportions (head height H = head -> head_top, forearm length, foot length). Every
frame: world = armature.matrix_world @ pose_bone.matrix @ offset. The directions used for
the offsets (up, forward, left) come from the skeleton itself, so any rig orientation
works. "Left" is the character's own left, as in MediaPipe and COCO.

Bones are read through a rig profile (rigs.py): the table names our joints, with Mixamo's
bone as the example (MP = MediaPipe index, COCO = COCO index; "approx." = an offset, not a
joint). Required joints: head, shoulders, elbows, wrists, hips (left/right), knees, ankles.

| MP | landmark               | COCO | source (joint: Mixamo bone)                                   |
|----|------------------------|------|---------------------------------------------------------------|
|  0 | nose                   |   0  | head + (up 0.45 H, forward 0.45 H)                    approx.  |
|  2 | left_eye               |   1  | left_eye: LeftEye head; no eye bones: head + (up 0.52 H,      |
|  5 | right_eye              |   2  |   forward 0.38 H, side 0.14 H)                       approx.   |
| 1,4| left/right_eye_inner   |   -  | eye -+ 0.065 H sideways, towards the middle           approx.  |
| 3,6| left/right_eye_outer   |   -  | eye + 0.065 H sideways, away from the middle           approx. |
|  7 | left_ear               |   3  | head + (up 0.47 H, side 0.40 H)                       approx.  |
|  8 | right_ear              |   4  | same, mirrored                                        approx.  |
|9,10| mouth_left/right       |   -  | head + (up 0.30 H, forward 0.40 H, side 0.10 H)       approx.  |
| 11 | left_shoulder          |   5  | left_shoulder: LeftArm head (the upper arm, not the clavicle)  |
| 12 | right_shoulder         |   6  | right_shoulder: RightArm head                                  |
| 13 | left_elbow             |   7  | left_elbow: LeftForeArm head                                   |
| 14 | right_elbow            |   8  | right_elbow: RightForeArm head                                 |
| 15 | left_wrist             |   9  | left_wrist: LeftHand head                                      |
| 16 | right_wrist            |  10  | right_wrist: RightHand head                                    |
|17,18| left/right_pinky      |   -  | left_pinky: LeftHandPinky1 head; none: hand + offset  approx.  |
|19,20| left/right_index      |   -  | left_index: LeftHandIndex1 head; none: hand + offset  approx.  |
|21,22| left/right_thumb      |   -  | left_thumb: LeftHandThumb2 head (else Thumb1; else hand + offset) |
| 23 | left_hip               |  11  | left_hip: LeftUpLeg head                                       |
| 24 | right_hip              |  12  | right_hip: RightUpLeg head                                     |
| 25 | left_knee              |  13  | left_knee: LeftLeg head                                        |
| 26 | right_knee             |  14  | right_knee: RightLeg head                                      |
| 27 | left_ankle             |  15  | left_ankle: LeftFoot head                                      |
| 28 | right_ankle            |  16  | right_ankle: RightFoot head                                    |
|29,30| left/right_heel       |   -  | below the ankle at toe height, 0.25 foot length back  approx.  |
|31,32| left/right_foot_index |   -  | left_toe_end: LeftToe_End head; else toe (LeftToeBase; else the |
|     |                       |      |   ankle bone's tail) + 0.6 (toe - ankle)              approx.  |

Without `head_top` (HeadTop_End), the top of the head is the head bone's tail when that bone
points up and is 0.25-0.6 of the hips -> head distance long (Rigify, MakeHuman), else 0.4 of
that distance above the head joint. Without `hips`, the pelvis centre is the midpoint of the
hip joints; `hips`, `spine` and `neck` only set the up direction and are recorded.

Face points sit a little inside the head's surface (so they stay on the silhouette from
every side); a character with a big nose, a hat or long hair shifts the truth by a few cm.
Hands without finger bones and the heels are the other approximations.

Visibility (COCO): 0 outside the image (then x = y = 0), 1 occluded, 2 visible. Joints lie
inside the skin, so a ray from the camera to a joint always hits the body first: a joint
counts as visible when the first hit is within `tolerance_m` (about a limb radius, 0.25 m)
of the joint; a plain "any hit" test marked 98% of joints occluded. Face points use 0.08 m,
so that they are occluded when the camera sees the back of the head.
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np
from mathutils import Vector
from mathutils.bvhtree import BVHTree

from .character import Character, CharacterError
from .landmarks import COCO_TO_MEDIAPIPE, MEDIAPIPE_LANDMARKS
from .rigs import REQUIRED_JOINTS

VISIBILITY_TOLERANCE_M = 0.25
# Face points sit 1-3 cm inside the skin: a tighter tolerance keeps them occluded from behind
# (the head is about 0.2 m deep, within the body tolerance).
FACE_TOLERANCE_M = 0.08
FACE_LANDMARKS = range(0, 11)
# No head-top bone: the head bone's tail when it points up and is head-sized, else this
# share of the hips -> head distance (0.23 m of 0.57 m on an adult).
HEAD_FROM_TORSO = 0.4


@dataclass
class LandmarkSource:
    bone: str  # full pose bone name
    local: Vector  # point in the bone's rest frame (armature units)
    approximated: bool


@dataclass
class Rig:
    sources: list[LandmarkSource]  # 33, MediaPipe order

    def approximated(self) -> list[str]:
        return [MEDIAPIPE_LANDMARKS[i] for i, s in enumerate(self.sources) if s.approximated]


def build_rig(character: Character, joints: dict[str, str]) -> Rig:
    """Place the 33 landmarks on the rest pose and bind each to its bone.

    `joints` maps our joint names to pose bone names (rigs.py: a profile's match).
    """
    missing = [j for j in REQUIRED_JOINTS if j not in joints]
    if missing:
        raise CharacterError(f"{character.path.name}: the rig mapping lacks the joints {', '.join(missing)}")
    bones = character.armature.data.bones

    def rest(joint: str) -> Vector | None:
        bone = joints.get(joint)
        return bones[bone].head_local.copy() if bone is not None else None

    def head(joint: str) -> Vector:
        point = rest(joint)
        assert point is not None
        return point

    hips = rest("hips")
    if hips is None:
        hips = (head("left_hip") + head("right_hip")) / 2
    head_bone = bones[joints["head"]]
    top = rest("head_top")
    torso = (head("head") - hips).length
    if top is None:
        tail = head_bone.tail_local.copy()
        along = tail - head("head")
        points_up = along.length > 1e-9 and along.normalized().dot((head("head") - hips).normalized()) > 0.8
        if points_up and 0.25 * torso <= along.length <= 0.6 * torso:
            top = tail
        else:
            top = head("head") + (head("head") - hips).normalized() * HEAD_FROM_TORSO * torso
    head_height = (top - head("head")).length
    up = (top - hips).normalized()
    left = (head("left_hip") - head("right_hip")).normalized()
    forward = left.cross(up).normalized()
    left = up.cross(forward).normalized()  # exactly orthogonal

    points: list[tuple[str, Vector, bool]] = [("head", Vector(), True)] * 33

    def face(up_h: float, fwd_h: float, side_h: float) -> Vector:
        return head("head") + head_height * (up * up_h + forward * fwd_h + left * side_h)

    points[0] = ("head", face(0.45, 0.45, 0.0), True)
    for side, s, eye_i, inner_i, outer_i, ear_i, mouth_i in (
        ("left", 1.0, 2, 1, 3, 7, 9),
        ("right", -1.0, 5, 4, 6, 8, 10),
    ):
        eye_bone = rest(f"{side}_eye")
        eye = eye_bone if eye_bone is not None else face(0.52, 0.38, 0.14 * s)
        eye_owner = f"{side}_eye" if eye_bone is not None else "head"
        points[eye_i] = (eye_owner, eye, eye_bone is None)
        points[inner_i] = ("head", eye - left * (0.065 * head_height * s), True)
        points[outer_i] = ("head", eye + left * (0.065 * head_height * s), True)
        points[ear_i] = ("head", face(0.47, 0.0, 0.40 * s), True)
        points[mouth_i] = ("head", face(0.30, 0.40, 0.10 * s), True)

    for side, base in (("left", 0), ("right", 1)):
        points[11 + base] = (f"{side}_shoulder", head(f"{side}_shoulder"), False)
        points[13 + base] = (f"{side}_elbow", head(f"{side}_elbow"), False)
        points[15 + base] = (f"{side}_wrist", head(f"{side}_wrist"), False)
        hand = head(f"{side}_wrist")
        forearm = hand - head(f"{side}_elbow")
        along, reach = forearm.normalized(), forearm.length
        for index, finger, fallback in (
            (17 + base, "pinky", hand + along * 0.32 * reach - forward * 0.08 * reach),
            (19 + base, "index", hand + along * 0.35 * reach + forward * 0.08 * reach),
            (21 + base, "thumb", hand + along * 0.15 * reach + forward * 0.15 * reach),
        ):
            joint = f"{side}_{finger}"
            if joint in joints:
                points[index] = (joint, head(joint), False)
            else:
                points[index] = (f"{side}_wrist", fallback, True)
        points[23 + base] = (f"{side}_hip", head(f"{side}_hip"), False)
        points[25 + base] = (f"{side}_knee", head(f"{side}_knee"), False)
        points[27 + base] = (f"{side}_ankle", head(f"{side}_ankle"), False)
        ankle = head(f"{side}_ankle")
        toe_base = rest(f"{side}_toe")
        toe = toe_base if toe_base is not None else bones[joints[f"{side}_ankle"]].tail_local.copy()
        foot_length = (toe - ankle - up * (toe - ankle).dot(up)).length
        heel = ankle - forward * 0.25 * foot_length + up * (toe - ankle).dot(up)
        points[29 + base] = (f"{side}_ankle", heel, True)
        toe_end = rest(f"{side}_toe_end")
        if toe_end is not None:
            points[31 + base] = (f"{side}_toe_end", toe_end, False)
        else:
            owner = f"{side}_toe" if toe_base is not None else f"{side}_ankle"
            points[31 + base] = (owner, toe + (toe - ankle) * 0.6, True)

    sources = []
    for owner, rest_point, approximated in points:
        full = joints[owner]
        local = bones[full].matrix_local.inverted() @ rest_point
        sources.append(LandmarkSource(bone=full, local=local, approximated=approximated))
    return Rig(sources=sources)


def world_landmarks(character: Character, rig: Rig) -> list[Vector]:
    """The 33 landmarks in world metres for the current (evaluated) frame."""
    world = character.armature.matrix_world
    pose = character.armature.pose.bones
    return [world @ (pose[s.bone].matrix @ s.local) for s in rig.sources]


def world_geometry(character: Character) -> tuple[np.ndarray, np.ndarray]:
    """Deformed vertices (world) and triangles of every mesh at the current frame."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    all_verts: list[np.ndarray] = []
    all_tris: list[np.ndarray] = []
    offset = 0
    for mesh_obj in character.meshes:
        evaluated = mesh_obj.evaluated_get(depsgraph)
        mesh = evaluated.to_mesh()
        try:
            count = len(mesh.vertices)
            co = np.empty(count * 3, dtype=np.float64)
            mesh.vertices.foreach_get("co", co)
            co = co.reshape(-1, 3)
            matrix = np.array(evaluated.matrix_world, dtype=np.float64)
            world = co @ matrix[:3, :3].T + matrix[:3, 3]
            mesh.calc_loop_triangles()
            tris = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int64)
            mesh.loop_triangles.foreach_get("vertices", tris)
            all_verts.append(world)
            all_tris.append(tris.reshape(-1, 3) + offset)
            offset += count
        finally:
            evaluated.to_mesh_clear()
    return np.concatenate(all_verts), np.concatenate(all_tris)


def build_bvh(verts: np.ndarray, tris: np.ndarray) -> BVHTree:
    return BVHTree.FromPolygons(verts.tolist(), tris.tolist(), all_triangles=True)


def is_visible(bvh: BVHTree, origin: Vector, point: Vector, tolerance_m: float) -> bool:
    ray = point - origin
    distance = ray.length
    if distance < 1e-9:
        return True
    hit, _normal, _index, hit_distance = bvh.ray_cast(origin, ray / distance, distance)
    return hit is None or hit_distance >= distance - tolerance_m


@dataclass
class ImageKeypoints:
    mediapipe: list[float]  # flat [x, y, v] * 33
    coco: list[float]  # flat [x, y, v] * 17
    num_keypoints: int
    bbox: list[float]  # [x, y, w, h] of the projected mesh, clipped to the image
    area: float


def label_image(
    landmarks: list[Vector],
    verts: np.ndarray,
    bvh: BVHTree,
    camera_location: Vector,
    K: list[list[float]],
    R: list[list[float]],
    t: list[float],
    resolution: tuple[int, int],
    tolerance_m: float = VISIBILITY_TOLERANCE_M,
) -> ImageKeypoints:
    """Project the landmarks and the mesh through one camera; COCO visibility by ray cast."""
    width, height = resolution
    Km, Rm, tv = np.array(K), np.array(R), np.array(t)
    flat: list[float] = []
    for index, point in enumerate(landmarks):
        cam = Rm @ np.array(point) + tv
        if cam[2] <= 1e-9:
            flat += [0.0, 0.0, 0]
            continue
        u = Km[0, 0] * cam[0] / cam[2] + Km[0, 2]
        v = Km[1, 1] * cam[1] / cam[2] + Km[1, 2]
        if not (0.0 <= u < width and 0.0 <= v < height):
            flat += [0.0, 0.0, 0]
            continue
        tolerance = min(tolerance_m, FACE_TOLERANCE_M) if index in FACE_LANDMARKS else tolerance_m
        visible = is_visible(bvh, camera_location, point, tolerance)
        flat += [round(float(u), 3), round(float(v), 3), 2 if visible else 1]
    coco: list[float] = []
    for index in COCO_TO_MEDIAPIPE:
        coco += flat[index * 3 : index * 3 + 3]
    cam_pts = verts @ Rm.T + tv
    in_front = cam_pts[cam_pts[:, 2] > 1e-9]
    if len(in_front):
        us = np.clip(Km[0, 0] * in_front[:, 0] / in_front[:, 2] + Km[0, 2], 0, width)
        vs = np.clip(Km[1, 1] * in_front[:, 1] / in_front[:, 2] + Km[1, 2], 0, height)
        x0, y0, x1, y1 = float(us.min()), float(vs.min()), float(us.max()), float(vs.max())
    else:
        x0 = y0 = x1 = y1 = 0.0
    bbox = [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)]
    return ImageKeypoints(
        mediapipe=flat,
        coco=coco,
        num_keypoints=sum(1 for i in range(2, len(coco), 3) if coco[i] > 0),
        bbox=bbox,
        area=round(bbox[2] * bbox[3], 2),
    )
