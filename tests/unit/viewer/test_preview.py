"""`face3d preview`: the picture's layout and content for result folders with and without
texture, result.json and photos, and the command's output and exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from face3d.errors import INVALID_INPUT, Face3DError

pytest.importorskip("numpy")
pytest.importorskip("moderngl")

import numpy as np
from PIL import Image

from face3d.cli.main import main
from face3d.viewer import camera, gl, preview
from face3d.viewer.mesh import TexturedMesh
from tests.unit.viewer.meshes import (
    FRONT_TOP_LEFT,
    FRONT_TOP_RIGHT,
    HALF,
    box_mesh,
    close,
    png_bytes,
    write_folder,
)

PANEL_W, PANEL_H = preview.PANEL
PHOTO_SIZE = (300, 400)
# The layout for three model views: three columns, two rows.
CANVAS_W = 3 * PANEL_W + 4 * preview.GAP
CANVAS_H = preview.HEADER_HEIGHT + 2 * (preview.LABEL_HEIGHT + PANEL_H) + 3 * preview.GAP
TOP_BODY_Y = preview.HEADER_HEIGHT + preview.GAP + preview.LABEL_HEIGHT
BOTTOM_BODY_Y = TOP_BODY_Y + preview.LABEL_HEIGHT + PANEL_H + preview.GAP
COLUMN_X = [preview.GAP + i * (PANEL_W + preview.GAP) for i in range(3)]


@pytest.fixture(scope="module")
def box() -> TexturedMesh:
    return box_mesh()


PHOTO_BACKGROUND = (90, 110, 130)


def photo_of(box: TexturedMesh, scale: int = 1, fraction: float = 0.55) -> tuple[bytes, Any]:
    """A synthetic front photo of the box and the matrix from the model to its pixels."""
    size = (PHOTO_SIZE[0] * scale, PHOTO_SIZE[1] * scale)
    image, matrix = gl.render_mesh(
        box, size=size, background=PHOTO_BACKGROUND, face_height_fraction=fraction
    )
    return png_bytes(image), matrix


def make_result(
    folder: Path,
    box: TexturedMesh,
    *,
    texture: bool = True,
    document: bool = True,
    photo_scale: int = 1,
    fraction: float = 0.55,
    key: str | None = None,
) -> Path:
    """A result folder with a front photo (beside it, in photos/) that result.json names."""
    write_folder(folder, box, mtl=texture, texture=texture)
    photo, matrix = photo_of(box, photo_scale, fraction)
    photo_path = folder.parent / "photos" / "front.png"
    photo_path.parent.mkdir(exist_ok=True)
    photo_path.write_bytes(photo)
    if photo_scale != 1:  # result.json keeps the prepared (unscaled) size and matrix
        matrix = gl.render_mesh(box, size=PHOTO_SIZE, face_height_fraction=fraction)[1]
    if document:
        doc = {
            "subject": "box",
            "views": ["front"],
            "transfer_matrix": {"front": matrix.tolist()},
            "inputs": {
                "front": {
                    "key": key or str(photo_path),
                    "width": PHOTO_SIZE[0],
                    "height": PHOTO_SIZE[1],
                }
            },
        }
        (folder / "result.json").write_text(json.dumps(doc))
    return photo_path


def decode(png: bytes) -> Any:
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def model_panel_point(yaw: float, point: tuple[float, float, float], column: int) -> Any:
    """Where a model point lands on the canvas in a model panel."""
    mesh = box_mesh()
    matrix = camera.view_matrix(
        mesh.vertices, yaw_deg=yaw, size=preview.PANEL, face_height_fraction=0.8
    )
    x, y = camera.project(matrix, np.array([point]))[0]
    return round(x) + COLUMN_X[column], round(y) + TOP_BODY_Y


def pixel(canvas: Any, xy: tuple[int, int]) -> tuple[int, int, int]:
    return tuple(int(c) for c in canvas[xy[1], xy[0]])  # type: ignore[return-value]


def wireframe_box(canvas: Any, column_x: int) -> tuple[int, int, int, int]:
    """The bounding box of the opaque outline colour in a bottom-row panel."""
    body = canvas[BOTTOM_BODY_Y : BOTTOM_BODY_Y + PANEL_H, column_x : column_x + PANEL_W]
    ys, xs = np.nonzero((body == preview.WIREFRAME).all(axis=2))
    assert len(xs) > 100
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def assert_outline_on_the_box(canvas: Any, column_x: int) -> None:
    """The outline sits on the box's edges in the photo: just outside it the photo's background,
    just inside the box's colours."""
    left, top, right, bottom = wireframe_box(canvas, column_x)
    x0, y0 = column_x, BOTTOM_BODY_Y
    middle_x, middle_y = (left + right) // 2, (top + bottom) // 2
    for outside, inside in [
        ((left - 3, middle_y), (left + 5, middle_y)),
        ((right + 3, middle_y), (right - 5, middle_y)),
        ((middle_x + 10, top - 3), (middle_x + 10, top + 5)),
        ((middle_x + 10, bottom + 3), (middle_x + 10, bottom - 5)),
    ]:
        assert close(pixel(canvas, (x0 + outside[0], y0 + outside[1])), PHOTO_BACKGROUND, 3)
        assert not close(pixel(canvas, (x0 + inside[0], y0 + inside[1])), PHOTO_BACKGROUND, 40)


