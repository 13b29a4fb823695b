"""Offscreen rendering of textured face meshes (OpenGL through ModernGL, no display needed).

Used by `face3d preview` and by tests that turn a reconstructed face into synthetic photos.

Conventions
-----------
* Model coordinates: millimetres, x to the viewer's right in the front photo (the subject's
  left), y up, z toward the camera.
* Pixel coordinates: x right, y down, origin at the top-left; integer coordinates are pixel
  centres (OpenCV's convention), so pixel (0, 0) covers [-0.5, 0.5] x [-0.5, 0.5].
* A *pixel matrix* is a 4x4 row-major matrix `M` with `M @ (x, y, z, 1)` giving pixel x (row 1),
  pixel y (row 2) and a depth (row 3) under an orthographic camera: the form of `result.json`'s
  `transfer_matrix`. Visibility never relies on row 3's sign or scale: the direction toward the
  camera is taken from rows 1 and 2 (x right, y down, the viewer looking into the picture), so
  any such matrix renders correctly.
* Views: `yaw_deg` and `pitch_deg` are the head pose angles of `face3d.engine.pose` (see
  `rotation`): yaw > 0 shows the subject's right cheek (they turned to their own left, the nose
  moves to the picture's right); pitch > 0 turns the nose down. Matrices that `render_mesh`
  returns have row 3 growing away from the camera, zero at the model's origin, as the engine's.
* Images are RGB `uint8` arrays of shape (height, width, 3) (Pillow's order; reverse the last
  axis for OpenCV). Sizes are given as (width, height).

The renderer is ModernGL on an EGL context: on Linux without a display Mesa's llvmpipe renders in
software (libEGL, libegl-mesa0 and libgl1-mesa-dri). Heavy imports (moderngl, Pillow decoding)
happen inside functions; numpy is imported at module level, so import this module lazily from
code that must work without the engine extra.
"""

from __future__ import annotations

import io
import math
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from face3d.contract import MTL_NAME, OBJ_NAME, TEXTURE_NAME
from face3d.errors import INVALID_CONFIGURATION, INVALID_INPUT, ConfigurationError, PermanentError
from face3d.geometry import FloatArray, ImageArray, IntArray, vertex_normals

if TYPE_CHECKING:
    import moderngl

RGB = tuple[int, int, int]


# Colour of an untextured mesh (a light clay), before shading.
CLAY: RGB = (214, 200, 186)
# Multisampling: 4 samples is llvmpipe's maximum and smooths edges like a photo.
SAMPLES = 4
# Textures larger than this on a side are downscaled before upload (well under GL limits).
MAX_TEXTURE_SIDE = 8192


class RendererUnavailableError(ConfigurationError):
    """No offscreen OpenGL context could be created (missing EGL/Mesa, or moderngl)."""

    def __init__(self, message: str) -> None:
        super().__init__(INVALID_CONFIGURATION, message)


@dataclass(frozen=True, eq=False)
class TexturedMesh:
    """A triangle mesh with optional per-corner texture coordinates and an RGB texture.

    `faces` index `vertices`; `face_uvs` (same shape as `faces`) index `uvs`, as in an OBJ file's
    `f v/vt` records. UV (0, 0) is the texture's bottom-left corner (OBJ convention).
    """

    vertices: FloatArray  # (N, 3) millimetres
    faces: IntArray  # (F, 3)
    uvs: FloatArray | None = None  # (T, 2)
    face_uvs: IntArray | None = None  # (F, 3)
    texture: ImageArray | None = None  # (H, W, 3) RGB

    def __post_init__(self) -> None:
        vertices, faces = self.vertices, self.faces
        if vertices.ndim != 2 or vertices.shape[1] != 3 or len(vertices) == 0:
            raise ValueError("vertices must be a non-empty (N, 3) array")
        if faces.ndim != 2 or faces.shape[1] != 3 or len(faces) == 0:
            raise ValueError("faces must be a non-empty (F, 3) array")
        if not np.isfinite(vertices).all():
            raise ValueError("vertices must be finite")
        if faces.min() < 0 or faces.max() >= len(vertices):
            raise ValueError("a face refers to a vertex that does not exist")
        if (self.uvs is None) != (self.face_uvs is None):
            raise ValueError("uvs and face_uvs go together")
        if self.uvs is not None and self.face_uvs is not None:
            if self.uvs.ndim != 2 or self.uvs.shape[1] != 2 or len(self.uvs) == 0:
                raise ValueError("uvs must be a non-empty (T, 2) array")
            if self.face_uvs.shape != faces.shape:
                raise ValueError("face_uvs must have the shape of faces")
            if self.face_uvs.min() < 0 or self.face_uvs.max() >= len(self.uvs):
                raise ValueError("a face refers to a texture coordinate that does not exist")
        if self.texture is not None and (
            self.texture.ndim != 3 or self.texture.shape[2] != 3 or self.texture.dtype != np.uint8
        ):
            raise ValueError("texture must be an (H, W, 3) uint8 RGB array")

    @property
    def textured(self) -> bool:
        """Whether the mesh has both texture coordinates and a texture image."""
        return self.uvs is not None and self.texture is not None

    def untextured(self) -> TexturedMesh:
        return TexturedMesh(self.vertices, self.faces)

    def with_texture(self, texture: ImageArray | None) -> TexturedMesh:
        return TexturedMesh(self.vertices, self.faces, self.uvs, self.face_uvs, texture)


