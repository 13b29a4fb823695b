"""Import an OBJ with Blender's own importer and report what Blender made of it, as one JSON line.

Run by `test_blender.py` with the Python of an environment that has Blender as a module (`bpy`):
`python blender_import.py FOLDER/face.obj`. It imports nothing of ours (that environment has only
bpy), so it stands alone.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import bpy  # type: ignore[import-not-found]


def report(obj_path: Path) -> dict[str, Any]:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.wm.obj_import(filepath=str(obj_path))
    meshes = [o for o in bpy.context.scene.objects if o.type == "MESH"]
    if len(meshes) != 1:
        return {"mesh_objects": len(meshes)}
    mesh = meshes[0].data
    polygons = mesh.polygons
    corner_normals = [tuple(c.vector) for c in mesh.corner_normals]
    # Shaded smooth: a polygon's corners carry the surface's normals, not the polygon's own.
    bent = 0
    for polygon in polygons:
        face = polygon.normal
        for corner in range(polygon.loop_start, polygon.loop_start + polygon.loop_total):
            dot = sum(a * b for a, b in zip(face, corner_normals[corner], strict=True))
            if dot < math.cos(math.radians(0.5)):
                bent += 1
                break
    uv_layer = mesh.uv_layers.active
    uvs = [tuple(d.uv) for d in uv_layer.data] if uv_layer is not None else []
    material = meshes[0].active_material
    images = []
    if material is not None and material.node_tree is not None:
        for node in material.node_tree.nodes:
            if node.type == "TEX_IMAGE" and node.image is not None:
                linked_to = [link.to_socket.name for link in node.outputs["Color"].links]
                width, height = node.image.size  # reads the file
                images.append(
                    {
                        "file": Path(bpy.path.abspath(node.image.filepath)).name,
                        "size": [width, height],
                        "linked_to": linked_to,
                    }
                )
    return {
        "blender": bpy.app.version_string,
        "mesh_objects": 1,
        "polygons": len(polygons),
        "smooth_polygons": sum(1 for p in polygons if p.use_smooth),
        "custom_normals": bool(getattr(mesh, "has_custom_normals", False)),
        "polygons_with_bent_corner_normals": bent,
        "uv_layers": len(mesh.uv_layers),
        "uv_corners": len(uvs),
        "uv_range": [min(min(uv) for uv in uvs), max(max(uv) for uv in uvs)] if uvs else None,
        "distinct_uvs": len(set(uvs)),
        "material": None if material is None else material.name,
        "images": images,
    }


if __name__ == "__main__":
    print(json.dumps(report(Path(sys.argv[1]))))
