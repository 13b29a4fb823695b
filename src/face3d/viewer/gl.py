"""Offscreen rendering of textured meshes through ModernGL on an EGL context: mesh pictures
under any pixel matrix, wireframe overlays, and whether rendering is possible here.

One OpenGL context per process, created on first use and shared under a lock. moderngl is imported
inside functions, so that importing this module needs only numpy.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from face3d.errors import INVALID_CONFIGURATION, ConfigurationError
from face3d.geometry import FloatArray, ImageArray, vertex_normals
from face3d.viewer.camera import toward_camera, view_matrix
from face3d.viewer.mesh import TexturedMesh
from face3d.viewer.shaders import SURFACE_SHADER, VERTEX_SHADER, WIREFRAME_SHADER

if TYPE_CHECKING:
    import moderngl

RGB = tuple[int, int, int]

# Colour of an untextured mesh (a light clay), before shading.
CLAY: RGB = (214, 200, 186)
# Multisampling: 4 samples is llvmpipe's maximum and smooths edges like a photo.
SAMPLES = 4


class RendererUnavailableError(ConfigurationError):
    """No offscreen OpenGL context could be created (missing EGL/Mesa, or moderngl)."""

    def __init__(self, message: str) -> None:
        super().__init__(INVALID_CONFIGURATION, message)


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
    """Render the mesh turned by yaw and pitch (as in `face3d.geometry.rotation_from_angles`)
    under an orthographic camera framing it (`camera.view_matrix`).

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


# The vertex shader's inputs and their float counts, in the order of `_vertex_data`'s columns.
_ATTRIBUTES = (("in_position", 3), ("in_uv", 2), ("in_normal", 3), ("in_barycentric", 3))


class _Renderer:
    """One offscreen context and its programs, shared by every render in the process."""

    def __init__(self) -> None:
        self.ctx = _create_context()
        self.programs = {
            name: self.ctx.program(vertex_shader=VERTEX_SHADER, fragment_shader=fragment)
            for name, fragment in (("surface", SURFACE_SHADER), ("wireframe", WIREFRAME_SHADER))
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