# -- reading result folders -------------------------------------------------------------------


@dataclass(frozen=True)
class ObjData:
    """What `parse_obj` read: geometry, texture coordinates and the material library named."""

    vertices: FloatArray
    faces: IntArray
    uvs: FloatArray | None
    face_uvs: IntArray | None
    mtllib: str | None


def parse_obj(data: bytes, *, name: str = OBJ_NAME) -> ObjData:
    """Parse a Wavefront OBJ: `v`, `vt` and `f` (`v`, `v/vt`, `v/vt/vn`, `v//vn`; negative indices;
    polygons as fans). Texture coordinates are kept only when every face has them.

    Raises `PermanentError(INVALID_INPUT)` naming the line for anything it cannot read.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    vertices: list[tuple[float, float, float]] = []
    uvs: list[tuple[float, float]] = []
    faces: list[tuple[int, int, int]] = []
    face_uvs: list[tuple[int, int, int]] = []
    all_faces_have_uvs = True
    mtllib: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        keyword, _, rest = line.partition(" ")
        fields = rest.split()
        try:
            if keyword == "v":
                x, y, z = (float(value) for value in fields[:3])
                vertices.append((x, y, z))
            elif keyword == "vt":
                uvs.append((float(fields[0]), float(fields[1]) if len(fields) > 1 else 0.0))
            elif keyword == "f":
                if len(fields) < 3:
                    raise ValueError("a face needs at least three corners")
                corners = [_obj_corner(field, len(vertices), len(uvs)) for field in fields]
                for i in range(1, len(corners) - 1):
                    a, b, c = corners[0], corners[i], corners[i + 1]
                    faces.append((a[0], b[0], c[0]))
                    if a[1] is None or b[1] is None or c[1] is None:
                        all_faces_have_uvs = False
                    else:
                        face_uvs.append((a[1], b[1], c[1]))
            elif keyword == "mtllib" and rest.strip():
                mtllib = mtllib or rest.strip()
        except (ValueError, IndexError) as exc:
            reason = str(exc) if isinstance(exc, ValueError) and str(exc) else "malformed record"
            if reason.startswith(("could not convert", "not enough values")):
                reason = "malformed record"
            raise PermanentError(INVALID_INPUT, f"{name} line {number}: {reason}") from exc
    if not vertices or not faces:
        raise PermanentError(INVALID_INPUT, f"{name} has no {'faces' if vertices else 'vertices'}")
    vertex_array = np.asarray(vertices, dtype=np.float64)
    if not np.isfinite(vertex_array).all():
        raise PermanentError(INVALID_INPUT, f"{name} has a vertex that is not a finite number")
    textured = all_faces_have_uvs and bool(uvs)
    return ObjData(
        vertices=vertex_array,
        faces=np.asarray(faces, dtype=np.int64),
        uvs=np.asarray(uvs, dtype=np.float64) if textured else None,
        face_uvs=np.asarray(face_uvs, dtype=np.int64) if textured else None,
        mtllib=mtllib,
    )


def _obj_corner(field: str, vertex_count: int, uv_count: int) -> tuple[int, int | None]:
    parts = field.split("/")
    vertex = _obj_index(parts[0], vertex_count, "vertex")
    uv = (
        _obj_index(parts[1], uv_count, "texture coordinate")
        if len(parts) > 1 and parts[1]
        else None
    )
    return vertex, uv


def _obj_index(token: str, count: int, what: str) -> int:
    index = int(token)
    resolved = index - 1 if index > 0 else count + index
    if index == 0 or not 0 <= resolved < count:
        raise ValueError(f"{what} {index} does not exist")
    return resolved


def parse_mtl_texture(data: bytes) -> str | None:
    """The first `map_Kd` file name in an MTL file (options such as `-s 1 1 1` skipped)."""
    for raw in data.decode("utf-8", errors="replace").splitlines():
        fields = raw.split("#", 1)[0].split()
        if len(fields) >= 2 and fields[0] == "map_Kd":
            return fields[-1]
    return None


def decode_texture(data: bytes, *, name: str = TEXTURE_NAME) -> ImageArray:
    """An image file's bytes as an RGB array (downscaled if a side exceeds MAX_TEXTURE_SIDE)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            rgb = image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise PermanentError(INVALID_INPUT, f"{name} is not a readable image") from exc
    if max(rgb.size) > MAX_TEXTURE_SIDE:
        rgb.thumbnail((MAX_TEXTURE_SIDE, MAX_TEXTURE_SIDE), Image.Resampling.LANCZOS)
    return np.asarray(rgb, dtype=np.uint8)


