"""Pictures of face meshes without a display: offscreen OpenGL renders and `face3d preview`.

Used by `face3d preview`, `face3d demo` and by tests that turn a reconstructed face into
synthetic photos. `mesh` reads meshes (result folders, OBJ and texture bytes), `camera` holds the
pixel matrices, `gl` renders through ModernGL, `preview` composes the preview picture.

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
* Views: `yaw_deg` and `pitch_deg` are the head pose angles of
  `face3d.geometry.rotation_from_angles` (the engine's): yaw > 0 shows the subject's right cheek
  (they turned to their own left, the nose moves to the picture's right); pitch > 0 turns the
  nose down. Matrices that `gl.render_mesh` returns have row 3 growing away from the camera,
  zero at the model's origin, as the engine's.
* Images are RGB `uint8` arrays of shape (height, width, 3) (Pillow's order; reverse the last
  axis for OpenCV). Sizes are given as (width, height).

The renderer is ModernGL on an EGL context: on Linux without a display Mesa's llvmpipe renders in
software (libEGL, libegl-mesa0 and libgl1-mesa-dri). The modules import numpy (and `mesh`
trimesh) at module level and moderngl and Pillow inside functions: import them lazily from code
that must work without the engine extra. This package's own import loads nothing.
"""
