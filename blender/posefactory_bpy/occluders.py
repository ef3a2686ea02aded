"""Occluders (config `scene.occluders`): a simple object between the camera and the character.

With probability `probability` an image gets one box, cylinder or sphere (largest size drawn
from `sizeM`), placed on the line from the camera to the clip's target at 35-65% of the way,
shifted sideways and up/down by up to a body half-width so that it covers part of the body,
not always its middle. The ground truth stays exact:
- a joint the object hides is visible no more: v = 2 becomes v = 1 (a ray from the camera to
  the joint hits the object first; the object's own BVH, so the body's tolerance rules stay);
- the object has object index 0, so the mask (ID mask of the character, scene.py) leaves it out.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import bmesh
import bpy
from mathutils import Matrix, Vector
from mathutils.bvhtree import BVHTree

from .draws import draw
from .keypoints import ImageKeypoints
from .landmarks import COCO_TO_MEDIAPIPE

SHAPES = ("box", "cylinder", "sphere")


@dataclass
class Occluders:
    probability: float
    size_m: tuple[float, float]
    objects: dict[str, bpy.types.Object]


def new_shape(name: str, shape: str, material: bpy.types.Material) -> bpy.types.Object:
    mesh = bpy.data.meshes.new(name)
    bm = bmesh.new()
    if shape == "box":
        bmesh.ops.create_cube(bm, size=1.0)
    elif shape == "cylinder":
        bmesh.ops.create_cone(bm, cap_ends=True, segments=16, radius1=0.5, radius2=0.5, depth=1.0)
    else:
        bmesh.ops.create_uvsphere(bm, u_segments=16, v_segments=8, radius=0.5)
    bm.to_mesh(mesh)
    bm.free()
    mesh.materials.append(material)
    obj = bpy.data.objects.new(name, mesh)
    obj.pass_index = 0
    obj.hide_render = True
    bpy.context.scene.collection.objects.link(obj)
    return obj


def prepare_occluders(spec: dict) -> Occluders:
    material = bpy.data.materials.new("posefactory_occluder")
    material.use_nodes = True
    bsdf = material.node_tree.nodes.get("Principled BSDF")
    if bsdf is not None:
        bsdf.inputs["Base Color"].default_value = (0.35, 0.3, 0.25, 1.0)
    objects = {shape: new_shape(f"posefactory_occluder_{shape}", shape, material) for shape in SHAPES}
    size = spec.get("sizeM", (0.2, 0.6))
    return Occluders(probability=float(spec.get("probability", 0.3)), size_m=(float(size[0]), float(size[1])), objects=objects)


def place_occluder(state: Occluders, rng: random.Random, camera: Vector, target: Vector, rotation: Matrix) -> dict | None:
    """Show one occluder for this image (or none); returns what was drawn."""
    for obj in state.objects.values():
        obj.hide_render = True
    if rng.random() >= state.probability:
        return None
    shape = rng.choice(SHAPES)
    size = draw(rng, state.size_m)
    along = rng.uniform(0.35, 0.65)
    side = rng.uniform(-0.25, 0.25)
    up = rng.uniform(-0.6, 0.5)
    spin = rng.uniform(0.0, 360.0)
    x_axis, y_axis = rotation.col[0], rotation.col[1]
    location = camera.lerp(target, along) + Vector(x_axis) * side + Vector(y_axis) * up
    obj = state.objects[shape]
    obj.location = location
    obj.rotation_euler = (0.0, 0.0, math.radians(spin))
    obj.scale = (size, size, size)
    obj.hide_render = False
    return {
        "shape": shape,
        "sizeM": round(size, 4),
        "location": [round(c, 4) for c in location],
        "alongCameraRay": round(along, 4),
    }


def occluder_bvh(state: Occluders) -> BVHTree | None:
    shown = [o for o in state.objects.values() if not o.hide_render]
    if not shown:
        return None
    obj = shown[0]
    verts = [obj.matrix_world @ v.co for v in obj.data.vertices]
    polys = [tuple(p.vertices) for p in obj.data.polygons]
    return BVHTree.FromPolygons(verts, polys)


def hide_behind(keypoints: ImageKeypoints, landmarks: list[Vector], camera: Vector, bvh: BVHTree) -> int:
    """v = 2 -> 1 for joints the occluder hides; returns how many."""
    hidden = 0
    flat = keypoints.mediapipe
    for index, point in enumerate(landmarks):
        if flat[index * 3 + 2] != 2:
            continue
        ray = point - camera
        distance = ray.length
        hit = bvh.ray_cast(camera, ray.normalized(), distance)
        if hit[0] is not None:
            flat[index * 3 + 2] = 1
            hidden += 1
    for k, index in enumerate(COCO_TO_MEDIAPIPE):
        keypoints.coco[k * 3 + 2] = flat[index * 3 + 2]
    return hidden
