"""Render settings, compute device, light, and writing one image per camera and frame.

- Cycles by default. EEVEE renders black without a GL context (headless), and its engine id
  is `BLENDER_EEVEE` up to 4.1 and again from 5.0, `BLENDER_EEVEE_NEXT` in 4.2-4.5: the id is mapped to what the
  running Blender offers.
- Device `auto`: OPTIX, else CUDA (then HIP, ONEAPI, METAL), else the CPU; `gpu` fails
  loudly when no GPU device can be enabled (Cycles would silently render on the CPU);
  `cpu` never touches GPU settings. The devices in use are logged and go in the manifest.
- Denoising only when the build has a denoiser for the device (Debian's Blender has no
  OpenImageDenoise: enabling it makes the render fail).
- Transparent film, RGBA 8-bit PNG, "Standard" view transform (Filmic/AgX would change the
  colours between Blender versions).
- Optional mask (alpha as grey PNG), depth and normals (EXR) through compositor File Output
  nodes: `f0012.png` gets siblings `f0012.mask.png`, `f0012.depth.exr`, `f0012.normal.exr`.
"""

from __future__ import annotations

import math
from pathlib import Path

import bpy
from mathutils import Euler

from .job import OutputSpec, RenderSpec
from .log import log, without_render_status

GPU_BACKENDS = ["OPTIX", "CUDA", "HIP", "ONEAPI", "METAL"]


class RenderSetupError(Exception):
    """The render cannot start as configured (e.g. a GPU was asked for and none is usable)."""


def set_engine(scene: bpy.types.Scene, requested: str) -> None:
    """Set the engine, mapping the EEVEE id to the one this Blender has."""
    aliases = {"BLENDER_EEVEE": "BLENDER_EEVEE_NEXT", "BLENDER_EEVEE_NEXT": "BLENDER_EEVEE"}
    for candidate in (requested, aliases.get(requested)):
        if candidate is None:
            continue
        try:
            scene.render.engine = candidate
            return
        except TypeError:  # engines are registered at run time: the enum rejects unknown ids
            continue
    raise RenderSetupError(f"render engine {requested!r} is not available in Blender {bpy.app.version_string}")


def enable_gpu(backends: list[str]) -> tuple[str, list[str]] | None:
    """Enable every device of the first backend that has one; None when there is no GPU."""
    addon = bpy.context.preferences.addons.get("cycles")
    if addon is None:
        return None
    prefs = addon.preferences
    for backend in backends:
        try:
            prefs.compute_device_type = backend
        except TypeError:  # this build does not know the backend
            continue
        if hasattr(prefs, "refresh_devices"):
            prefs.refresh_devices()
        else:
            prefs.get_devices()
        devices = [d for d in prefs.devices if d.type == backend]
        if not devices:
            continue
        for device in prefs.devices:
            device.use = device.type == backend
        return backend, [d.name for d in devices]
    prefs.compute_device_type = "NONE"
    return None


def configure_device(scene: bpy.types.Scene, requested: str) -> dict:
    """Pick the Cycles device; returns the manifest's {type, names}."""
    if requested == "cpu":
        scene.cycles.device = "CPU"
        return {"type": "CPU", "names": ["CPU"]}
    gpu = enable_gpu(GPU_BACKENDS)
    if gpu is None:
        if requested == "gpu":
            raise RenderSetupError(
                "render.device is `gpu` but Cycles found no OPTIX/CUDA/HIP/oneAPI/Metal device: "
                "check the GPU driver on the render host, or set render.device to `auto` or `cpu`"
            )
        scene.cycles.device = "CPU"
        return {"type": "CPU", "names": ["CPU"]}
    backend, names = gpu
    scene.cycles.device = "GPU"
    return {"type": backend, "names": names}


def has_denoiser(device_type: str) -> str | None:
    if device_type == "OPTIX":
        return "OPTIX"
    try:
        import _cycles

        if getattr(_cycles, "with_openimagedenoise", False):
            return "OPENIMAGEDENOISE"
    except ImportError:
        pass
    return None


def configure_render(spec: RenderSpec) -> dict:
    """Scene-wide render settings; returns the device info for the manifest."""
    scene = bpy.context.scene
    set_engine(scene, spec.engine)
    device = {"type": "CPU", "names": ["CPU"]}
    if scene.render.engine == "CYCLES":
        device = configure_device(scene, spec.device)
        scene.cycles.samples = spec.samples
        denoiser = has_denoiser(device["type"])
        scene.cycles.use_denoising = denoiser is not None
        if denoiser is not None:
            scene.cycles.denoiser = denoiser
        scene.cycles.use_adaptive_sampling = spec.samples > 16
    elif scene.render.engine.startswith("BLENDER_EEVEE"):
        scene.eevee.taa_render_samples = spec.samples
    width, height = spec.resolution
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.resolution_percentage = 100
    scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0
    scene.render.film_transparent = spec.transparent
    settings = scene.render.image_settings
    settings.file_format = "PNG"
    settings.color_mode = "RGBA" if spec.transparent else "RGB"
    settings.color_depth = "8"
    scene.view_settings.view_transform = "Standard"
    scene.render.use_persistent_data = True
    log(f"render: {scene.render.engine} on {device['type']} ({', '.join(device['names'])}), {spec.samples} samples, {width}x{height}")
    return device


