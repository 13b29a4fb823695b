"""Textured triangle meshes, read from a result folder (face.obj, the texture its MTL names or
tex.jpg) or from OBJ and texture bytes. trimesh parses the OBJ and MTL files.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh
from trimesh.resolvers import FilePathResolver

from face3d.contract import OBJ_NAME, TEXTURE_NAME
from face3d.errors import INVALID_INPUT, PermanentError
from face3d.geometry import FloatArray, ImageArray, IntArray

# Textures larger than this on a side are downscaled before upload (well under GL limits).
MAX_TEXTURE_SIDE = 8192


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


def load_result_mesh(folder: Path) -> TexturedMesh:
    """The mesh of a result folder: face.obj, textured by the image its MTL's `map_Kd` names
    (normally tex.jpg) or, failing that, by tex.jpg when the OBJ has texture coordinates.

    Only files inside the folder are read, whatever the OBJ and MTL name. A missing or
    unreadable face.obj or texture raises `PermanentError(INVALID_INPUT)` naming the file; a
    missing MTL or texture gives an untextured mesh.
    """
    obj_path = folder / OBJ_NAME
    try:
        obj = obj_path.read_bytes()
    except FileNotFoundError as exc:
        raise PermanentError(INVALID_INPUT, f"no {OBJ_NAME} in {folder}") from exc
    except OSError as exc:
        raise PermanentError(INVALID_INPUT, f"cannot read {obj_path}: {exc.strerror}") from exc
    files = _FolderFiles(folder)
    mesh = _read_obj(obj, name=str(obj_path), files=files)
    if mesh.uvs is None:
        return mesh
    named = files.textures()
    texture_path = named[0] if named else folder / TEXTURE_NAME
    if not texture_path.is_file():
        return mesh
    try:
        texture = texture_path.read_bytes()
    except OSError as exc:
        raise PermanentError(INVALID_INPUT, f"cannot read {texture_path}: {exc.strerror}") from exc
    return mesh.with_texture(decode_texture(texture, name=str(texture_path)))


def mesh_from_bytes(
    obj: bytes, texture: bytes | None = None, *, obj_name: str = OBJ_NAME
) -> TexturedMesh:
    """A mesh from OBJ bytes and, if given, the texture image's bytes (its MTL is not read).

    Raises `PermanentError(INVALID_INPUT)` naming `obj_name` (or the texture) when unreadable.
    """
    mesh = _read_obj(obj, name=obj_name)
    if texture is None or mesh.uvs is None:
        return mesh
    return mesh.with_texture(decode_texture(texture))


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


class _FolderFiles(FilePathResolver):
    """The files an OBJ names, served to trimesh from inside its folder only: the MTL of its
    `mtllib`, then the images of the MTL's `map_Kd` records.

    `FilePathResolver.absolute` refuses a name that leads outside the folder (`..`, absolute
    paths, symbolic links). The files served are remembered because trimesh skips a texture it
    cannot decode without a word, where the preview must name the unreadable file.
    """

    def __init__(self, folder: Path) -> None:
        super().__init__(str(folder))
        self.served: list[Path] = []

    def get(self, name: str) -> bytes:
        # Written out rather than FilePathResolver.get, which would look for map_Kd's whole
        # argument, options included (`-s 1 1 1 tex.jpg`; the file is the last word), and falls
        # back to the bare file name. Windows writers separate folders with backslashes.
        words = name.replace("\\", "/").split()
        if not words:
            raise FileNotFoundError(name)
        path = self.absolute(words[-1])  # ValueError outside the folder: trimesh skips the file
        data = path.read_bytes()
        self.served.append(path)
        return data

    def textures(self) -> list[Path]:
        """The images the MTL named that exist here, in its order (trimesh reads the MTL first)."""
        return self.served[1:]


def _read_obj(data: bytes, *, name: str, files: _FolderFiles | None = None) -> TexturedMesh:
    """The mesh of an OBJ file (no texture image): its faces triangulated, and texture
    coordinates when every face has them. With `files`, trimesh also reads the MTL and the
    images it names through them."""
    try:
        scene = trimesh.load_scene(
            io.BytesIO(data),
            file_type="obj",
            resolver=files,
            skip_materials=files is None,
            # No merging of vertices that share a position (the box's corners must stay apart)
            # and no reordering. maintain_order stays off: with it trimesh keeps one texture
            # coordinate of a vertex that has several (a UV seam); without it, it splits such a
            # vertex, and keeps the file's order where each vertex has one (the engine's files).
            process=False,
        )
    except Exception as exc:  # trimesh raises whatever numpy raises on a malformed record
        problem = (
            "a face refers to a vertex that does not exist"
            if isinstance(exc, IndexError)
            else f"a record is malformed ({exc})"
        )
        raise _unreadable(name, problem) from exc
    parts = list(scene.geometry.values())
    meshes = [part for part in parts if isinstance(part, trimesh.Trimesh) and len(part.faces)]
    if not meshes:
        has_vertices = any(len(part.vertices) for part in parts)
        raise _unreadable(name, "no faces" if has_vertices else "no vertices")
    try:
        return _joined(meshes)
    except ValueError as exc:
        raise _unreadable(name, str(exc)) from exc


def _joined(meshes: list[trimesh.Trimesh]) -> TexturedMesh:
    """One mesh of trimesh's parts (one per material), with texture coordinates if all have them.

    trimesh gives each vertex one texture coordinate, so the faces index both. Joined here, not
    with `trimesh.util.concatenate`: that packs the materials into one atlas and moves the
    texture coordinates onto it, away from the texture this mesh is drawn with.
    """
    offsets = np.cumsum([0, *(len(mesh.vertices) for mesh in meshes[:-1])])
    vertices = np.concatenate([mesh.vertices for mesh in meshes]).astype(np.float64)
    faces = np.concatenate(
        [mesh.faces + offset for mesh, offset in zip(meshes, offsets, strict=True)]
    ).astype(np.int64)
    uvs: list[FloatArray] = []
    for mesh in meshes:
        uv = getattr(mesh.visual, "uv", None)
        if uv is None or len(uv) != len(mesh.vertices):
            return TexturedMesh(vertices, faces)
        uvs.append(np.asarray(uv, dtype=np.float64))
    return TexturedMesh(vertices, faces, np.concatenate(uvs), faces.copy())


def _unreadable(name: str, problem: str) -> PermanentError:
    return PermanentError(INVALID_INPUT, f"{name} is not a readable OBJ file: {problem}")
