"""Paid once (DESIGN.md section 5): the API's answer, stored and read back whole."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from face3d.client.responses import parse_success
from face3d.client.results import InputObject
from face3d.contract import View
from face3d.function.answers import Answer, DamagedAnswer, decode_answer, encode_answer
from tests.fakes import success_payload

VIEWS = [View.FRONT, View.RIGHT]


def answer(*, texture: bool = True, mtl: bool = True) -> Answer:
    payload = success_payload(VIEWS, texture=texture, mtl=mtl)
    reconstruction = parse_success(payload, VIEWS, texture=texture, mtl=mtl)
    prepared = [
        {"view": view.value, "bytes": 1000 + i, "transformations": ["rotated"]}
        for i, view in enumerate(VIEWS)
    ]
    inputs = [
        InputObject(View.FRONT, "incoming/ada/front.jpg", "e1", "v1"),
        InputObject(View.RIGHT, "incoming/ada/right.png", "e2", None),
    ]
    return Answer(reconstruction, prepared, inputs, images_transformed=1)


@pytest.mark.parametrize(("texture", "mtl"), [(True, True), (False, True), (False, False)])
def test_an_answer_reads_back_exactly(texture: bool, mtl: bool) -> None:
    original = answer(texture=texture, mtl=mtl)

    again = decode_answer(encode_answer(original))

    assert again == original
    assert again.reconstruction.files() == original.reconstruction.files()


def test_the_stored_answer_holds_raw_files_not_base64() -> None:
    original = answer()
    with zipfile.ZipFile(io.BytesIO(encode_answer(original))) as archive:
        assert archive.read("tex.jpg") == original.reconstruction.texture
        assert sorted(archive.namelist()) == ["answer.json", "face.mtl", "face.obj", "tex.jpg"]


def rewritten(change: dict[str, object]) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(encode_answer(answer())))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in source.namelist():
            data = source.read(name)
            if name == "answer.json":
                document = json.loads(data)
                document.update(change)
                data = json.dumps(document).encode()
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"PK\x03\x04 not really a zip", id="not-a-zip"),
        pytest.param(encode_answer(answer())[:200], id="cut"),
        pytest.param(rewritten({"schema": "other/v1"}), id="other-schema"),
        pytest.param(rewritten({"transfer_matrix": {"front": [1, 2]}}), id="short-matrix"),
        pytest.param(rewritten({"transfer_matrix": {"back": [0] * 16}}), id="unknown-view"),
        pytest.param(rewritten({"time_used": "soon"}), id="bad-time"),
        pytest.param(rewritten({"inputs": [{"view": "front"}]}), id="input-without-key"),
    ],
)
def test_a_damaged_answer_is_refused(data: bytes) -> None:
    with pytest.raises(DamagedAnswer):
        decode_answer(data)