def expected_outline(scale: float = 1.0) -> tuple[float, float, float, float]:
    """The box's silhouette in the photo panel: photo pixels -> fitted panel pixels."""
    _, matrix = gl.render_mesh(box_mesh(), size=PHOTO_SIZE)
    corners = np.array([[x, y, HALF] for x in (-HALF, HALF) for y in (-HALF, HALF)])
    px = camera.project(matrix, corners)
    fit = min(PANEL_W / PHOTO_SIZE[0], PANEL_H / PHOTO_SIZE[1])
    offset_x = (PANEL_W - round(PHOTO_SIZE[0] * fit)) // 2
    xs = (px[:, 0] + 0.5) * fit - 0.5 + offset_x
    ys = (px[:, 1] + 0.5) * fit - 0.5
    return xs.min(), ys.min(), xs.max(), ys.max()


def test_preview_of_a_full_result_folder(tmp_path: Path, box: TexturedMesh) -> None:
    folder = tmp_path / "result"
    make_result(folder, box)
    result = preview.preview_folder(folder)
    assert (result.views, result.photos) == (3, 1)
    assert (
        result.summary(folder / "preview.png") == f"wrote {folder}/preview.png (3 views, 1 photo)"
    )
    canvas = decode(result.png)
    assert canvas.shape == (CANVAS_H, CANVAS_W, 3)
    # the front model view (middle column) shows the texture's quadrants in place
    q = HALF / 2
    assert close(pixel(canvas, model_panel_point(0, (-q, q, HALF), 1)), FRONT_TOP_LEFT, 8)
    assert close(pixel(canvas, model_panel_point(0, (q, q, HALF), 1)), FRONT_TOP_RIGHT, 8)
    # the yaw -60 view (right column) shows the +x side (the left cheek), the +60 view (left
    # column) the -x side (the right cheek)
    side = model_panel_point(-60, (HALF, 0, 0), 2)
    assert close(pixel(canvas, side), (200, 40, 200), 40)
    assert close(pixel(canvas, model_panel_point(60, (-HALF, 0, 0), 0)), (30, 200, 210), 40)
    # one photo panel, centred under the middle column, outline on the box's silhouette
    outline = wireframe_box(canvas, COLUMN_X[1])
    for got, want in zip(outline, expected_outline(), strict=True):
        assert abs(got - want) <= 2.0
    assert_outline_on_the_box(canvas, COLUMN_X[1])


def test_overlay_follows_the_prepared_size_when_the_photo_is_larger(
    tmp_path: Path, box: TexturedMesh
) -> None:
    folder = tmp_path / "result"
    make_result(folder, box, photo_scale=2)
    canvas = decode(preview.preview_folder(folder).png)
    for got, want in zip(wireframe_box(canvas, COLUMN_X[1]), expected_outline(), strict=True):
        assert abs(got - want) <= 2.0
    assert_outline_on_the_box(canvas, COLUMN_X[1])


def test_photo_panel_zooms_in_on_a_small_model(tmp_path: Path, box: TexturedMesh) -> None:
    folder = tmp_path / "result"
    make_result(folder, box, fraction=0.25, photo_scale=2)
    canvas = decode(preview.preview_folder(folder).png)
    left, top, right, bottom = wireframe_box(canvas, COLUMN_X[1])
    assert abs((right - left + 1) - preview.ZOOM_FILL * PANEL_W) <= 3
    assert abs((left + right) / 2 - (PANEL_W - 1) / 2) <= 2
    assert abs((top + bottom) / 2 - (PANEL_H - 1) / 2) <= 2
    assert_outline_on_the_box(canvas, COLUMN_X[1])


