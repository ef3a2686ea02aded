"""Camera placement: azimuths x elevations around the character, each fitted exactly.

Angles: azimuth 0 looks at the character's front, 90 stands at the character's left,
counter-clockwise seen from above; elevation is positive above the target. The configured
azimuths are relative to the character: the front's world azimuth (`facing_deg`, facing.py,
0 = the camera on -Y, where most Mixamo characters face once imported) is added to each.

Exact fit (NOTES.md): `camera.data.angle_x/angle_y` ignore the render aspect, so the field of
view comes from the lens, the sensor and the aspect: with sensor_fit AUTO the sensor spans
the longer image side. For a fixed view direction, each box corner relative to the target,
in camera axes (x right, y up, z back), needs a distance `z + |x| / tx` (and `z + |y| / ty`)
with `t = tan(fov / 2) * (1 - margin)`; the camera distance is the largest over the corners.

A fixed rig (config `distanceM`, optionally `heightM` above the ground) skips the fit and
warns when the clip's box would not fit in the frame.

K, R, t follow OpenCV: x right, y down, z forward; world -> camera; pixel origin at the
image's top-left corner.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

import bpy
from mathutils import Matrix, Vector

from .bbox import ClipBox
from .draws import draw
from .job import CameraSpec


@dataclass
class View:
    id: str
    azimuth_deg: float
    elevation_deg: float
    offset: Vector  # from the target to the camera (world metres)
    rotation: Matrix  # 3x3, columns = camera x (right), y (up), z (back) in world axes
    camera: bpy.types.Object

    @property
    def distance_m(self) -> float:
        return self.offset.length


def format_angle(value: float, width: int) -> str:
    if abs(value - round(value)) < 1e-6:
        number = int(round(value))
        return f"-{abs(number):0{width}d}" if number < 0 else f"{number:0{width}d}"
    return f"{value:.1f}"


def view_id(azimuth_deg: float, elevation_deg: float) -> str:
    """`az045_el10`, `az000_el-10`: the view folder of every output path."""
    return f"az{format_angle(azimuth_deg % 360.0, 3)}_el{format_angle(elevation_deg, 0)}"


def fov_tangents(spec: CameraSpec, resolution: tuple[int, int]) -> tuple[float, float]:
    """tan(horizontal fov / 2), tan(vertical fov / 2) for this render aspect (sensor fit AUTO)."""
    width, height = resolution
    base = spec.sensor_mm / (2.0 * spec.lens_mm)
    if width >= height:
        return base, base * height / width
    return base * width / height, base


def direction(azimuth_deg: float, elevation_deg: float) -> Vector:
    """Unit vector from the target towards the camera."""
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    return Vector((math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)))


def look_rotation(offset: Vector) -> Matrix:
    """Camera rotation looking from target + offset back at the target, world Z up."""
    return (-offset).to_track_quat("-Z", "Y").to_matrix()


def fit_distance(corners: list[Vector], rotation: Matrix, tx: float, ty: float) -> float:
    x_axis, y_axis, z_axis = rotation.col[0], rotation.col[1], rotation.col[2]
    best = 0.0
    for p in corners:
        x, y, z = p.dot(x_axis), p.dot(y_axis), p.dot(z_axis)
        best = max(best, z + abs(x) / tx, z + abs(y) / ty)
    return best


def new_camera(name: str, spec: CameraSpec) -> bpy.types.Object:
    data = bpy.data.cameras.new(name)
    data.lens = spec.lens_mm
    data.sensor_width = spec.sensor_mm
    data.sensor_fit = "AUTO"
    data.clip_start = 0.01
    data.clip_end = 10000.0
    obj = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def plan_views(
    box: ClipBox, spec: CameraSpec, resolution: tuple[int, int], facing_deg: float = 0.0
) -> list[tuple[float, float, Vector]]:
    """(azimuth relative to the character's front, elevation, world offset) for every camera."""
    tx, ty = fov_tangents(spec, resolution)
    keep = 1.0 - spec.margin
    planned: list[tuple[float, float, Vector]] = []
    if spec.distance_m is not None and spec.height_m is not None:
        # Fixed rig: one ring at a height above the ground (the box's lowest point).
        rise = box.min.z + spec.height_m - box.center.z
        for az in spec.azimuths_deg:
            flat = direction(az + facing_deg, 0.0) * spec.distance_m
            offset = Vector((flat.x, flat.y, rise))
            elevation = math.degrees(math.atan2(rise, spec.distance_m))
            planned.append((az, round(elevation, 1), offset))
        return planned
    corners = box.corners()
    for el in spec.elevations_deg:
        for az in spec.azimuths_deg:
            unit = direction(az + facing_deg, el)
            if spec.distance_m is not None:
                planned.append((az, el, unit * spec.distance_m))
                continue
            rotation = look_rotation(unit)
            distance = fit_distance(corners, rotation, tx * keep, ty * keep)
            planned.append((az, el, unit * distance))
    return planned


def place_views(
    box: ClipBox, spec: CameraSpec, resolution: tuple[int, int], facing_deg: float = 0.0
) -> list[View]:
    """Create one camera object per view, fitted to the clip's box."""
    views: list[View] = []
    for az, el, offset in plan_views(box, spec, resolution, facing_deg):
        vid = view_id(az, el)
        views.append(
            View(
                id=vid,
                azimuth_deg=az,
                elevation_deg=el,
                offset=offset,
                rotation=look_rotation(offset),
                camera=new_camera(f"cam_{vid}", spec),
            )
        )
    return views


def crop_warnings(box: ClipBox, views: list[View], spec: CameraSpec, resolution: tuple[int, int]) -> list[str]:
    """Views of a fixed rig through which part of the clip's box falls outside the image."""
    tx, ty = fov_tangents(spec, resolution)
    cropped: list[str] = []
    for view in views:
        x_axis, y_axis, z_axis = view.rotation.col[0], view.rotation.col[1], view.rotation.col[2]
        for p in box.corners():
            q = p - view.offset
            depth = -q.dot(z_axis)
            if depth <= 0 or abs(q.dot(x_axis)) > tx * depth or abs(q.dot(y_axis)) > ty * depth:
                cropped.append(view.id)
                break
    if not cropped:
        return []
    return [
        f"fixed camera rig ({spec.distance_m} m) crops the character in views {', '.join(cropped)}: "
        "increase cameras.distanceM or remove it to fit each view automatically"
    ]


def pose_camera(view: View, target: Vector) -> Vector:
    """Move the view's camera for a frame (it follows the target); returns its location."""
    location = target + view.offset
    view.camera.matrix_world = Matrix.Translation(location) @ view.rotation.to_4x4()
    return location


def intrinsics(spec: CameraSpec, resolution: tuple[int, int]) -> list[list[float]]:
    width, height = resolution
    focal_px = spec.lens_mm / spec.sensor_mm * max(width, height)
    return [[focal_px, 0.0, width / 2.0], [0.0, focal_px, height / 2.0], [0.0, 0.0, 1.0]]


def extrinsics(view: View, location: Vector) -> tuple[list[list[float]], list[float]]:
    """R, t (OpenCV, world -> camera) of the view's camera standing at `location`."""
    x_axis, y_axis, z_axis = view.rotation.col[0], view.rotation.col[1], view.rotation.col[2]
    rows = [Vector(x_axis), -Vector(y_axis), -Vector(z_axis)]
    rotation = [[r.x, r.y, r.z] for r in rows]
    translation = [-r.dot(location) for r in rows]
    return rotation, translation


def project(
    point: Vector, K: list[list[float]], R: list[list[float]], t: list[float]
) -> tuple[float, float, float]:
    """Pixel (u, v) with top-left origin, and depth along the view (<= 0: behind the camera)."""
    xc = R[0][0] * point.x + R[0][1] * point.y + R[0][2] * point.z + t[0]
    yc = R[1][0] * point.x + R[1][1] * point.y + R[1][2] * point.z + t[1]
    zc = R[2][0] * point.x + R[2][1] * point.y + R[2][2] * point.z + t[2]
    if zc <= 1e-9:
        return float("nan"), float("nan"), zc
    return K[0][0] * xc / zc + K[0][2], K[1][1] * yc / zc + K[1][2], zc


@dataclass
class Shot:
    """One image's camera: the view's nominal pose, or a jittered draw of it."""

    location: Vector
    rotation: Matrix  # 3x3, as View.rotation
    lens_mm: float
    drawn: dict | None  # the drawn values for annotations.json (None: no jitter)


def roll_rotation(rotation: Matrix, roll_deg: float) -> Matrix:
    """Turn the camera about its viewing axis (its local z)."""
    return rotation @ Matrix.Rotation(math.radians(roll_deg), 3, "Z")


def plan_shot(
    view: View,
    box: ClipBox,
    frame: int,
    spec: CameraSpec,
    resolution: tuple[int, int],
    facing_deg: float,
    rng: random.Random,
) -> Shot:
    """The camera of one image. Without `cameras.jitter`, exactly the view's fitted camera.

    With jitter, per image: azimuth/elevation offsets, lens, roll, a vertical shift (heightM)
    and a distance multiplier of the distance that fits the clip's box for that direction,
    lens, roll and shift. An image is allowed to cut the body with probability
    `cameras.truncation`; every other image is moved back until the box fits (the multiplier
    is then at least 1 of the fitted distance), so only the allowed share is ever truncated.
    """
    target = box.target_at(frame)
    if not spec.jitter:
        return Shot(location=target + view.offset, rotation=view.rotation, lens_mm=spec.lens_mm, drawn=None)
    jitter = spec.jitter
    may_truncate = rng.random() < spec.truncation
    azimuth = view.azimuth_deg + draw(rng, jitter.get("azimuthDeg"))
    elevation = max(-89.0, min(89.0, view.elevation_deg + draw(rng, jitter.get("elevationDeg"))))
    lens = max(1.0, spec.lens_mm + draw(rng, jitter.get("lensMm")))
    roll = draw(rng, jitter.get("rollDeg"))
    height = draw(rng, jitter.get("heightM"))
    multiplier = draw(rng, jitter.get("distance"), 1.0)
    unit = direction(azimuth + facing_deg, elevation)
    rotation = roll_rotation(look_rotation(unit), roll)
    lens_spec = replace(spec, lens_mm=lens)
    tx, ty = fov_tangents(lens_spec, resolution)
    keep = 1.0 - spec.margin
    shift = Vector((0.0, 0.0, height))
    corners = [c - shift for c in box.corners()]
    fitted = fit_distance(corners, rotation, tx * keep, ty * keep)
    base = spec.distance_m if spec.distance_m is not None else fitted
    distance = base * multiplier
    if not may_truncate:
        # The whole body stays in the frame (without the margin: that is for the nominal rig).
        distance = max(distance, fit_distance(corners, rotation, tx, ty))
    location = target + unit * distance + shift
    drawn = {
        "azimuthDeg": round(azimuth, 4),
        "elevationDeg": round(elevation, 4),
        "lensMm": round(lens, 4),
        "rollDeg": round(roll, 4),
        "heightM": round(height, 4),
        "distanceM": round(distance, 4),
        "distanceMultiplier": round(distance / fitted, 4) if fitted > 0 else None,
        "truncationAllowed": may_truncate,
    }
    return Shot(location=location, rotation=rotation, lens_mm=lens, drawn=drawn)


def place_shot(view: View, shot: Shot) -> None:
    view.camera.matrix_world = Matrix.Translation(shot.location) @ shot.rotation.to_4x4()
    view.camera.data.lens = shot.lens_mm


def shot_camera(view: View, shot: Shot, spec: CameraSpec, resolution: tuple[int, int]) -> dict:
    """K, R, t (OpenCV) of the shot."""
    K = intrinsics(replace(spec, lens_mm=shot.lens_mm), resolution)
    R, t = extrinsics(replace(view, rotation=shot.rotation), shot.location)
    return {"K": K, "R": R, "t": t}
