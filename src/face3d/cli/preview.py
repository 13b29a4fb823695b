"""`face3d preview`: a result folder rendered to a PNG."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from face3d.contract import View
from face3d.errors import INVALID_CONFIGURATION, INVALID_INPUT, ConfigurationError, PermanentError
from face3d.settings import Settings

PREVIEW_DESCRIPTION = """\
Render a result folder (face.obj; face.mtl, tex.jpg and result.json when present) to a PNG: the
model from the right, the front and the left (yaw +60, 0, -60 degrees), beside each input photo
with the model's visible edges drawn over it through result.json's transfer matrix. A photo is
found through result.json's inputs.<view>.key when that is a readable local file, or given with
--photo VIEW=PATH (a bare PATH takes the first of front, left, right not yet given).

Needs the engine extra (numpy, moderngl) and offscreen OpenGL through EGL (Mesa's llvmpipe:
Debian packages libegl1 and libgl1-mesa-dri); no display or GPU.
"""

PREVIEW_EPILOG = """\
exit status: 0 success, 1 the folder or a photo cannot be read (INVALID_INPUT), 2 usage,
3 configuration (no offscreen OpenGL, or the engine extra is not installed).
"""


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pre = commands.add_parser(
        "preview",
        help="render a result folder to a PNG",
        description=PREVIEW_DESCRIPTION,
        epilog=PREVIEW_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pre.add_argument("folder", type=Path, metavar="DIR", help="result folder (face.obj, ...)")
    pre.add_argument(
        "-o", "--output", type=Path, metavar="PNG", help="picture to write (DIR/preview.png)"
    )
    pre.add_argument(
        "--photo",
        action=_PhotoAction,
        default={},
        metavar="[VIEW=]PATH",
        help="input photo for a view (front, left, right); repeatable",
    )
    pre.set_defaults(run=run)


class _PhotoAction(argparse.Action):
    """--photo VIEW=PATH or --photo PATH (the first view not yet given), into a dict."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[object] | None,
        option_string: str | None = None,
    ) -> None:
        photos: dict[str, Path] = dict(getattr(namespace, self.dest) or {})
        value = str(values)
        name, sep, path = value.partition("=")
        if sep and name in {view.value for view in View}:
            view = name
        else:
            free = [view.value for view in View if view.value not in photos]
            if not free:
                parser.error(f"--photo {value}: every view already has a photo")
            view, path = free[0], value
        if view in photos:
            parser.error(f"--photo {value}: {view} already has a photo")
        if not path:
            parser.error(f"--photo {value}: no path")
        photos[view] = Path(path)
        setattr(namespace, self.dest, photos)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        from face3d.viewer.preview import PREVIEW_NAME, preview_folder
    except ImportError as exc:
        raise ConfigurationError(
            INVALID_CONFIGURATION,
            f"face3d preview needs the engine extra (pip install 'face3d-pipeline[engine]'): {exc}",
        ) from exc
    if not args.folder.is_dir():
        raise PermanentError(INVALID_INPUT, f"{args.folder} is not a folder")
    output = args.output or args.folder / PREVIEW_NAME
    preview = preview_folder(args.folder, args.photo)
    try:
        output.write_bytes(preview.png)
    except OSError as exc:
        raise PermanentError(INVALID_INPUT, f"cannot write {output}: {exc.strerror}") from exc
    print(preview.summary(output))
    return 0