def test_preview_without_texture_renders_shaded_clay(tmp_path: Path, box: TexturedMesh) -> None:
    folder = tmp_path / "result"
    make_result(folder, box, texture=False)
    result = preview.preview_folder(folder)
    assert (result.views, result.photos) == (3, 1)
    canvas = decode(result.png)
    r, g, b = pixel(canvas, model_panel_point(0, (-HALF / 2, HALF / 2, HALF), 1))
    assert r >= g >= b
    assert r - b < 60  # a warm grey, not the texture's red
    assert r > 150


def test_preview_without_result_json_says_there_is_no_photo(
    tmp_path: Path, box: TexturedMesh
) -> None:
    folder = tmp_path / "result"
    make_result(folder, box, document=False)
    result = preview.preview_folder(folder)
    assert (result.views, result.photos) == (3, 0)
    canvas = decode(result.png)
    assert canvas.shape == (CANVAS_H, CANVAS_W, 3)
    body = canvas[BOTTOM_BODY_Y : BOTTOM_BODY_Y + PANEL_H, COLUMN_X[1] : COLUMN_X[1] + PANEL_W]
    background = (body == preview.PANEL_BACKGROUND).all(axis=2).mean()
    assert 0.9 < background < 1.0  # an empty panel with a message


def test_explicit_photo_without_result_json_has_no_overlay(
    tmp_path: Path, box: TexturedMesh
) -> None:
    folder = tmp_path / "result"
    photo = make_result(folder, box, document=False)
    result = preview.preview_folder(folder, {"front": photo})
    assert (result.views, result.photos) == (3, 1)
    canvas = decode(result.png)
    body = canvas[BOTTOM_BODY_Y : BOTTOM_BODY_Y + PANEL_H, COLUMN_X[1] : COLUMN_X[1] + PANEL_W]
    assert not (body == preview.WIREFRAME).all(axis=2).any()
    assert close(pixel(canvas, (COLUMN_X[1] + 30, BOTTOM_BODY_Y + 20)), PHOTO_BACKGROUND, 2)


def test_a_key_that_is_not_a_local_file_gets_an_empty_panel(
    tmp_path: Path, box: TexturedMesh
) -> None:
    folder = tmp_path / "result"
    make_result(folder, box, key="incoming/box/front.jpg")
    result = preview.preview_folder(folder)
    assert (result.views, result.photos) == (3, 0)


def test_a_relative_key_is_found_beside_the_folder(
    tmp_path: Path, box: TexturedMesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "result"
    make_result(folder, box, key="../photos/front.png")
    monkeypatch.chdir(tmp_path.parent)
    assert preview.preview_folder(folder).photos == 1


def test_every_view_gets_a_panel_in_view_order(tmp_path: Path, box: TexturedMesh) -> None:
    folder = tmp_path / "result"
    photo = make_result(folder, box)
    doc = json.loads((folder / "result.json").read_text())
    matrix = doc["transfer_matrix"]["front"]
    doc["transfer_matrix"] = {"right": matrix, "front": matrix, "left": matrix}
    doc["inputs"]["right"] = {"key": "incoming/box/right.jpg"}
    (folder / "result.json").write_text(json.dumps(doc))
    result = preview.preview_folder(folder, {"left": photo})
    assert (result.views, result.photos) == (3, 2)
    canvas = decode(result.png)
    assert canvas.shape == (CANVAS_H, CANVAS_W, 3)
    wireframe_box(canvas, COLUMN_X[0])  # front
    wireframe_box(canvas, COLUMN_X[1])  # left
    right = canvas[BOTTOM_BODY_Y : BOTTOM_BODY_Y + PANEL_H, COLUMN_X[2] : COLUMN_X[2] + PANEL_W]
    assert (right == preview.PANEL_BACKGROUND).all(axis=2).mean() > 0.9


def test_build_preview_from_bytes(tmp_path: Path, box: TexturedMesh) -> None:
    folder = tmp_path / "result"
    photo = make_result(folder, box)
    result = preview.build_preview(
        (folder / "face.obj").read_bytes(),
        texture=(folder / "tex.jpg").read_bytes(),
        document=(folder / "result.json").read_bytes(),
        photos={"front": photo.read_bytes()},
    )
    assert (result.views, result.photos) == (3, 1)
    assert decode(result.png).shape == (CANVAS_H, CANVAS_W, 3)


def test_preview_is_deterministic(tmp_path: Path, box: TexturedMesh) -> None:
    folder = tmp_path / "result"
    make_result(folder, box)
    assert preview.preview_folder(folder).png == preview.preview_folder(folder).png


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"transfer_matrix": {"front": [[1, 2, 3]]}}', "transfer_matrix.front"),
        ('{"transfer_matrix": [1, 2]}', "transfer_matrix is not an object"),
    ],
)
def test_invalid_result_json_is_invalid_input(
    tmp_path: Path, box: TexturedMesh, document: str, message: str
) -> None:
    folder = tmp_path / "result"
    make_result(folder, box)
    (folder / "result.json").write_text(document)
    with pytest.raises(Face3DError, match=message) as caught:
        preview.preview_folder(folder)
    assert caught.value.code == INVALID_INPUT


