#!/usr/bin/env python3
"""Make docs/turned-face.jpg: the offline engine on one photo of a face turned 40 degrees in
front of a blue wall.

    .venv/bin/python -m tools.turned_face_picture [docs/turned-face.jpg]

No package ships a photo of a turned face, so the photo is a render of a real person's textured 3D
head scan (menpo3d's, fetched into a cache as the multi-view test does: tests/e2e/head_scan.py),
turned by 40 degrees, in front of a saturated blue wall. The engine reconstructs it from that one
photo; the picture shows the photo, the model from the side the photo shows and from the side it
hides (filled from the mirror image of the seen side, not from the wall), and tex.jpg. Needs the
engine extra and offscreen OpenGL.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from face3d.engine import Engine
from face3d.geometry import ImageArray
from face3d.viewer.gl import render_mesh
from face3d.viewer.mesh import mesh_from_bytes
from tests.e2e.head_scan import head_scan

YAW = 40.0
WALL = (40, 80, 200)
PANEL = 320  # the side of each square panel, pixels
LABEL = 24
GAP = 8
BACKGROUND = (250, 250, 250)
MODEL_BACKGROUND = (228, 228, 228)
OUTPUT = Path("docs/turned-face.jpg")


def picture() -> Image.Image:
    photo, _ = render_mesh(head_scan().mesh, yaw_deg=YAW, background=WALL, size=(800, 800))
    data = _jpeg(photo, quality=92)
    with Engine() as engine:
        result = engine.reconstruct({1: data}, texture=True, mtl=True)
    assert result.texture is not None
    model = mesh_from_bytes(result.obj, result.texture)
    yaw = result.poses[1][0]
    panels = [(f"the photo: turned {YAW:.0f}\N{DEGREE SIGN}, blue wall", _around_head(photo))]
    for side, turn in (("the side it shows", yaw), ("the side it hides", -yaw)):
        image, _ = render_mesh(
            model,
            yaw_deg=turn,
            size=(PANEL, PANEL),
            background=MODEL_BACKGROUND,
            face_height_fraction=0.8,
            lighting=0.35,
        )
        panels.append((f"model: {side}", image))
    texture = np.asarray(Image.open(io.BytesIO(result.texture)).convert("RGB"))
    panels.append(("tex.jpg", _square(texture)))
    return _compose(panels)


def _around_head(photo: ImageArray) -> ImageArray:
    """A square of the photo around the head (what is not wall), with a margin."""
    head = np.abs(photo.astype(np.int16) - np.array(WALL)).max(axis=2) > 30
    rows, cols = np.flatnonzero(head.any(axis=1)), np.flatnonzero(head.any(axis=0))
    centre = ((rows[0] + rows[-1]) // 2, (cols[0] + cols[-1]) // 2)
    half = int(0.6 * max(rows[-1] - rows[0], cols[-1] - cols[0]))
    top = min(max(centre[0] - half, 0), photo.shape[0] - 2 * half)
    left = min(max(centre[1] - half, 0), photo.shape[1] - 2 * half)
    return _square(photo[top : top + 2 * half, left : left + 2 * half])


def _square(image: ImageArray) -> ImageArray:
    """The image's middle square, scaled to the panel."""
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = Image.fromarray(image[top : top + side, left : left + side])
    return np.asarray(square.resize((PANEL, PANEL), Image.Resampling.LANCZOS))


def _compose(panels: list[tuple[str, ImageArray]]) -> Image.Image:
    width = len(panels) * PANEL + (len(panels) + 1) * GAP
    canvas = Image.new("RGB", (width, PANEL + LABEL + 2 * GAP), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=14)
    for k, (label, image) in enumerate(panels):
        x = GAP + k * (PANEL + GAP)
        draw.rectangle((x, GAP, x + PANEL - 1, GAP + LABEL - 1), fill=(60, 64, 72))
        draw.text((x + 8, GAP + LABEL // 2), label, fill=(245, 245, 245), font=font, anchor="lm")
        canvas.paste(Image.fromarray(image), (x, GAP + LABEL))
    return canvas


def _jpeg(image: ImageArray, quality: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, "JPEG", quality=quality)
    return out.getvalue()


def main() -> int:
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT
    picture().save(output, "JPEG", quality=85, optimize=True)
    print(f"wrote {output} ({output.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
