"""Writing a result into a local folder: all files or none, `result.json` last."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from face3d.contract import ERROR_DOCUMENT, OUTPUT_FILES, RESULT_DOCUMENT


def write_result_folder(folder: Path, files: Mapping[str, bytes], document: bytes) -> None:
    """Replace the result in `folder` with `files` and then `document` as `result.json`.

    Everything is staged beside the folder first, so a failure (disk full, permissions) leaves
    the folder as it was; the old `result.json` goes first and the new one comes last, so a
    reader that sees `result.json` can read every file it lists.
    """
    folder = folder.resolve()
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        (staging / RESULT_DOCUMENT).write_bytes(document)
        folder.mkdir(exist_ok=True)
        stale = [RESULT_DOCUMENT, ERROR_DOCUMENT, *(n for n in OUTPUT_FILES if n not in files)]
        for name in stale:
            (folder / name).unlink(missing_ok=True)
        for name in [*files, RESULT_DOCUMENT]:
            os.replace(staging / name, folder / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
