"""The reconstruction itself: images in, the API's outputs out. Imports the heavy libraries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from face3d.contract import FRONT_SLOT, SLOTS
from face3d.engine import landmark_ids as ids
from face3d.engine.fusion import fit_views
from face3d.engine.images import decode_rgb
from face3d.engine.obj import write_mtl, write_obj
from face3d.engine.orientation import FaceFinder, Found
from face3d.engine.result import EngineError, EngineResult
from face3d.engine.segmentation import PersonMask, PersonSegmenter
from face3d.engine.surface import fine_mesh, surface_vertices
from face3d.engine.texture import Bake, ViewImage, bake_texture, prepare_tables, texture_size
from face3d.engine.topology import face_topology
from face3d.errors import BAD_ARGUMENTS, MISSING_ARGUMENTS


@dataclass(frozen=True)
class Trace:
    """What a reconstruction found on the way, for tests and diagnostics."""

    found: dict[int, Found]  # per slot: the orientation used and the checks' figures
    bake: Bake | None


class Reconstructor:
    """The models loaded once, and the fixed topology, layout and coarse raster."""

    def __init__(self) -> None:
        self._finder = FaceFinder()
        try:
            self._segmenter = PersonSegmenter()
        except BaseException:
            self._finder.close()
            raise
        # Made now rather than on the first request, which would otherwise be slow.
        self._topology = face_topology()
        self._mesh = fine_mesh()
        prepare_tables()

    def reconstruct(self, images: Mapping[int, bytes], *, texture: bool, mtl: bool) -> EngineResult:
        return self.traced(images, texture=texture, mtl=mtl)[0]

    def traced(
        self, images: Mapping[int, bytes], *, texture: bool, mtl: bool
    ) -> tuple[EngineResult, Trace]:
        unknown = sorted(set(images) - set(SLOTS))
        if unknown:
            raise EngineError(BAD_ARGUMENTS, unknown[0], f"no image slot {unknown[0]}")
        if FRONT_SLOT not in images:
            raise EngineError(MISSING_ARGUMENTS, FRONT_SLOT, "the front image is required")
        slots = sorted(images)
        # Cheap refusals (format, size) for every image before the costly detection.
        pixels = {slot: decode_rgb(images[slot], slot) for slot in slots}
        found = {slot: self._finder.find(pixels[slot], slot) for slot in slots}
        observed = {slot: found[slot].landmarks for slot in slots}

        fit = fit_views(observed, self._topology)
        vertices = surface_vertices(fit.shape, 1.0 / fit.poses[FRONT_SLOT].to_camera.scale)
        obj = write_obj(vertices, self._mesh.uv, self._mesh.triangles, with_material=mtl)
        bake = None
        if texture:
            views = [
                ViewImage(
                    pixels[slot],
                    fit.poses[slot],
                    is_front=slot == FRONT_SLOT,
                    person=_person(self._segmenter, found[slot]),
                )
                for slot in slots
            ]
            size = texture_size([fit.poses[slot] for slot in slots])
            bake = bake_texture(views, vertices, size)
        mesh_landmarks = ids.MESH_LANDMARK_COUNT
        result = EngineResult(
            obj=obj,
            mtl=write_mtl(with_texture=texture) if mtl else None,
            texture=None if bake is None else bake.jpeg,
            matrices=[_floats(fit.poses[slot].matrix().ravel()) for slot in slots],
            landmarks={
                slot: [(float(x), float(y)) for x, y in observed[slot][:mesh_landmarks, :2]]
                for slot in slots
            },
            poses={slot: fit.poses[slot].angles() for slot in slots},
        )
        return result, Trace(found, bake)

    def close(self) -> None:
        try:
            self._segmenter.close()
        finally:
            self._finder.close()


def _person(segmenter: PersonSegmenter, found: Found) -> PersonMask | None:
    return None if found.crop is None else segmenter.mask(found.crop)


def _floats(values: npt.NDArray[np.float64]) -> list[float]:
    return [float(v) for v in values]
