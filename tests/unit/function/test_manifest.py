"""`manifest.json` (DESIGN.md section 2): options for a folder set, or INVALID_MANIFEST."""

from __future__ import annotations

import json
from typing import Any

import pytest

from face3d.contract import View
from face3d.errors import INVALID_MANIFEST, MISSING_VIEW, Kind, PermanentError
from face3d.function.manifest import MAX_MANIFEST_BYTES, Manifest, parse_manifest


def _parse(document: Any) -> Manifest:
    return parse_manifest(json.dumps(document).encode())


def _refused(data: bytes) -> PermanentError:
    with pytest.raises(PermanentError) as caught:
        parse_manifest(data)
    err = caught.value
    assert err.code == INVALID_MANIFEST
    assert err.kind is Kind.PERMANENT
    assert not err.retryable
    assert "manifest.json" in err.message
    return err


def _refused_document(document: Any) -> PermanentError:
    return _refused(json.dumps(document).encode())


# --- valid manifests ------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"{}", b" { } \n", b"{}\r\n", b"\n\t{}\n"])
def test_an_empty_object_is_valid_and_turns_texture_and_mtl_on(data: bytes) -> None:
    manifest = parse_manifest(data)
    assert manifest.views is None  # views found by name
    assert manifest.texture is True  # our default, not the API's 0
    assert manifest.mtl is True
    assert manifest.metadata == {}


def test_views_map_each_view_to_a_file_in_the_folder() -> None:
    manifest = _parse({"views": {"front": "a.JPG", "left": "side 1.png", "right": "r.webp"}})
    assert manifest.views == {View.FRONT: "a.JPG", View.LEFT: "side 1.png", View.RIGHT: "r.webp"}


def test_views_may_name_front_alone_or_front_and_right() -> None:
    assert _parse({"views": {"front": "f.jpeg"}}).views == {View.FRONT: "f.jpeg"}
    views = _parse({"views": {"right": "r.jpg", "front": "f.jpg"}}).views
    assert views == {View.FRONT: "f.jpg", View.RIGHT: "r.jpg"}


def test_texture_and_mtl_can_be_turned_off() -> None:
    manifest = _parse({"texture": False, "mtl": False})
    assert (manifest.texture, manifest.mtl) == (False, False)
    only_obj_and_mtl = _parse({"texture": False})
    assert (only_obj_and_mtl.texture, only_obj_and_mtl.mtl) == (False, True)


def test_metadata_is_kept_as_given() -> None:
    metadata = {"operator": "Zoë", "session": 7, "tags": ["a", "b"], "nested": {"ok": None}}
    assert _parse({"metadata": metadata}).metadata == metadata


def test_every_field_together() -> None:
    manifest = _parse(
        {
            "views": {"front": "front.jpg", "left": "left.jpg"},
            "texture": True,
            "mtl": False,
            "metadata": {"k": "v"},
        }
    )
    assert manifest.views == {View.FRONT: "front.jpg", View.LEFT: "left.jpg"}
    assert (manifest.texture, manifest.mtl, manifest.metadata) == (True, False, {"k": "v"})


def test_metadata_just_under_4_kb_is_accepted() -> None:
    metadata = {"note": "x" * 3500}
    assert _parse({"metadata": metadata}).metadata == metadata


def test_a_manifest_of_exactly_64_kb_is_accepted() -> None:
    data = b"{}".ljust(MAX_MANIFEST_BYTES, b" ")
    assert len(data) == 64 * 1024
    assert parse_manifest(data).texture is True


# --- refusals: INVALID_MANIFEST naming the problem ------------------------------------------


@pytest.mark.parametrize("data", [b"", b"   ", b"{", b"front.jpg", b"{'texture': true}", b"{}{}"])
def test_not_json_is_refused(data: bytes) -> None:
    _refused(data)


def test_not_utf8_is_refused() -> None:
    err = _refused(b'{"metadata": {"name": "Jos\xe9"}}')  # Latin-1
    assert "UTF-8" in err.message


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ([], "object"),
        ([{"texture": True}], "object"),
        ("{}", "object"),
        (None, "object"),
        (1, "object"),
    ],
)
def test_a_json_value_other_than_an_object_is_refused(document: Any, words: str) -> None:
    assert words in _refused_document(document).message


@pytest.mark.parametrize("key", ["view", "textures", "Texture", "meta", "front"])
def test_an_unknown_top_level_key_is_refused_and_named(key: str) -> None:
    assert key in _refused_document({key: True}).message


@pytest.mark.parametrize("view", ["back", "top", "Front", "image_1", "1"])
def test_an_unknown_view_name_is_refused_and_named(view: str) -> None:
    err = _refused_document({"views": {"front": "front.jpg", view: "x.jpg"}})
    assert view in err.message


@pytest.mark.parametrize(
    "name",
    [
        "sub/front.jpg",
        "../other/front.jpg",
        "/etc/front.jpg",
        "front.jpg/",
        "..",
        ".",
        "",
        "sub\\front.jpg",
        "..\\front.jpg",
    ],
)
def test_a_view_file_outside_the_subjects_folder_is_refused(name: str) -> None:
    err = _refused_document({"views": {"front": name}})
    assert "front" in err.message
    assert "folder" in err.message


def test_a_view_naming_the_manifest_itself_is_refused() -> None:
    err = _refused_document({"views": {"front": "f.jpg", "left": "manifest.json"}})
    assert "manifest itself" in err.message
    assert "left" in err.message


