"""Appearance randomization (config `scene.appearance`): hue, saturation, value of the skin/cloth.

Every Principled BSDF of the character's materials gets a Hue/Saturation/Value node in front
of its Base Color (between the texture and the shader, or fed by the constant colour when
there is no texture). Per image one draw (hue shift, saturation and value factors) is set on
all of them, so the character's colours move together; geometry and masks do not change.
Materials without a Principled BSDF are left as they are (counted in the log).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import bpy

from .draws import draw


@dataclass
class Appearance:
    ranges: dict[str, tuple[float, float]]
    nodes: list[bpy.types.Node] = field(default_factory=list)
    skipped: int = 0  # materials without a Principled BSDF


def prepare_appearance(meshes: list[bpy.types.Object], ranges: dict[str, tuple[float, float]]) -> Appearance:
    state = Appearance(ranges=ranges)
    seen: set[str] = set()
    for mesh in meshes:
        for slot in mesh.material_slots:
            material = slot.material
            if material is None or material.name in seen:
                continue
            seen.add(material.name)
            if not material.use_nodes:
                state.skipped += 1
                continue
            tree = material.node_tree
            shaders = [n for n in tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled"]
            if not shaders:
                state.skipped += 1
                continue
            for shader in shaders:
                base = shader.inputs["Base Color"]
                hsv = tree.nodes.new("ShaderNodeHueSaturation")
                if base.links:
                    source = base.links[0].from_socket
                    tree.links.remove(base.links[0])
                    tree.links.new(source, hsv.inputs["Color"])
                else:
                    hsv.inputs["Color"].default_value = tuple(base.default_value)
                tree.links.new(hsv.outputs["Color"], base)
                state.nodes.append(hsv)
    return state


def randomize_appearance(state: Appearance, rng: random.Random) -> dict:
    hue = draw(rng, state.ranges.get("hue"), 0.0)
    saturation = draw(rng, state.ranges.get("saturation"), 1.0)
    value = draw(rng, state.ranges.get("value"), 1.0)
    for node in state.nodes:
        node.inputs["Hue"].default_value = (0.5 + hue) % 1.0
        node.inputs["Saturation"].default_value = saturation
        node.inputs["Value"].default_value = value
    return {"hue": round(hue, 4), "saturation": round(saturation, 4), "value": round(value, 4)}