def mesh_from_bytes(
    obj: bytes, texture: bytes | None = None, *, obj_name: str = OBJ_NAME
) -> TexturedMesh:
    """A mesh from OBJ bytes and, if given, the texture image's bytes."""
    parsed = parse_obj(obj, name=obj_name)
    try:
        mesh = TexturedMesh(parsed.vertices, parsed.faces, parsed.uvs, parsed.face_uvs)
    except ValueError as exc:
        raise PermanentError(INVALID_INPUT, f"{obj_name}: {exc}") from exc
    if texture is None or mesh.uvs is None:
        return mesh
    return mesh.with_texture(decode_texture(texture))


def load_result_mesh(folder: Path) -> TexturedMesh:
    """The mesh of a result folder: face.obj, textured by the MTL's `map_Kd` (normally
    tex.jpg) or, without an MTL, by tex.jpg when the OBJ has texture coordinates.

    A missing or unreadable face.obj or texture raises `PermanentError(INVALID_INPUT)`; a
    missing MTL or texture gives an untextured mesh.
    """
    obj_path = folder / OBJ_NAME
    try:
        obj = obj_path.read_bytes()
    except FileNotFoundError as exc:
        raise PermanentError(INVALID_INPUT, f"no {OBJ_NAME} in {folder}") from exc
    except OSError as exc:
        raise PermanentError(INVALID_INPUT, f"cannot read {obj_path}: {exc.strerror}") from exc
    parsed = parse_obj(obj, name=str(obj_path))
    texture_path = _texture_path(folder, parsed.mtllib) if parsed.uvs is not None else None
    texture = None
    if texture_path is not None:
        try:
            texture = decode_texture(texture_path.read_bytes(), name=str(texture_path))
        except OSError as exc:
            message = f"cannot read {texture_path}: {exc.strerror}"
            raise PermanentError(INVALID_INPUT, message) from exc
    try:
        return TexturedMesh(parsed.vertices, parsed.faces, parsed.uvs, parsed.face_uvs, texture)
    except ValueError as exc:
        raise PermanentError(INVALID_INPUT, f"{obj_path}: {exc}") from exc


def _texture_path(folder: Path, mtllib: str | None) -> Path | None:
    mtl_path = folder / (mtllib if mtllib and _inside(folder, folder / mtllib) else MTL_NAME)
    if mtl_path.is_file():
        try:
            name = parse_mtl_texture(mtl_path.read_bytes())
        except OSError:
            name = None
        candidate = folder / PurePosixPath(name.replace("\\", "/")) if name else None
        if candidate is not None and _inside(folder, candidate) and candidate.is_file():
            return candidate
    fallback = folder / TEXTURE_NAME
    return fallback if fallback.is_file() else None


