import json
from pathlib import Path

import pytest

from face3d.client.result_folder import write_result_folder


def test_writes_every_file_and_the_document(tmp_path: Path) -> None:
    out = tmp_path / "new" / "subject"
    write_result_folder(out, {"face.obj": b"v 0 0 0\n", "tex.jpg": b"\xff\xd8"}, b'{"a": 1}\n')
    assert sorted(p.name for p in out.iterdir()) == ["face.obj", "result.json", "tex.jpg"]
    assert json.loads((out / "result.json").read_text()) == {"a": 1}
    assert [p.name for p in out.parent.iterdir()] == ["subject"], "staging folder left behind"


def test_replaces_an_older_result_and_drops_its_stale_files(tmp_path: Path) -> None:
    files = {"face.obj": b"old", "face.mtl": b"old", "tex.jpg": b"old"}
    write_result_folder(tmp_path / "r", files, b"{}")
    (tmp_path / "r" / "error.json").write_text("{}")
    (tmp_path / "r" / "notes.txt").write_text("the user's own file")
    write_result_folder(tmp_path / "r", {"face.obj": b"new"}, b'{"new": true}')
    names = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert names == ["face.obj", "notes.txt", "result.json"]
    assert (tmp_path / "r" / "face.obj").read_bytes() == b"new"


def test_a_failed_write_leaves_the_folder_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_result_folder(tmp_path / "r", {"face.obj": b"old"}, b"old")

    def disk_full(self: Path, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_result_folder(tmp_path / "r", {"face.obj": b"new"}, b"new")
    monkeypatch.undo()
    assert (tmp_path / "r" / "face.obj").read_bytes() == b"old"
    assert (tmp_path / "r" / "result.json").read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["r"]
