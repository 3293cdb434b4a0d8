"""Test-only: import an exported animation into Blender (bpy, GPL, its own venv) and report bone heads.

Run with the Blender venv's Python, never imported by mocap itself:

    .venv-blender/bin/python scripts/blender_check/blender_import.py --kind bvh|fbx|fbx_ufbx|gltf \
        --file FILE --fps FPS --frames 1,10 --out result.json [--render DIR --render-frames 1,50]

Writes JSON: ``{"bones": [names], "frame_range": [start, end], "heads": {frame: {bone: [x, y, z]}},
"meshes": {name: {"vertices": V, "skinned": bool, "bbox": {frame: [[min xyz], [max xyz]]}}}}`` with bone head world
positions and evaluated (deformed) mesh bounding boxes in Blender's world (Z up, metres), and optionally renders
PNGs (Workbench) of given frames.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import bpy  # noqa: I001
from mathutils import Vector


def _import(kind: str, path: str, fps: float) -> None:
    scene = bpy.context.scene
    scene.render.fps = int(round(fps))
    scene.render.fps_base = scene.render.fps / fps
    if kind == "bvh":
        bpy.ops.import_anim.bvh(filepath=path, global_scale=1.0, frame_start=1, use_fps_scale=False,
                                update_scene_fps=False, update_scene_duration=True, rotate_mode="NATIVE",
                                axis_forward="-Z", axis_up="Y")
    elif kind == "fbx":
        bpy.ops.import_scene.fbx(filepath=path, automatic_bone_orientation=False, ignore_leaf_bones=False,
                                 use_anim=True)
    elif kind == "fbx_ufbx":
        bpy.ops.wm.fbx_import(filepath=path)
    elif kind == "gltf":
        bpy.ops.import_scene.gltf(filepath=path)
    else:
        raise SystemExit(f"unknown kind {kind}")


def _armature():
    arms = [o for o in bpy.context.scene.objects if o.type == "ARMATURE"]
    if len(arms) != 1:
        raise SystemExit(f"expected one armature, found {len(arms)}")
    return arms[0]


def _mesh_points(obj) -> list:
    """World positions of the evaluated (skinned) vertices of a mesh object at the current frame."""
    dg = bpy.context.evaluated_depsgraph_get()
    ev = obj.evaluated_get(dg)
    me = ev.to_mesh()
    pts = [ev.matrix_world @ v.co for v in me.vertices]
    ev.to_mesh_clear()
    return pts


def _meshes(arm=None) -> list:
    """Mesh objects of the scene (with ``arm``: only those deformed by that armature, not e.g. bone shapes)."""
    out = [o for o in bpy.context.scene.objects if o.type == "MESH"]
    if arm is not None:
        out = [o for o in out if any(m.type == "ARMATURE" and m.object == arm for m in o.modifiers)]
    return out


def _render(arm, out_dir: str, frames: list[int]) -> list[str]:
    scene = bpy.context.scene
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.resolution_x, scene.render.resolution_y = 480, 480
    scene.render.image_settings.file_format = "PNG"
    shading = scene.display.shading
    shading.light = "STUDIO"
    shading.color_type = "OBJECT"
    for o in _meshes(arm):
        o.color = (0.85, 0.5, 0.3, 1.0)
    world = bpy.data.worlds.new("bg")
    scene.world = world
    world.color = (0.92, 0.92, 0.95)
    # frame the whole motion: bounding box of the bone heads (and meshes) over the rendered frames
    pts = []
    for f in frames:
        scene.frame_set(f)
        pts += [arm.matrix_world @ pb.head for pb in arm.pose.bones]
        for o in _meshes(arm):
            pts += _mesh_points(o)[::50]
    lo = Vector((min(p.x for p in pts), min(p.y for p in pts), min(p.z for p in pts)))
    hi = Vector((max(p.x for p in pts), max(p.y for p in pts), max(p.z for p in pts)))
    center = (lo + hi) / 2
    size = max((hi - lo).length, 1.0)
    bpy.ops.mesh.primitive_plane_add(size=4 * size, location=(center.x, center.y, min(lo.z, 0.0)))
    bpy.context.active_object.color = (0.55, 0.57, 0.6, 1.0)
    cam_data = bpy.data.cameras.new("cam")
    cam = bpy.data.objects.new("cam", cam_data)
    scene.collection.objects.link(cam)
    cam.location = center + Vector((size * 0.8, -size * 1.5, size * 0.35))
    direction = center - cam.location
    cam.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()
    cam_data.lens = 35
    scene.camera = cam
    files = []
    for f in frames:
        scene.frame_set(f)
        scene.render.filepath = f"{out_dir}/frame_{f:04d}.png"
        bpy.ops.render.render(write_still=True)
        files.append(scene.render.filepath)
    return files


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", required=True)
    ap.add_argument("--file", required=True)
    ap.add_argument("--fps", type=float, required=True)
    ap.add_argument("--frames", default="")
    ap.add_argument("--out", required=True)
    ap.add_argument("--render", default="")
    ap.add_argument("--render-frames", default="")
    args = ap.parse_args(argv)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    _import(args.kind, args.file, args.fps)
    arm = _armature()
    scene = bpy.context.scene
    action = arm.animation_data.action if arm.animation_data else None
    frame_range = [float(v) for v in action.frame_range] if action else [math.nan, math.nan]
    frames = [int(f) for f in args.frames.split(",") if f]
    heads = {}
    for f in frames:
        scene.frame_set(f)
        bpy.context.view_layer.update()
        heads[str(f)] = {pb.name: list(arm.matrix_world @ pb.head) for pb in arm.pose.bones}
    meshes = {}
    for o in _meshes():
        bbox = {}
        for f in frames:
            scene.frame_set(f)
            p = _mesh_points(o)
            bbox[str(f)] = [[min(v[k] for v in p) for k in range(3)], [max(v[k] for v in p) for k in range(3)]]
        skinned = o in _meshes(arm)
        meshes[o.name] = {"vertices": len(o.data.vertices), "skinned": bool(skinned), "bbox": bbox}
    result = {"bones": [b.name for b in arm.data.bones], "frame_range": frame_range, "heads": heads,
              "meshes": meshes,
              "fps": scene.render.fps / scene.render.fps_base, "version": bpy.app.version_string}
    if args.render:
        rf = [int(f) for f in args.render_frames.split(",") if f] or frames[:1]
        result["renders"] = _render(arm, args.render, rf)
    with open(args.out, "w") as fh:
        json.dump(result, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