def _inside(folder: Path, path: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


# -- cameras ----------------------------------------------------------------------------------


def rotation(yaw_deg: float = 0.0, pitch_deg: float = 0.0) -> FloatArray:
    """The head rotation of a view, `Ry(yaw) @ Rx(pitch)` about the viewer's axes (model frame:
    y up, z toward the camera), right-hand rule: the same angles as `face3d.engine.pose`.

    * yaw > 0: the nose turns toward the picture's right: the subject has turned to their own
      left and the picture shows more of their RIGHT cheek (the model's -x side); yaw < 0 shows
      the left cheek (+x side).
    * pitch > 0: the nose turns down (chin toward the chest); pitch < 0 raises the chin.
    """
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    cy, sy = math.cos(yaw), math.sin(yaw)
    cp, sp = math.cos(pitch), math.sin(pitch)
    turn = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])  # about y
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])  # about x
    return np.asarray(turn @ tilt, dtype=np.float64)


def view_matrix(
    vertices: FloatArray,
    *,
    yaw_deg: float = 0.0,
    pitch_deg: float = 0.0,
    size: tuple[int, int] = (800, 1000),
    face_height_fraction: float = 0.55,
) -> FloatArray:
    """The 4x4 pixel matrix of an orthographic view that frames `vertices`.

    The turned mesh's bounding box is centred in the picture and scaled so that its height is
    `face_height_fraction` of the picture's (less if it would otherwise be wider than 90% of
    the picture). Row 3 is depth in pixels growing away from the camera, zero at the model's
    origin (as the engine's matrices), so the upper 3x3 is a scaled proper rotation.
    """
    width, height = size
    if width <= 0 or height <= 0:
        raise ValueError("size must be positive")
    if not 0.0 < face_height_fraction <= 1.0:
        raise ValueError("face_height_fraction must be in (0, 1]")
    turn = rotation(yaw_deg, pitch_deg)
    turned = np.asarray(vertices, dtype=np.float64) @ turn.T
    low, high = turned.min(axis=0), turned.max(axis=0)
    extent = np.maximum(high - low, 1e-9)
    scale = min(face_height_fraction * height / extent[1], 0.9 * width / extent[0])
    centre = (low + high) / 2.0
    matrix = np.eye(4)
    matrix[:3, :3] = np.diag([scale, -scale, -scale]) @ turn
    matrix[0, 3] = (width - 1) / 2.0 - scale * centre[0]
    matrix[1, 3] = (height - 1) / 2.0 + scale * centre[1]
    return matrix


