"""Scene randomization (config `scene`): world background and light, sun lights, per image.

Each image draws, from its own seeded generator (draws.py, concern "scene"):
- a background: one file of `scene.backgrounds` (sorted, picked uniformly), or, without a
  folder, a procedural Nishita sky (in Blender 3.x, 4.x and 5.0) with a random sun position
  and dust density (the sky's "turbidity"), its sun disc off (the lamps below light the body);
  - `.hdr`/`.exr`: the world's environment texture (it lights the body and is the background),
    turned by a random angle about Z;
  - `.jpg`/`.png`: composited behind the character (compositor Alpha Over, scaled to cover the
    frame); the world then is the random sky, for light only;
- 0..n sun lamps (`lights.count`), each with an energy, a colour temperature (Kelvin -> RGB)
  and a direction: elevation above the ground and azimuth relative to the character's front.

With a randomized world the render is opaque, so the person's mask cannot be the alpha any
more: the character's meshes get object index 1 and the mask output is the compositor's ID
mask of that index (background and occluders excluded; anti-aliased edges as the alpha was).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import bpy
from mathutils import Euler

from .draws import draw
from .job import SceneSpec

WORLD_IMAGES = (".hdr", ".exr")
PLATE_IMAGES = (".jpg", ".jpeg", ".png")
CHARACTER_INDEX = 1
MAX_LIGHTS = 8


class SceneError(Exception):
    """The scene cannot be set up as configured (e.g. an empty backgrounds folder)."""


@dataclass
class SceneState:
    spec: SceneSpec
    backgrounds: list[Path]
    world: bpy.types.World
    sky: bpy.types.Node
    environment: bpy.types.Node
    mapping: bpy.types.Node
    background: bpy.types.Node
    lights: list[bpy.types.Object] = field(default_factory=list)
    plate: bpy.types.Node | None = None  # compositor Image node of the .jpg/.png behind


def list_backgrounds(folder: Path | None) -> list[Path]:
    if folder is None:
        return []
    if not folder.is_dir():
        raise SceneError(f"scene.backgrounds: {folder} is not a folder (put .hdr/.exr/.jpg/.png files in it)")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in WORLD_IMAGES + PLATE_IMAGES)
    if not files:
        raise SceneError(f"scene.backgrounds: {folder} holds no .hdr, .exr, .jpg or .png file")
    return files


def kelvin_to_rgb(kelvin: float) -> tuple[float, float, float]:
    """Approximate colour of a black body (Tanner Helland's fit), 0..1 per channel."""
    t = max(1000.0, min(40000.0, kelvin)) / 100.0
    if t <= 66:
        r = 255.0
        g = 99.4708025861 * math.log(t) - 161.1195681661
        b = 0.0 if t <= 19 else 138.5177312231 * math.log(t - 10) - 305.0447927307
    else:
        r = 329.698727446 * (t - 60) ** -0.1332047592
        g = 288.1221695283 * (t - 60) ** -0.0755148492
        b = 255.0
    return tuple(max(0.0, min(255.0, c)) / 255.0 for c in (r, g, b))  # type: ignore[return-value]


def set_nishita(sky: bpy.types.Node) -> None:
    """Nishita in 3.x/4.x; 5.0 names the same model differently: take the first available."""
    options = [item.identifier for item in sky.bl_rna.properties["sky_type"].enum_items]
    for wanted in ("NISHITA", "MULTIPLE_SCATTERING", "SINGLE_SCATTERING"):
        if wanted in options:
            sky.sky_type = wanted
            return


def randomizes_world(spec: SceneSpec | None) -> bool:
    """A scene with lights or backgrounds; `{seed}` alone only seeds the camera jitter."""
    return spec is not None and (bool(spec.lights) or spec.backgrounds is not None)


def setup_scene(spec: SceneSpec) -> SceneState:
    """World nodes (sky or environment texture) and the sun lamps, drawn per image later."""
    scene = bpy.context.scene
    world = scene.world or bpy.data.worlds.new("World")
    scene.world = world
    world.use_nodes = True
    if hasattr(world, "cycles") and hasattr(world.cycles, "sampling_method"):
        # The world changes every image: a small importance map keeps Cycles from rebuilding
        # the default 1024-wide one each time (most of the render time otherwise).
        world.cycles.sampling_method = "MANUAL"
        world.cycles.sample_map_resolution = 64
    nodes, links = world.node_tree.nodes, world.node_tree.links
    nodes.clear()
    output = nodes.new("ShaderNodeOutputWorld")
    background = nodes.new("ShaderNodeBackground")
    sky = nodes.new("ShaderNodeTexSky")
    set_nishita(sky)
    if hasattr(sky, "sun_disc"):
        sky.sun_disc = False
    environment = nodes.new("ShaderNodeTexEnvironment")
    coords = nodes.new("ShaderNodeTexCoord")
    mapping = nodes.new("ShaderNodeMapping")
    links.new(coords.outputs["Generated"], mapping.inputs["Vector"])
    links.new(mapping.outputs["Vector"], environment.inputs["Vector"])
    links.new(background.outputs["Background"], output.inputs["Surface"])
    count = int(min(MAX_LIGHTS, max(0, math.ceil(spec.lights.get("count", (0, 0))[1])))) if spec.lights else 0
    lights = []
    for i in range(count):
        data = bpy.data.lights.new(f"posefactory_light_{i}", "SUN")
        obj = bpy.data.objects.new(f"posefactory_light_{i}", data)
        scene.collection.objects.link(obj)
        lights.append(obj)
    state = SceneState(
        spec=spec,
        backgrounds=list_backgrounds(spec.backgrounds),
        world=world,
        sky=sky,
        environment=environment,
        mapping=mapping,
        background=background,
        lights=lights,
    )
    return state


def mark_character(meshes: list[bpy.types.Object]) -> None:
    """Object index 1 on the character's meshes: the mask is the ID mask of that index."""
    for mesh in meshes:
        mesh.pass_index = CHARACTER_INDEX
    bpy.context.view_layer.use_pass_object_index = True


def compositor_tree(scene: bpy.types.Scene) -> bpy.types.NodeTree | None:
    if hasattr(scene, "compositing_node_group"):  # Blender 5.0+
        return scene.compositing_node_group
    return scene.node_tree if scene.use_nodes else None


def set_option(node: bpy.types.Node, prop: str, socket: str, value: object, socket_value: object) -> None:
    """A node setting: a property up to 4.x, an input socket (often a menu) in Blender 5.0."""
    if hasattr(node, prop):
        setattr(node, prop, value)
    elif socket in node.inputs:
        node.inputs[socket].default_value = socket_value


def render_pass(layers: bpy.types.Node, *names: str) -> bpy.types.NodeSocket:
    for name in names:
        if name in layers.outputs:
            return layers.outputs[name]
    raise KeyError(f"render layer output {names[0]!r} not found")


def rewire_compositor(state: SceneState | None) -> None:
    """Mask from the ID pass instead of the alpha; an Alpha Over for image backgrounds.

    Called after render.configure_outputs built the tree (a mask output is always asked for
    when the scene is randomized or has occluders); `state` None: the mask only (occluders in
    an otherwise plain scene).
    """
    scene = bpy.context.scene
    tree = compositor_tree(scene)
    if tree is None:
        return
    layers = next(n for n in tree.nodes if n.bl_idname == "CompositorNodeRLayers")
    alpha = layers.outputs["Alpha"]
    id_mask = tree.nodes.new("CompositorNodeIDMask")
    set_option(id_mask, "index", "Index", CHARACTER_INDEX, CHARACTER_INDEX)
    set_option(id_mask, "use_antialiasing", "Anti-Alias", True, True)
    tree.links.new(render_pass(layers, "IndexOB", "Object Index"), id_mask.inputs[0])
    for link in list(tree.links):
        if link.from_socket == alpha:
            target = link.to_socket
            tree.links.remove(link)
            tree.links.new(id_mask.outputs[0], target)
    if state is None or not any(p.suffix.lower() in PLATE_IMAGES for p in state.backgrounds):
        return
    # Image backgrounds: render image over the plate, the result to the composite output.
    result_links = [l for l in tree.links if l.from_socket == layers.outputs["Image"]]
    plate = tree.nodes.new("CompositorNodeImage")
    scale = tree.nodes.new("CompositorNodeScale")
    set_option(scale, "space", "Type", "RENDER_SIZE", "Render Size")
    set_option(scale, "frame_method", "Frame Type", "CROP", "Crop")
    mix = tree.nodes.new("CompositorNodeAlphaOver")
    # 3.x/4.x: (Fac, background, foreground); 5.0: (Background, Foreground, Factor).
    back, front = ("Background", "Foreground") if "Background" in mix.inputs else (1, 2)
    tree.links.new(plate.outputs["Image"], scale.inputs[0])
    tree.links.new(scale.outputs[0], mix.inputs[back])
    tree.links.new(layers.outputs["Image"], mix.inputs[front])
    result = mix.outputs[0]
    opaque = tree.nodes.new("CompositorNodeSetAlpha")
    if hasattr(opaque, "mode") or "Type" in opaque.inputs:
        # The scaled plate's outermost pixels are partly transparent: the image is opaque.
        set_option(opaque, "mode", "Type", "REPLACE_ALPHA", "Replace Alpha")
        opaque.inputs["Alpha"].default_value = 1.0
        tree.links.new(result, opaque.inputs["Image"])
        result = opaque.outputs[0]
    for link in result_links:
        target = link.to_socket
        tree.links.remove(link)
        tree.links.new(result, target)
    state.plate = plate


def load_image(path: Path) -> bpy.types.Image:
    for image in bpy.data.images:
        if image.filepath == str(path):
            return image
    return bpy.data.images.load(str(path))


def randomize(state: SceneState, rng: random.Random, facing_deg: float) -> dict:
    """Draw this image's background and lights; returns what was drawn (annotations.json)."""
    scene = bpy.context.scene
    spec = state.spec
    links = state.world.node_tree.links
    drawn: dict = {}
    chosen = rng.choice(state.backgrounds) if state.backgrounds else None
    world_image = chosen is not None and chosen.suffix.lower() in WORLD_IMAGES
    for link in list(state.background.inputs["Color"].links):
        links.remove(link)
    if world_image:
        state.environment.image = load_image(chosen)
        turn = rng.uniform(0.0, 360.0)
        state.mapping.inputs["Rotation"].default_value = (0.0, 0.0, math.radians(turn))
        links.new(state.environment.outputs["Color"], state.background.inputs["Color"])
        state.background.inputs["Strength"].default_value = 1.0
        drawn["background"] = {"kind": "hdri", "file": chosen.name, "rotationDeg": round(turn, 3)}
    else:
        sky = state.sky
        elevation = rng.uniform(5.0, 60.0)
        rotation = rng.uniform(0.0, 360.0)
        dust = rng.uniform(0.0, 5.0)
        strength = rng.uniform(0.15, 0.5)
        sky.sun_elevation = math.radians(elevation)
        sky.sun_rotation = math.radians(rotation)
        if hasattr(sky, "dust_density"):
            sky.dust_density = dust
        links.new(sky.outputs["Color"], state.background.inputs["Color"])
        state.background.inputs["Strength"].default_value = strength
        drawn["background"] = {
            "kind": "image" if chosen is not None else "sky",
            **({"file": chosen.name} if chosen is not None else {}),
            "sky": {
                "sunElevationDeg": round(elevation, 3),
                "sunRotationDeg": round(rotation, 3),
                "dustDensity": round(dust, 4),
                "strength": round(strength, 4),
            },
        }
    plate = chosen is not None and chosen.suffix.lower() in PLATE_IMAGES
    scene.render.film_transparent = plate  # the plate goes behind in the compositor
    if state.plate is not None and plate:
        # An opaque render covers the plate entirely, so only plate images need to set it.
        state.plate.image = load_image(chosen)
    lights = []
    count = int(round(draw(rng, spec.lights.get("count"), 0.0))) if spec.lights else 0
    for i, obj in enumerate(state.lights):
        on = i < count
        obj.hide_render = not on
        if not on:
            continue
        energy = draw(rng, spec.lights.get("energy"), 3.0)
        kelvin = draw(rng, spec.lights.get("temperatureK"), 6500.0)
        elevation = draw(rng, spec.lights.get("elevationDeg"), 45.0)
        azimuth = draw(rng, spec.lights.get("azimuthDeg"), 0.0)
        obj.data.energy = energy
        obj.data.color = kelvin_to_rgb(kelvin)
        # A sun shines along its -Z: tilt it from straight down towards the light's position
        # (azimuth measured like the cameras: 0 = in front of the character).
        world_azimuth = math.radians(azimuth + facing_deg)
        obj.rotation_euler = Euler((math.radians(90.0 - elevation), 0.0, world_azimuth), "XYZ")
        lights.append(
            {
                "energy": round(energy, 4),
                "temperatureK": round(kelvin, 1),
                "elevationDeg": round(elevation, 3),
                "azimuthDeg": round(azimuth, 3),
            }
        )
    drawn["lights"] = lights
    drawn["lightLevel"] = round(sum(l["energy"] for l in lights), 4)
    return drawn
