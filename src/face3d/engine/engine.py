"""The reconstruction itself: images in, the API's outputs out. Imports the heavy libraries."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from face3d.contract import FRONT_SLOT, SLOTS
from face3d.engine import landmark_ids as ids
from face3d.engine.fusion import fit_views, mesh_vertices
from face3d.engine.images import decode_rgb
from face3d.engine.landmarks import FaceMeshDetector
from face3d.engine.obj import write_mtl, write_obj
from face3d.engine.result import EngineError, EngineResult
from face3d.engine.texture import ViewImage, bake_texture, face_uv_raster
from face3d.engine.topology import face_topology
from face3d.engine.uv import face_uv
from face3d.errors import BAD_ARGUMENTS, MISSING_ARGUMENTS


class Reconstructor:
    """Face Mesh and the face detector loaded once, and the fixed topology, layout and raster."""

    def __init__(self) -> None:
        self._detector = FaceMeshDetector()
        # Made now rather than on the first request, which would otherwise be slow.
        self._topology = face_topology()
        self._uv = face_uv()
        face_uv_raster()

    def reconstruct(self, images: Mapping[int, bytes], *, texture: bool, mtl: bool) -> EngineResult:
        unknown = sorted(set(images) - set(SLOTS))
        if unknown:
            raise EngineError(BAD_ARGUMENTS, unknown[0], f"no image slot {unknown[0]}")
        if FRONT_SLOT not in images:
            raise EngineError(MISSING_ARGUMENTS, FRONT_SLOT, "the front image is required")
        slots = sorted(images)
        # Cheap refusals (format, size) for every image before the costly detection.
        pixels = {slot: decode_rgb(images[slot], slot) for slot in slots}
        observed = {slot: self._detector.detect(pixels[slot], slot) for slot in slots}

        fit = fit_views(observed, self._topology)
        vertices = mesh_vertices(fit.shape, self._topology)
        obj = write_obj(vertices, self._uv, self._topology.triangles, with_material=mtl)
        texture_bytes = None
        if texture:
            views = [
                ViewImage(pixels[slot], fit.poses[slot], is_front=slot == FRONT_SLOT)
                for slot in slots
            ]
            texture_bytes = bake_texture(views, vertices)
        mesh_landmarks = ids.MESH_LANDMARK_COUNT
        return EngineResult(
            obj=obj,
            mtl=write_mtl(with_texture=texture) if mtl else None,
            texture=texture_bytes,
            matrices=[_floats(fit.poses[slot].matrix().ravel()) for slot in slots],
            landmarks={
                slot: [(float(x), float(y)) for x, y in observed[slot][:mesh_landmarks, :2]]
                for slot in slots
            },
            poses={slot: fit.poses[slot].angles() for slot in slots},
        )

    def close(self) -> None:
        self._detector.close()


def _floats(values: npt.NDArray[np.float64]) -> list[float]:
    return [float(v) for v in values]