def project(matrix: FloatArray | Sequence[Sequence[float]], points: FloatArray) -> FloatArray:
    """Pixel coordinates (N, 2) of model points (N, 3) through a pixel matrix."""
    m = np.asarray(matrix, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    return np.asarray(p @ m[:2, :3].T + m[:2, 3], dtype=np.float64)


def toward_camera(matrix: FloatArray) -> FloatArray:
    """Unit vector in model space pointing at the viewer of an orthographic pixel matrix."""
    right, down = matrix[0, :3], matrix[1, :3]
    toward = np.cross(right, -down)
    norm = float(np.linalg.norm(toward))
    if norm == 0.0 or not math.isfinite(norm):
        raise ValueError("the matrix does not project onto the image plane (rank < 2)")
    return np.asarray(toward / norm, dtype=np.float64)


def pixel_matrix(value: object) -> FloatArray:
    """A 4x4 pixel matrix from `result.json` (4 rows of 4) or 16 row-major numbers."""
    try:
        matrix = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError("a transfer matrix must be numbers") from exc
    if matrix.shape == (16,):
        matrix = matrix.reshape(4, 4)
    if matrix.shape != (4, 4) or not np.isfinite(matrix).all():
        raise ValueError("a transfer matrix must be 4 rows of 4 finite numbers")
    toward_camera(matrix)
    return matrix


# -- rendering --------------------------------------------------------------------------------


def render_mesh(
    mesh: TexturedMesh,
    *,
    yaw_deg: float = 0.0,
    pitch_deg: float = 0.0,
    size: tuple[int, int] = (800, 1000),
    background: RGB = (235, 235, 235),
    face_height_fraction: float = 0.55,
    lighting: float = 0.0,
) -> tuple[ImageArray, FloatArray]:
    """Render the mesh turned by yaw and pitch (see `rotation`) under an orthographic camera.

    Returns the RGB picture, shape (height, width, 3), and the 4x4 pixel matrix mapping model
    coordinates to its pixels (same form as `result.json`'s transfer matrices). `lighting` mixes
    in Lambert shading from the upper left: 0 keeps the texture's own look (for synthetic
    photos), 1 is fully shaded. An untextured mesh is drawn in clay, always fully shaded.
    """
    matrix = view_matrix(
        mesh.vertices,
        yaw_deg=yaw_deg,
        pitch_deg=pitch_deg,
        size=size,
        face_height_fraction=face_height_fraction,
    )
    image = render_view(mesh, matrix, size, background=background, lighting=lighting)
    return image, matrix


def render_view(
    mesh: TexturedMesh,
    matrix: FloatArray,
    size: tuple[int, int],
    *,
    background: RGB = (235, 235, 235),
    lighting: float = 0.0,
) -> ImageArray:
    """Render the mesh through any orthographic pixel matrix into a (height, width, 3) picture."""
    lighting_amount = 1.0 if not mesh.textured else min(max(float(lighting), 0.0), 1.0)
    pixels = _draw(
        mesh,
        np.asarray(matrix, dtype=np.float64),
        size,
        clear=(background[0] / 255.0, background[1] / 255.0, background[2] / 255.0, 1.0),
        program="surface",
        uniforms={"lighting": lighting_amount},
    )
    return np.ascontiguousarray(pixels[:, :, :3])


def render_wireframe(
    mesh: TexturedMesh,
    matrix: FloatArray,
    size: tuple[int, int],
    *,
    color: RGB = (40, 255, 120),
    opacity: float = 0.7,
    line_width: float = 1.0,
    fill_opacity: float = 0.12,
    outline: bool = True,
) -> ImageArray:
    """The mesh's visible edges (hidden lines removed) as a premultiplied RGBA layer.

    Edges fade out where triangles are only a few pixels across (a dense mesh would otherwise
    cover the picture); the area the mesh covers is tinted with `fill_opacity`, and with
    `outline` its silhouette is drawn opaque, 2 px wide. Composite over a picture with
    `composite(picture, layer)`.
    """
    layer = _draw(
        mesh,
        np.asarray(matrix, dtype=np.float64),
        size,
        clear=(0.0, 0.0, 0.0, 0.0),
        program="wireframe",
        uniforms={
            "line_color": (*(channel / 255.0 for channel in color), min(max(opacity, 0.0), 1.0)),
            "line_width": max(float(line_width), 0.1),
            "fill_opacity": min(max(fill_opacity, 0.0), 1.0),
        },
    )
    if outline:
        covered = layer[:, :, 3] > 0
        inner = covered.copy()
        for _ in range(2):  # erode twice: a 2 px band inside the silhouette
            shrunk = inner.copy()
            shrunk[1:, :] &= inner[:-1, :]
            shrunk[:-1, :] &= inner[1:, :]
            shrunk[:, 1:] &= inner[:, :-1]
            shrunk[:, :-1] &= inner[:, 1:]
            inner = shrunk
        layer[covered & ~inner] = (*color, 255)
    return layer


def composite(picture: ImageArray, layer: ImageArray) -> ImageArray:
    """A premultiplied RGBA layer over an RGB picture of the same size."""
    alpha = layer[:, :, 3:4].astype(np.float32) / 255.0
    blended = picture.astype(np.float32) * (1.0 - alpha) + layer[:, :, :3].astype(np.float32)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


_VERTEX_SHADER = """
#version 330
uniform mat4 clip;
in vec3 in_position;
in vec2 in_uv;
in vec3 in_normal;
in vec3 in_barycentric;
out vec2 v_uv;
out vec3 v_normal;
out vec3 v_barycentric;
void main() {
    gl_Position = clip * vec4(in_position, 1.0);
    v_uv = in_uv;
    v_normal = in_normal;
    v_barycentric = in_barycentric;
}
"""

_SURFACE_SHADER = """
#version 330
uniform sampler2D texture0;
uniform bool textured;
uniform vec3 base_color;
uniform float lighting;
uniform vec3 light_direction;
uniform vec3 toward;
in vec2 v_uv;
in vec3 v_normal;
in vec3 v_barycentric;
out vec4 f_color;
void main() {
    // OBJ's v runs up from the image's bottom; the texture is uploaded top row first.
    vec3 color = textured ? texture(texture0, vec2(v_uv.x, 1.0 - v_uv.y)).rgb : base_color;
    vec3 normal = normalize(v_normal);
    if (dot(normal, toward) < 0.0) {
        normal = -normal;  // an inside surface seen through an opening
    }
    float lambert = 0.45 + 0.65 * max(dot(normal, light_direction), 0.0);
    f_color = vec4(clamp(color * mix(1.0, lambert, lighting), 0.0, 1.0), 1.0);
}
"""

_WIREFRAME_SHADER = """
#version 330
uniform vec4 line_color;
uniform float line_width;
uniform float fill_opacity;
in vec2 v_uv;
in vec3 v_normal;
in vec3 v_barycentric;
out vec4 f_color;
void main() {
    vec3 change = fwidth(v_barycentric);  // about 1 / (the triangle's size in pixels)
    vec3 ramp = smoothstep(vec3(0.0), change * line_width, v_barycentric);
    float edge = 1.0 - min(min(ramp.x, ramp.y), ramp.z);
    // Full lines on triangles over ~7 px across, none under ~2 px.
    float sparse = smoothstep(0.5, 0.15, max(max(change.x, change.y), change.z));
    float alpha = max(line_color.a * edge * sparse, fill_opacity);
    f_color = vec4(line_color.rgb * alpha, alpha);  // premultiplied
}
"""


_ATTRIBUTES = (("in_position", 3), ("in_uv", 2), ("in_normal", 3), ("in_barycentric", 3))


class _Renderer:
    """One offscreen context and its programs, shared by every render in the process."""

    def __init__(self) -> None:
        self.ctx = _create_context()
        self.programs = {
            name: self.ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=fragment)
            for name, fragment in (("surface", _SURFACE_SHADER), ("wireframe", _WIREFRAME_SHADER))
        }
        self.samples = min(SAMPLES, self.ctx.max_samples)


