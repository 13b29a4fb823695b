"""parse_success: what a 200 body must hold before anything is written."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from face3d.client.responses import Reconstruction, parse_success
from face3d.contract import View
from face3d.errors import BAD_RESPONSE, TransientError
from tests.fakes import (
    MTL_PLAIN,
    MTL_WITH_TEXTURE,
    OBJ_PLAIN,
    OBJ_WITH_MTL,
    SAMPLE_MATRIX,
    b64,
    success_payload,
    texture_jpeg,
)

REQUEST_ID = "1576058873,18105fd0-28fe-4790-a44e-6102009bc195"
ALL_VIEWS = (View.FRONT, View.LEFT, View.RIGHT)


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize((32, 32)).save(out, "PNG")
    return out.getvalue()


# --- valid responses ------------------------------------------------------------------------


def test_full_response_decodes_every_file() -> None:
    result = parse_success(success_payload(), [View.FRONT], texture=True, mtl=True)

    assert result.obj == OBJ_WITH_MTL.encode()
    assert result.mtl == MTL_WITH_TEXTURE.encode()
    assert result.texture == texture_jpeg()
    assert result.request_id == REQUEST_ID
    assert result.time_used == 2114
    assert result.files() == {
        "face.obj": OBJ_WITH_MTL.encode(),
        "face.mtl": MTL_WITH_TEXTURE.encode(),
        "tex.jpg": texture_jpeg(),
    }


def test_without_texture_and_mtl_only_the_obj_is_a_file() -> None:
    payload = success_payload(texture=False, mtl=False)

    result = parse_success(payload, [View.FRONT], texture=False, mtl=False)

    assert result.obj == OBJ_PLAIN.encode()
    assert result.mtl is None
    assert result.texture is None
    assert result.files() == {"face.obj": OBJ_PLAIN.encode()}


def test_mtl_without_texture() -> None:
    result = parse_success(success_payload(texture=False), [View.FRONT], texture=False, mtl=True)

    assert result.mtl == MTL_PLAIN.encode()
    assert set(result.files()) == {"face.obj", "face.mtl"}


def test_texture_without_mtl() -> None:
    result = parse_success(success_payload(mtl=False), [View.FRONT], texture=True, mtl=False)

    assert result.mtl is None
    assert set(result.files()) == {"face.obj", "tex.jpg"}


def test_files_not_asked_for_are_ignored() -> None:
    # What was not asked for is not written, even if the endpoint sends it anyway.
    result = parse_success(success_payload(), [View.FRONT], texture=False, mtl=False)

    assert result.files() == {"face.obj": OBJ_WITH_MTL.encode()}


def test_one_view_has_one_matrix_in_rows_of_four() -> None:
    result = parse_success(success_payload(), [View.FRONT], texture=True, mtl=True)

    assert result.transfer_matrices == {View.FRONT: tuple(float(v) for v in SAMPLE_MATRIX)}
    assert result.matrix_rows(View.FRONT) == [
        [6.7192183, -0.27454704, -0.1731284, -69.249084],
        [0.26191366, 6.7055917, -0.46870133, 114.49048],
        [0.017390553, 0.041857347, 0.60856056, 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
    assert all(isinstance(v, float) for v in result.transfer_matrices[View.FRONT])


def test_three_views_map_matrices_in_api_order_whatever_the_order_given() -> None:
    payload = success_payload(ALL_VIEWS)

    result = parse_success(payload, [View.RIGHT, View.FRONT, View.LEFT], texture=True, mtl=True)

    assert list(result.transfer_matrices) == [View.FRONT, View.LEFT, View.RIGHT]
    for index, view in enumerate(ALL_VIEWS):
        assert result.transfer_matrices[view][0] == SAMPLE_MATRIX[0] + index


def test_front_and_right_map_the_second_matrix_to_right() -> None:
    payload = success_payload((View.FRONT, View.RIGHT))

    result = parse_success(payload, [View.FRONT, View.RIGHT], texture=True, mtl=True)

    assert set(result.transfer_matrices) == {View.FRONT, View.RIGHT}
    assert result.transfer_matrices[View.RIGHT][0] == SAMPLE_MATRIX[0] + 1
    with pytest.raises(KeyError):
        result.matrix_rows(View.LEFT)


def test_extra_fields_crlf_lines_and_map_options_are_accepted() -> None:
    payload = success_payload()
    payload["obj_file"] = b64(OBJ_WITH_MTL.replace("\n", "\r\n"))
    payload["mtl_file"] = b64("newmtl m\nmap_Kd -s 1 1 1 tex.jpg\n")
    payload["something_new"] = {"x": 1}

    result = parse_success(payload, [View.FRONT], texture=True, mtl=True)

    assert result.request_id == REQUEST_ID


def test_repr_holds_no_file_bytes() -> None:
    result = parse_success(success_payload(), [View.FRONT], texture=True, mtl=True)

    text = repr(result)
    assert "mtllib" not in text
    assert "obj=" not in text
    assert "texture=" not in text
    assert REQUEST_ID in text


def test_reconstruction_is_immutable() -> None:
    result = parse_success(success_payload(), [View.FRONT], texture=True, mtl=True)

    with pytest.raises(AttributeError):
        result.request_id = "other"  # type: ignore[misc]
    assert isinstance(result, Reconstruction)


# --- malformed responses: each is BAD_RESPONSE, a transient error ---------------------------

Mutation = Callable[[dict[str, Any]], None]


def setter(name: str, value: object) -> Mutation:
    def mutate(payload: dict[str, Any]) -> None:
        payload[name] = value

    return mutate


def remover(name: str) -> Mutation:
    def mutate(payload: dict[str, Any]) -> None:
        del payload[name]

    return mutate


def matrix_entry(value: object) -> Mutation:
    def mutate(payload: dict[str, Any]) -> None:
        payload["transfer_matrix"][0][5] = value

    return mutate


OBJ_NO_FACE = "mtllib face.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\n"
OBJ_NO_VERTEX = "mtllib face.mtl\nvt 0 0\nvn 0 0 1\nf 1 2 3\n"

MALFORMED: dict[str, tuple[Mutation, str]] = {
    "obj missing": (remover("obj_file"), "obj_file is missing"),
    "obj empty": (setter("obj_file", ""), "obj_file is missing"),
    "obj not a string": (setter("obj_file", 42), "obj_file is missing"),
    "obj not base64": (setter("obj_file", "not base64 at all!"), "obj_file is not valid base64"),
    "obj base64 with a newline": (
        setter("obj_file", b64(OBJ_WITH_MTL)[:8] + "\n" + b64(OBJ_WITH_MTL)[8:]),
        "obj_file is not valid base64",
    ),
    "obj base64 non-ascii": (setter("obj_file", "djEg\u00e9"), "obj_file is not valid base64"),
    "obj not utf-8": (setter("obj_file", b64(b"v 0 0 0\n\xff\xfe\nf 1 1 1\n")), "not UTF-8"),
    "obj without faces": (setter("obj_file", b64(OBJ_NO_FACE)), "no face (f)"),
    "obj with only vt and vn": (setter("obj_file", b64(OBJ_NO_VERTEX)), "no vertex (v)"),
    "obj with v and f only in comments": (
        setter("obj_file", b64("mtllib face.mtl\n# v 0 0 0\n#f 1 2 3\nvt 0 0\n")),
        "no vertex (v)",
    ),
    "obj without mtllib": (setter("obj_file", b64(OBJ_PLAIN)), "does not reference face.mtl"),
    "obj with another mtllib": (
        setter("obj_file", b64(OBJ_WITH_MTL.replace("face.mtl", "other.mtl"))),
        "does not reference face.mtl",
    ),
    "mtl missing": (remover("mtl_file"), "mtl_file is missing"),
    "mtl not base64": (setter("mtl_file", "%%%"), "mtl_file is not valid base64"),
    "mtl without map_Kd": (setter("mtl_file", b64(MTL_PLAIN)), "does not reference tex.jpg"),
    "mtl mapping another file": (
        setter("mtl_file", b64(MTL_WITH_TEXTURE.replace("tex.jpg", "other.jpg"))),
        "does not reference tex.jpg",
    ),
    "texture missing": (remover("texture_img"), "texture_img is missing"),
    "texture not base64": (setter("texture_img", "****"), "texture_img is not valid base64"),
    "texture not an image": (
        setter("texture_img", b64(b"GIF? no, nothing at all")),
        "not a readable image",
    ),
    "texture truncated header": (setter("texture_img", b64(b"\xff\xd8")), "not a readable image"),
    "texture is a PNG": (setter("texture_img", b64(png_bytes())), "is PNG, not JPEG"),
    "transfer_matrix missing": (remover("transfer_matrix"), "not a list of 1 matrices"),
    "transfer_matrix not a list": (setter("transfer_matrix", {"front": []}), "not a list of 1"),
    "no matrices": (setter("transfer_matrix", []), "not a list of 1 matrices"),
    "too many matrices": (setter("transfer_matrix", [SAMPLE_MATRIX] * 2), "not a list of 1"),
    "matrix not a list": (setter("transfer_matrix", [7.0]), "does not have 16 numbers"),
    "matrix of 15": (setter("transfer_matrix", [SAMPLE_MATRIX[:15]]), "does not have 16"),
    "matrix of 17": (setter("transfer_matrix", [[*SAMPLE_MATRIX, 1.0]]), "does not have 16"),
    "matrix of 4 rows": (
        setter("transfer_matrix", [[SAMPLE_MATRIX[i : i + 4] for i in range(0, 16, 4)]]),
        "does not have 16",
    ),
    "matrix with a bool": (matrix_entry(True), "non-finite or non-numeric"),
    "matrix with a string": (matrix_entry("6.7"), "non-finite or non-numeric"),
    "matrix with null": (matrix_entry(None), "non-finite or non-numeric"),
    "matrix with NaN": (matrix_entry(float("nan")), "non-finite or non-numeric"),
    "matrix with infinity": (matrix_entry(float("-inf")), "non-finite or non-numeric"),
    "time_used missing": (remover("time_used"), "time_used is not an integer"),
    "time_used a string": (setter("time_used", "2114"), "time_used is not an integer"),
    "time_used a float": (setter("time_used", 2114.5), "time_used is not an integer"),
    "time_used a bool": (setter("time_used", True), "time_used is not an integer"),
}


@pytest.mark.parametrize(("mutate", "problem"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_response_is_a_transient_bad_response(mutate: Mutation, problem: str) -> None:
    payload = success_payload()
    mutate(payload)

    with pytest.raises(TransientError) as caught:
        parse_success(payload, [View.FRONT], texture=True, mtl=True)

    err = caught.value
    assert err.code == BAD_RESPONSE
    assert err.transient
    assert err.retryable
    assert problem in err.message
    assert err.request_id == REQUEST_ID


def test_wrong_matrix_count_for_three_views() -> None:
    payload = success_payload((View.FRONT, View.LEFT))

    with pytest.raises(TransientError, match="not a list of 3 matrices"):
        parse_success(payload, list(ALL_VIEWS), texture=True, mtl=True)


@pytest.mark.parametrize("request_id", [None, 1576058873, ["id"]])
def test_request_id_must_be_a_string(request_id: object) -> None:
    payload = success_payload()
    payload["request_id"] = request_id

    with pytest.raises(TransientError) as caught:
        parse_success(payload, [View.FRONT], texture=True, mtl=True)

    assert caught.value.code == BAD_RESPONSE
    assert "request_id" in caught.value.message
    assert caught.value.request_id is None


def test_bad_response_chains_the_decoding_error() -> None:
    payload = success_payload()
    payload["obj_file"] = "&&&&"

    with pytest.raises(TransientError) as caught:
        parse_success(payload, [View.FRONT], texture=True, mtl=True)

    assert isinstance(caught.value.__cause__, ValueError)


def test_texture_check_reads_only_the_header() -> None:
    # A JPEG cut just after its start-of-scan header is still recognised: checking the type
    # does not decode the whole texture.
    jpeg = texture_jpeg()
    cut = jpeg[: jpeg.index(b"\xff\xda") + 20]
    payload = success_payload()
    payload["texture_img"] = base64.b64encode(cut).decode()

    result = parse_success(payload, [View.FRONT], texture=True, mtl=True)

    assert result.texture == cut
