"""Preview pictures of result folders: the model from three sides beside the input photos with
the model re-projected onto them through `result.json`'s transfer matrices.

Layout (a PNG): a header line, then a row of model renders (yaw +60, 0 and -60 degrees: the
subject's right cheek, the front, the left cheek, each on the side where it is seen in the front
view; yaw as in `face3d.geometry.rotation_from_angles`), then a row with one panel per view
known from `result.json` or `--photo` (front, left, right order): the photo with the model's
visible edges drawn over it, or a panel saying why there is no photo.

`compose_preview` and `build_preview` work on arrays and bytes; `preview_folder` does the reading.
Imports numpy and the renderer at module level: import this module lazily.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from face3d.contract import RESULT_DOCUMENT, View
from face3d.errors import INVALID_INPUT, PermanentError
from face3d.geometry import FloatArray, ImageArray
from face3d.viewer.camera import pixel_matrix, project
from face3d.viewer.gl import composite, render_mesh, render_wireframe
from face3d.viewer.mesh import TexturedMesh, load_result_mesh, mesh_from_bytes

if TYPE_CHECKING:
    from PIL import Image, ImageFont

PREVIEW_NAME = "preview.png"
YAWS = (60.0, 0.0, -60.0)
PANEL = (400, 500)  # width, height of a panel's picture
LABEL_HEIGHT = 26
HEADER_HEIGHT = 34
GAP = 12
CANVAS = (250, 250, 250)
PANEL_BACKGROUND = (228, 228, 228)
LABEL_BACKGROUND = (60, 64, 72)
LABEL_TEXT = (245, 245, 245)
MESSAGE_TEXT = (90, 90, 90)
WIREFRAME = (40, 255, 120)
# Photo panels zoom in until the model spans this share of the panel, by at most MAX_ZOOM.
ZOOM_FILL = 0.6
MAX_ZOOM = 4.0
VIEW_ORDER = tuple(view.value for view in View)

# A panel: its label, its picture (or None: an empty panel) and a message drawn over it.
Panel = tuple[str, ImageArray | None, str | None]


@dataclass(frozen=True)
class Photo:
    """An input photo for a view: its bytes, or why there are none."""

    view: str
    source: str  # path or S3 key, for the label
    data: bytes | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Preview:
    png: bytes
    views: int  # model renders
    photos: int  # photo panels that show a photo

    def summary(self, path: Path | str) -> str:
        views = f"{self.views} view{'s' if self.views != 1 else ''}"
        photos = f"{self.photos} photo{'s' if self.photos != 1 else ''}"
        return f"wrote {path} ({views}, {photos})"


def preview_folder(
    folder: Path, photo_paths: Mapping[str, Path] | None = None, *, title: str | None = None
) -> Preview:
    """Read a result folder (face.obj, face.mtl, tex.jpg, result.json: only face.obj required)
    and the photos, and compose the preview.

    Photos come from `photo_paths` (view -> path; unreadable ones are an error) or else from
    `result.json`'s `inputs.<view>.key` when that is a readable local file (as given, or relative
    to the folder). Raises `PermanentError(INVALID_INPUT)` for a missing or invalid face.obj,
    texture or result.json.
    """
    mesh = load_result_mesh(folder)
    document = read_document(folder)
    photos = find_photos(folder, document, photo_paths or {})
    image, views, shown = compose_preview(
        mesh, document=document, photos=photos, title=title or _title(folder, document)
    )
    return Preview(encode_png(image), views, shown)


def build_preview(
    obj: bytes,
    *,
    texture: bytes | None = None,
    document: bytes | None = None,
    photos: Mapping[str, bytes] | None = None,
    title: str = "",
) -> Preview:
    """The preview from bytes: face.obj, the texture image, result.json and photos by view."""
    mesh = mesh_from_bytes(obj, texture)
    parsed = parse_document(document) if document is not None else None
    found = [Photo(view, f"{view} photo", data) for view, data in (photos or {}).items()]
    for view in _views(parsed, photos or {}):
        if view not in (photos or {}):
            found.append(Photo(view, "", reason="no photo given"))
    image, views, shown = compose_preview(mesh, document=parsed, photos=found, title=title)
    return Preview(encode_png(image), views, shown)


def read_document(folder: Path) -> dict[str, Any] | None:
    path = folder / RESULT_DOCUMENT
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PermanentError(INVALID_INPUT, f"cannot read {path}: {exc.strerror}") from exc
    return parse_document(data, name=str(path))


def parse_document(data: bytes, *, name: str = RESULT_DOCUMENT) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PermanentError(INVALID_INPUT, f"{name} is not valid JSON") from exc
    if not isinstance(document, dict):
        raise PermanentError(INVALID_INPUT, f"{name} is not a JSON object")
    return document


def find_photos(
    folder: Path, document: Mapping[str, Any] | None, photo_paths: Mapping[str, Path]
) -> list[Photo]:
    """One `Photo` per view known from `photo_paths` or the document, in view order."""
    photos = []
    for view in _views(document, photo_paths):
        explicit = photo_paths.get(view)
        if explicit is not None:
            try:
                photos.append(Photo(view, str(explicit), explicit.read_bytes()))
            except OSError as exc:
                message = f"cannot read photo {explicit}: {exc.strerror}"
                raise PermanentError(INVALID_INPUT, message) from exc
            continue
        key = _input_key(document, view)
        if key is None:
            photos.append(Photo(view, "", reason="no photo named in result.json"))
            continue
        for candidate in (Path(key), folder / key):
            try:
                photos.append(Photo(view, key, candidate.read_bytes()))
                break
            except (OSError, ValueError):
                continue
        else:
            photos.append(Photo(view, key, reason="not a readable local file"))
    return photos


def compose_preview(
    mesh: TexturedMesh,
    *,
    document: Mapping[str, Any] | None,
    photos: Sequence[Photo],
    yaws: Sequence[float] = YAWS,
    panel: tuple[int, int] = PANEL,
    title: str = "",
) -> tuple[ImageArray, int, int]:
    """The preview picture (RGB), the number of model renders and of photos shown."""
    from PIL import Image, ImageDraw

    matrices = _matrices(document)
    top: list[Panel] = [_model_panel(mesh, yaw, panel) for yaw in yaws]
    order = {view: index for index, view in enumerate(VIEW_ORDER)}
    bottom: list[Panel] = []
    shown = 0
    for photo in sorted(photos, key=lambda p: order.get(p.view, len(order))):
        label, picture, message = _photo_panel(
            mesh, photo, matrices.get(photo.view), _prepared_size(document, photo.view), panel
        )
        shown += picture is not None
        bottom.append((label, picture, message))
    if not bottom:
        bottom.append(("photos", None, "no photo: no result.json\nand no --photo given"))

    width, height = panel
    columns = max(len(top), len(bottom))
    canvas_width = columns * width + (columns + 1) * GAP
    row_height = LABEL_HEIGHT + height
    canvas_height = HEADER_HEIGHT + 2 * row_height + 3 * GAP
    canvas = Image.new("RGB", (canvas_width, canvas_height), CANVAS)
    draw = ImageDraw.Draw(canvas)
    font = _font(15)
    header = title or "face3d preview"
    header += f"   {_describe(mesh)}"
    draw.text(
        (GAP, HEADER_HEIGHT // 2 + GAP // 2), header, fill=(30, 30, 30), font=font, anchor="lm"
    )
    for row, panels in enumerate((top, bottom)):
        y = HEADER_HEIGHT + GAP + row * (row_height + GAP)
        x = (canvas_width - len(panels) * width - (len(panels) - 1) * GAP) // 2
        for label, picture, message in panels:
            draw.rectangle((x, y, x + width - 1, y + LABEL_HEIGHT - 1), fill=LABEL_BACKGROUND)
            draw.text(
                (x + 8, y + LABEL_HEIGHT // 2), label, fill=LABEL_TEXT, font=font, anchor="lm"
            )
            body = (x, y + LABEL_HEIGHT)
            if picture is not None:
                canvas.paste(Image.fromarray(picture), body)
            else:
                draw.rectangle((*body, x + width - 1, y + row_height - 1), fill=PANEL_BACKGROUND)
            if message:
                centre = (x + width // 2, y + LABEL_HEIGHT + height // 2)
                draw.multiline_text(
                    centre, message, fill=MESSAGE_TEXT, font=font, anchor="mm", align="center"
                )
            x += width + GAP
    return np.asarray(canvas, dtype=np.uint8), len(top), shown


def encode_png(image: ImageArray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def _model_panel(mesh: TexturedMesh, yaw: float, panel: tuple[int, int]) -> Panel:
    image, _ = render_mesh(
        mesh,
        yaw_deg=yaw,
        size=panel,
        background=PANEL_BACKGROUND,
        face_height_fraction=0.8,
        lighting=0.35,
    )
    side = "front" if yaw == 0 else ("right cheek" if yaw > 0 else "left cheek")
    return f"model, yaw {yaw:+.0f}\N{DEGREE SIGN} ({side})", image, None


def _photo_panel(
    mesh: TexturedMesh,
    photo: Photo,
    matrix: FloatArray | None,
    prepared: tuple[int, int] | None,
    panel: tuple[int, int],
) -> Panel:
    from PIL import Image, ImageOps, UnidentifiedImageError

    if photo.data is None:
        source = f"\n{_shorten(photo.source)}" if photo.source else ""
        return f"{photo.view} photo", None, f"no {photo.view} photo:\n{photo.reason}{source}"
    try:
        with Image.open(io.BytesIO(photo.data)) as opened:
            upright = ImageOps.exif_transpose(opened).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        message = f"{photo.view} photo unreadable:\n{_shorten(photo.source)}"
        return f"{photo.view} photo", None, message
    photo_size = (upright.width, upright.height)
    to_photo = None
    if matrix is not None:
        # prepared-image pixels -> this photo's pixels (integer coordinates are pixel centres)
        reference = prepared or photo_size
        to_photo = np.eye(4)
        for axis in (0, 1):
            factor = photo_size[axis] / reference[axis]
            to_photo[axis, axis] = factor
            to_photo[axis, 3] = 0.5 * factor - 0.5
        to_photo = to_photo @ matrix
    region = _region(mesh, to_photo, photo_size, panel)
    picture, to_panel = _show_region(upright, region, panel)
    if to_photo is None:
        return f"{photo.view} photo (no transfer matrix)", picture, None
    layer = render_wireframe(mesh, to_panel @ to_photo, panel, color=WIREFRAME, opacity=0.6)
    zoomed = " (zoomed)" if region[2] - region[0] < photo_size[0] - 1 else ""
    label = f"{photo.view} photo{zoomed} + model (transfer matrix)"
    return label, composite(picture, layer), None


def _region(
    mesh: TexturedMesh,
    matrix: FloatArray | None,
    photo_size: tuple[int, int],
    panel: tuple[int, int],
) -> tuple[float, float, float, float]:
    """The part of the photo to show (left, top, right, bottom in pixel-edge coordinates, of the
    panel's aspect): the whole photo, or less around the model so that it fills ZOOM_FILL of
    the panel when it is small in the photo."""
    aspect = panel[0] / panel[1]
    width, height = float(photo_size[0]), float(photo_size[1])
    whole = max(width, height * aspect)
    centre = (width / 2.0, height / 2.0)
    if matrix is not None:
        projected = project(matrix, mesh.vertices)
        low, high = projected.min(axis=0) + 0.5, projected.max(axis=0) + 0.5
        wanted = max((high[0] - low[0]), (high[1] - low[1]) * aspect) / ZOOM_FILL
        wanted = max(wanted, panel[0] / MAX_ZOOM)
        if wanted < whole:
            whole = wanted
            centre = ((low[0] + high[0]) / 2.0, (low[1] + high[1]) / 2.0)
    region_width, region_height = whole, whole / aspect
    left, top = centre[0] - region_width / 2.0, centre[1] - region_height / 2.0
    return left, top, left + region_width, top + region_height


def _show_region(
    photo: Image.Image, region: tuple[float, float, float, float], panel: tuple[int, int]
) -> tuple[ImageArray, FloatArray]:
    """The region scaled into the panel (outside the photo: the panel's background) and the
    4x4 matrix from photo pixels to panel pixels."""
    from PIL import Image

    left, top, right, bottom = region
    scale = panel[0] / (right - left)
    inside = (max(left, 0.0), max(top, 0.0), min(right, photo.width), min(bottom, photo.height))
    body = Image.new("RGB", panel, PANEL_BACKGROUND)
    size = (round((inside[2] - inside[0]) * scale), round((inside[3] - inside[1]) * scale))
    if size[0] > 0 and size[1] > 0:
        part = photo.resize(size, Image.Resampling.LANCZOS, box=inside, reducing_gap=3.0)
        body.paste(part, (round((inside[0] - left) * scale), round((inside[1] - top) * scale)))
    to_panel = np.eye(4)
    for axis, origin in ((0, left), (1, top)):
        to_panel[axis, axis] = scale
        to_panel[axis, 3] = (0.5 - origin) * scale - 0.5
    return np.asarray(body, dtype=np.uint8), to_panel


def _matrices(document: Mapping[str, Any] | None) -> dict[str, FloatArray]:
    if document is None:
        return {}
    value = document.get("transfer_matrix")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PermanentError(INVALID_INPUT, "result.json: transfer_matrix is not an object")
    matrices = {}
    for view, rows in value.items():
        try:
            matrices[str(view)] = pixel_matrix(rows)
        except ValueError as exc:
            raise PermanentError(
                INVALID_INPUT, f"result.json: transfer_matrix.{view}: {exc}"
            ) from exc
    return matrices


def _views(document: Mapping[str, Any] | None, explicit: Mapping[str, object]) -> list[str]:
    known = set(explicit)
    if document is not None:
        for field in ("transfer_matrix", "inputs"):
            value = document.get(field)
            if isinstance(value, dict):
                known.update(str(view) for view in value)
    return [view for view in VIEW_ORDER if view in known] + sorted(known - set(VIEW_ORDER))


def _input_key(document: Mapping[str, Any] | None, view: str) -> str | None:
    inputs = document.get("inputs") if document is not None else None
    entry = inputs.get(view) if isinstance(inputs, dict) else None
    key = entry.get("key") if isinstance(entry, dict) else None
    return key if isinstance(key, str) and key else None


def _prepared_size(document: Mapping[str, Any] | None, view: str) -> tuple[int, int] | None:
    """The size of the image the transfer matrix refers to (after preparation), if recorded."""
    inputs = document.get("inputs") if document is not None else None
    entry = inputs.get(view) if isinstance(inputs, dict) else None
    if not isinstance(entry, dict):
        return None
    width, height = entry.get("width"), entry.get("height")
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        return width, height
    return None


def _title(folder: Path, document: Mapping[str, Any] | None) -> str:
    subject = document.get("subject") if document is not None else None
    return str(subject) if isinstance(subject, str) and subject else folder.resolve().name


def _describe(mesh: TexturedMesh) -> str:
    texture = (
        f"texture {mesh.texture.shape[1]}x{mesh.texture.shape[0]}"
        if mesh.textured and mesh.texture is not None
        else "no texture"
    )
    return f"{len(mesh.vertices):,} vertices, {len(mesh.faces):,} triangles, {texture}"


def _shorten(text: str, limit: int = 44) -> str:
    return text if len(text) <= limit else "\N{HORIZONTAL ELLIPSIS}" + text[-(limit - 1) :]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow without FreeType: the bitmap font
        return ImageFont.load_default()