def test_an_unreadable_photo_named_in_result_json_gets_an_empty_panel(
    tmp_path: Path, box: TexturedMesh
) -> None:
    folder = tmp_path / "result"
    photo = make_result(folder, box)
    photo.write_bytes(b"not an image")
    assert preview.preview_folder(folder).photos == 0


def test_a_missing_explicit_photo_is_invalid_input(tmp_path: Path, box: TexturedMesh) -> None:
    folder = tmp_path / "result"
    make_result(folder, box)
    with pytest.raises(Face3DError, match="cannot read photo") as caught:
        preview.preview_folder(folder, {"front": tmp_path / "missing.jpg"})
    assert caught.value.code == INVALID_INPUT


# -- the command ------------------------------------------------------------------------------


def test_cli_writes_the_png_and_prints_one_line(
    tmp_path: Path, box: TexturedMesh, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "result"
    make_result(folder, box)
    assert main(["preview", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert out == f"wrote {folder}/preview.png (3 views, 1 photo)\n"
    assert err == ""
    assert decode((folder / "preview.png").read_bytes()).shape == (CANVAS_H, CANVAS_W, 3)


def test_cli_output_and_photo_options(
    tmp_path: Path, box: TexturedMesh, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "result"
    photo = make_result(folder, box, document=False)
    output = tmp_path / "out.png"
    assert main(["preview", str(folder), "-o", str(output), "--photo", f"left={photo}"]) == 0
    assert capsys.readouterr().out == f"wrote {output} (3 views, 1 photo)\n"
    assert output.is_file()
    assert main(["preview", str(folder), "-o", str(output), "--photo", str(photo)]) == 0
    assert capsys.readouterr().out == f"wrote {output} (3 views, 1 photo)\n"
    assert main(["preview", str(folder), "-o", str(output)]) == 0
    assert capsys.readouterr().out == f"wrote {output} (3 views, 0 photos)\n"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("no-obj", "no face.obj"),
        ("bad-obj", "face.obj is not a readable OBJ file"),
        ("no-folder", "is not a folder"),
        ("missing-photo", "cannot read photo"),
    ],
)
def test_cli_refuses_invalid_input_with_exit_1(
    tmp_path: Path,
    box: TexturedMesh,
    capsys: pytest.CaptureFixture[str],
    setup: str,
    message: str,
) -> None:
    folder = tmp_path / "result"
    make_result(folder, box)
    args = ["preview", str(folder)]
    if setup == "no-obj":
        (folder / "face.obj").unlink()
    elif setup == "bad-obj":
        (folder / "face.obj").write_bytes(b"v 1 2\nf 1 2 3\n")
    elif setup == "no-folder":
        args = ["preview", str(tmp_path / "nowhere")]
    else:
        args += ["--photo", f"front={tmp_path / 'missing.jpg'}"]
    assert main(args) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: INVALID_INPUT: ")
    assert message in err
    assert not (folder / "preview.png").exists()


def test_cli_without_offscreen_opengl_exits_3(
    tmp_path: Path,
    box: TexturedMesh,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import moderngl

    def no_context(**kwargs: Any) -> None:
        raise Exception("eglGetDisplay failed")  # what glcontext raises

    folder = tmp_path / "result"
    make_result(folder, box)
    monkeypatch.setattr(gl, "_renderer", None)  # forget the process's context
    monkeypatch.setattr(moderngl, "create_standalone_context", no_context)
    assert not gl.renderer_available()
    assert main(["preview", str(folder)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: INVALID_CONFIGURATION: cannot create an offscreen OpenGL")
    assert "libegl1" in err
    assert not (folder / "preview.png").exists()
