"""Face3D Pipeline: face photos in, 3D face models out, through the Face++ 3dface contract."""

__version__ = "0.1.0"