@pytest.mark.parametrize("name", ["front.txt", "front", "front.json", "front.jpg.bak"])
def test_a_view_file_that_is_not_a_photo_is_refused(name: str) -> None:
    err = _refused_document({"views": {"front": name}})
    assert "must name a photo (jpg, jpeg, png, webp, heic, heif or avif)" in err.message
    assert name in err.message


@pytest.mark.parametrize("name", ["Front.HEIC", "front.avif", "front.gif", "front.TIF"])
def test_a_view_file_may_be_any_photo_the_set_fails_later_if_it_cannot_be_read(
    name: str,
) -> None:
    assert parse_manifest(json.dumps({"views": {"front": name}}).encode()).views == {
        View.FRONT: name
    }


def test_metadata_over_4_kb_is_refused_with_its_size() -> None:
    err = _refused_document({"metadata": {"note": "x" * 5000}})
    assert "metadata" in err.message
    assert "4096" in err.message


def test_metadata_size_counts_utf8_bytes_not_characters() -> None:
    # 1500 characters of 3 bytes each: 4500 bytes.
    err = _refused_document({"metadata": {"note": "李" * 1500}})
    assert "metadata" in err.message


def test_a_manifest_over_64_kb_is_refused_with_its_size() -> None:
    data = b"{}".ljust(MAX_MANIFEST_BYTES + 1, b" ")
    err = _refused(data)
    assert str(MAX_MANIFEST_BYTES + 1) in err.message
    assert str(MAX_MANIFEST_BYTES) in err.message


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"texture": "maybe"}, "texture"),
        ({"texture": None}, "texture"),
        ({"texture": [True]}, "texture"),
        ({"mtl": {"on": True}}, "mtl"),
        ({"mtl": 2}, "mtl"),
        ({"views": ["front.jpg"]}, "views"),
        ({"views": "front.jpg"}, "views"),
        ({"views": {"front": 1}}, "views"),
        ({"views": {"front": None}}, "views"),
        ({"views": {"front": ["front.jpg"]}}, "views"),
        ({"metadata": ["a", "b"]}, "metadata"),
        ({"metadata": "notes"}, "metadata"),
        ({"metadata": None}, "metadata"),
    ],
)
def test_wrong_types_are_refused_and_the_field_named(document: Any, field: str) -> None:
    assert field in _refused_document(document).message


def test_every_problem_is_named_in_one_error() -> None:
    err = _refused_document({"texture": "maybe", "colour": "red", "views": {"back": "b.jpg"}})
    for word in ("texture", "colour", "back"):
        assert word in err.message


@pytest.mark.parametrize(
    "data",
    [
        b"[" * 5000,
        b'{"metadata": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001,
    ],
)
def test_deeply_nested_json_is_refused(data: bytes) -> None:
    assert len(data) < MAX_MANIFEST_BYTES
    _refused(data)


# --- a views mapping without front -----------------------------------------------------------


@pytest.mark.parametrize(
    "views",
    [{}, {"left": "left.jpg"}, {"left": "left.jpg", "right": "right.jpg"}],
)
def test_views_without_front_is_missing_view_front(views: dict[str, str]) -> None:
    with pytest.raises(PermanentError) as caught:
        _parse({"views": views})
    err = caught.value
    assert err.code == MISSING_VIEW
    assert err.view is View.FRONT
    assert not err.retryable
    assert err.to_dict()["view"] == "front"
    assert "front" in err.message


def test_a_bad_view_file_is_invalid_even_when_front_is_missing() -> None:
    with pytest.raises(PermanentError) as caught:
        _parse({"views": {"left": "../left.jpg"}})
    assert caught.value.code == INVALID_MANIFEST


def test_parsed_manifests_are_immutable() -> None:
    manifest = parse_manifest(b"{}")
    with pytest.raises(ValueError, match="frozen"):
        manifest.texture = False  # type: ignore[misc]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_numbers_are_refused(constant: str) -> None:
    with pytest.raises(PermanentError) as caught:
        parse_manifest(f'{{"metadata": {{"x": {constant}}}}}'.encode())
    assert caught.value.code == INVALID_MANIFEST
    assert constant in caught.value.message


def test_two_views_may_not_name_one_file() -> None:
    with pytest.raises(PermanentError) as caught:
        parse_manifest(b'{"views": {"front": "a.jpg", "left": "a.jpg"}}')
    assert caught.value.code == INVALID_MANIFEST
    assert "different file" in caught.value.message


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1E+999", "123456789e999"])
def test_a_number_that_overflows_to_infinity_is_refused(number: str) -> None:
    # Defect 9: json reads 1e400 as inf without calling parse_constant; result.json would then
    # hold Infinity, which strict parsers refuse.
    err = _refused(f'{{"metadata": {{"x": {number}}}}}'.encode())
    assert "out of range" in err.message


@pytest.mark.parametrize("depth", [100, 990, 2000])
def test_metadata_nested_deeply_but_within_the_parser_is_refused_without_a_crash(
    depth: int,
) -> None:
    # Defect 9: ~990 levels pass json.loads but overflow the stack later (json.dumps of the
    # metadata, on Python 3.11): refused as INVALID_MANIFEST, not a RecursionError.
    data = b'{"metadata": {"a": ' + b"[" * depth + b"]" * depth + b"}}"
    err = _refused(data)
    assert "nested" in err.message


def test_metadata_nested_a_little_is_accepted() -> None:
    document = {"metadata": {"a": {"b": {"c": [[1, 2], {"d": None}]}}}}
    assert _parse(document).metadata == document["metadata"]