def add_lights() -> None:
    """Soft even light from every side plus a key light from above the front."""
    scene = bpy.context.scene
    world = scene.world or bpy.data.worlds.new("World")
    scene.world = world
    world.use_nodes = True
    background = world.node_tree.nodes.get("Background")
    if background is not None:
        background.inputs["Color"].default_value = (0.55, 0.55, 0.55, 1.0)
        background.inputs["Strength"].default_value = 1.0
    sun_data = bpy.data.lights.new("posefactory_key", "SUN")
    sun_data.energy = 3.0
    sun = bpy.data.objects.new("posefactory_key", sun_data)
    sun.rotation_euler = Euler((math.radians(40), 0.0, math.radians(20)))
    scene.collection.objects.link(sun)


def compositor_with_layers(scene: bpy.types.Scene) -> tuple[bpy.types.NodeTree, bpy.types.Node]:
    """A fresh compositor tree holding a Render Layers node whose image goes out unchanged.

    Blender 5.0 removed `scene.node_tree` and the Composite node: the compositor is a node
    group assigned to `scene.compositing_node_group`, its Group Output is the result.
    """
    if hasattr(scene, "compositing_node_group"):
        tree = bpy.data.node_groups.new("posefactory_outputs", "CompositorNodeTree")
        scene.compositing_node_group = tree
        tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        layers = tree.nodes.new("CompositorNodeRLayers")
        result = tree.nodes.new("NodeGroupOutput")
        tree.links.new(layers.outputs["Image"], result.inputs[0])
        return tree, layers
    scene.use_nodes = True
    tree = scene.node_tree
    tree.nodes.clear()
    layers = tree.nodes.new("CompositorNodeRLayers")
    composite = tree.nodes.new("CompositorNodeComposite")
    tree.links.new(layers.outputs["Image"], composite.inputs["Image"])
    return tree, layers


def add_file_slot(files: bpy.types.Node, name: str, file_format: str, color_mode: str) -> bpy.types.NodeSocket:
    """One output of a File Output node, written as `<frame><name>.<ext>`; returns its input socket."""
    if hasattr(files, "file_output_items"):  # Blender 5.0+: items with their own format
        item = files.file_output_items.new("VECTOR" if color_mode == "RGB" else "FLOAT", name)
        item.override_node_format = True
        fmt = item.format
        fmt.media_type = "IMAGE"
        socket = files.inputs[item.name]
    else:
        files.file_slots.new(f"f####{name}")
        slot = files.file_slots[f"f####{name}"]
        slot.use_node_format = False
        fmt = slot.format
        socket = files.inputs[f"f####{name}"]
    fmt.file_format = file_format
    try:
        fmt.color_mode = color_mode
    except TypeError:
        # Blender 3.x's EXR writer has no single-channel mode: depth goes in all three.
        fmt.color_mode = "RGB"
    if file_format == "OPEN_EXR":
        fmt.color_depth = "32"
    return socket


def configure_outputs(outputs: OutputSpec) -> bpy.types.Node | None:
    """Compositor File Output node for mask/depth/normals; None when none is asked for."""
    scene = bpy.context.scene
    if not (outputs.mask or outputs.depth or outputs.normals):
        return None
    view_layer = bpy.context.view_layer
    view_layer.use_pass_z = outputs.depth
    view_layer.use_pass_normal = outputs.normals
    tree, layers = compositor_with_layers(scene)
    files = tree.nodes.new("CompositorNodeOutputFile")
    if hasattr(files, "file_output_items"):
        files.file_name = "f####"
        files.format.media_type = "IMAGE"
    else:
        files.file_slots.clear()
    slots = []
    if outputs.mask:
        slots.append((".mask", "Alpha", "PNG", "BW"))
    if outputs.depth:
        slots.append((".depth", "Depth", "OPEN_EXR", "BW"))
    if outputs.normals:
        slots.append((".normal", "Normal", "OPEN_EXR", "RGB"))
    for name, socket, file_format, color_mode in slots:
        tree.links.new(layers.outputs[socket], add_file_slot(files, name, file_format, color_mode))
    return files


def render_image(camera: bpy.types.Object, path: Path, extra_outputs: bpy.types.Node | None) -> None:
    scene = bpy.context.scene
    scene.camera = camera
    path.parent.mkdir(parents=True, exist_ok=True)
    scene.render.filepath = str(path)
    if extra_outputs is not None:  # `directory` in Blender 5.0+, `base_path` before
        setattr(extra_outputs, "directory" if hasattr(extra_outputs, "directory") else "base_path", str(path.parent))
    with without_render_status():
        bpy.ops.render.render(write_still=True)