_renderer: _Renderer | None = None
_lock = threading.Lock()


def _create_context() -> moderngl.Context:
    try:
        import moderngl
    except ImportError as exc:
        raise RendererUnavailableError(
            "rendering needs moderngl (pip install 'face3d-pipeline[engine]')"
        ) from exc
    backends: list[str | None] = ["egl", None] if sys.platform.startswith("linux") else [None]
    failures = []
    for backend in backends:
        try:
            kwargs: dict[str, Any] = {"backend": backend} if backend else {}
            return moderngl.create_standalone_context(require=330, **kwargs)
        except Exception as exc:  # noqa: BLE001 (glcontext raises bare Exceptions)
            failures.append(f"{backend or 'default'}: {exc}")
    raise RendererUnavailableError(
        "cannot create an offscreen OpenGL 3.3 context ("
        + "; ".join(failures)
        + "); on Debian/Ubuntu install libegl1 and libgl1-mesa-dri"
    )


def renderer_available() -> bool:
    """Whether an offscreen OpenGL context can be had here (creates it if not yet done)."""
    try:
        with _lock:
            _get_renderer()
    except RendererUnavailableError:
        return False
    return True


def _get_renderer() -> _Renderer:
    global _renderer  # one context per process, created on first use
    if _renderer is None:
        _renderer = _Renderer()
    return _renderer


def _clip_matrix(matrix: FloatArray, vertices: FloatArray, size: tuple[int, int]) -> FloatArray:
    """Model -> OpenGL clip coordinates for a pixel matrix, depth spanning the mesh."""
    width, height = size
    toward = toward_camera(matrix)
    closeness = vertices @ toward
    near, far = float(closeness.max()), float(closeness.min())
    middle, half = (near + far) / 2.0, max((near - far) / 2.0, 1e-6) * 1.01
    clip = np.zeros((4, 4))
    # Pixel centres sit at +0.5 in window coordinates; window y runs up in OpenGL.
    clip[0, :3] = matrix[0, :3] * 2.0 / width
    clip[0, 3] = (matrix[0, 3] + 0.5) * 2.0 / width - 1.0
    clip[1, :3] = -matrix[1, :3] * 2.0 / height
    clip[1, 3] = 1.0 - (matrix[1, 3] + 0.5) * 2.0 / height
    clip[2, :3] = -toward / half  # nearer is smaller depth
    clip[2, 3] = middle / half
    clip[3, 3] = 1.0
    return clip


