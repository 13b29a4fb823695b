"""The fixed layout's rasters: the coverage mask made without the table is the table's own."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.engine
pytest.importorskip("cv2", reason="rasterising needs the engine extra (OpenCV)")

from face3d.engine.raster import layout_inside, layout_raster  # noqa: E402


@pytest.mark.parametrize("size", [256, 512])
def test_layout_inside_is_the_rasters_coverage(size: int) -> None:
    inside = layout_inside(size)

    assert np.array_equal(inside, layout_raster(size).inside)
    assert 0.6 < inside.mean() < 0.9  # the layout's disk