def _vertex_data(mesh: TexturedMesh) -> npt.NDArray[np.float32]:
    """Per-corner attributes: position, uv, smooth normal, barycentric (11 floats)."""
    vertices, faces = mesh.vertices, mesh.faces
    corners = len(faces) * 3
    data = np.zeros((corners, 11), dtype=np.float32)
    data[:, 0:3] = vertices[faces.reshape(-1)]
    if mesh.textured and mesh.uvs is not None and mesh.face_uvs is not None:
        data[:, 3:5] = mesh.uvs[mesh.face_uvs.reshape(-1)]
    data[:, 5:8] = vertex_normals(vertices, faces)[faces.reshape(-1)]
    data[:, 8:11] = np.tile(np.eye(3, dtype=np.float32), (len(faces), 1))
    return data


def _draw(
    mesh: TexturedMesh,
    matrix: FloatArray,
    size: tuple[int, int],
    *,
    clear: tuple[float, float, float, float],
    program: str,
    uniforms: dict[str, Any],
) -> ImageArray:
    width, height = int(size[0]), int(size[1])
    if width <= 0 or height <= 0:
        raise ValueError("size must be positive")
    clip = _clip_matrix(matrix, mesh.vertices, (width, height))
    toward = toward_camera(matrix)
    right = matrix[0, :3] / np.linalg.norm(matrix[0, :3])
    up = -matrix[1, :3] / np.linalg.norm(matrix[1, :3])
    light = -0.35 * right + 0.45 * up + toward
    light /= np.linalg.norm(light)
    data = _vertex_data(mesh)
    with _lock:
        renderer = _get_renderer()
        ctx = renderer.ctx
        resources: list[Any] = []
        try:
            with ctx:
                prog = renderer.programs[program]
                values: dict[str, Any] = {
                    "clip": tuple(clip.T.reshape(-1)),  # GLSL matrices are column-major
                    "toward": tuple(toward),
                    "light_direction": tuple(light),
                    "base_color": tuple(channel / 255.0 for channel in CLAY),
                    "textured": mesh.textured,
                    **uniforms,
                }
                for name, value in values.items():
                    if name in prog:
                        prog[name].value = value  # type: ignore[union-attr]
                if mesh.textured and mesh.texture is not None:
                    texture = _texture(ctx, mesh.texture)
                    resources.append(texture)
                    texture.use(location=0)
                    if "texture0" in prog:
                        prog["texture0"].value = 0  # type: ignore[union-attr]
                buffer = ctx.buffer(data.tobytes())
                resources.append(buffer)
                tokens, names = [], []
                for name, count in _ATTRIBUTES:
                    if name in prog:
                        tokens.append(f"{count}f")
                        names.append(name)
                    else:  # optimised away by the shader compiler: skip its bytes
                        tokens.append(f"{count * 4}x")
                vao = ctx.vertex_array(prog, [(buffer, " ".join(tokens), *names)])
                resources.append(vao)
                samples = renderer.samples
                color = ctx.renderbuffer((width, height), 4, samples=samples)
                depth = ctx.depth_renderbuffer((width, height), samples=samples)
                target = ctx.framebuffer(color_attachments=[color], depth_attachment=depth)
                resolved_color = ctx.renderbuffer((width, height), 4)
                resolved = ctx.framebuffer(color_attachments=[resolved_color])
                resources += [color, depth, target, resolved_color, resolved]
                target.use()
                ctx.enable(ctx.DEPTH_TEST)
                ctx.disable(ctx.CULL_FACE | ctx.BLEND)
                target.clear(clear[0], clear[1], clear[2], clear[3], depth=1.0)
                vao.render()
                ctx.copy_framebuffer(resolved, target)
                raw = resolved.read(components=4, alignment=1)
        finally:
            for resource in reversed(resources):
                resource.release()
    pixels = np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 4)
    return np.array(pixels[::-1], dtype=np.uint8)  # a writable copy; OpenGL rows run bottom-up


def _texture(ctx: moderngl.Context, image: ImageArray) -> moderngl.Texture:
    import moderngl

    height, width = image.shape[:2]
    texture = ctx.texture((width, height), 3, np.ascontiguousarray(image).tobytes(), alignment=1)
    texture.repeat_x = texture.repeat_y = False
    texture.build_mipmaps()
    texture.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
    texture.anisotropy = 8.0
    return texture
