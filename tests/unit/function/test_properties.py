"""Property tests: keys and manifests from users are untrusted input (issue 8).

Whatever key an S3 event names, decoding and classifying it ignores it or yields a usable
subject, and never raises; whatever bytes a manifest holds, parsing it gives a manifest or the
documented INVALID_MANIFEST / MISSING_VIEW, never another exception.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from hypothesis import given, settings
from hypothesis import strategies as st

from face3d.errors import INVALID_MANIFEST, MISSING_VIEW, PermanentError
from face3d.function.layout import Role, classify, subject_problem
from face3d.function.manifest import Manifest, parse_manifest

PREFIX = "incoming/"
NAMES = st.sampled_from(
    ["front.jpg", "Left.PNG", "right.webp", "manifest.json", "x.gif", "", ".", "..", "a/b.jpg"]
)
SEGMENTS = st.text(min_size=0, max_size=40) | NAMES


def check(key: str) -> None:
    info = classify(key, PREFIX)
    if info.role is Role.IGNORED:
        assert info.reason
        assert info.subject is None
        return
    assert key.startswith(PREFIX)
    assert info.subject is not None
    assert subject_problem(info.subject) is None
    assert "/" not in info.subject


@settings(max_examples=300, deadline=None)
@given(raw=st.text(max_size=300))
def test_any_event_key_decodes_and_classifies_without_raising(raw: str) -> None:
    check(unquote_plus(raw))


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(SEGMENTS, min_size=1, max_size=4), quoted=st.booleans())
def test_any_key_under_the_prefix_classifies_as_s3_would_deliver_it(
    parts: list[str], quoted: bool
) -> None:
    key = PREFIX + "/".join(parts)
    encoded = quote_plus(key, safe="/") if quoted else key
    check(unquote_plus(encoded))


def parses_or_refuses(data: bytes) -> None:
    try:
        manifest: Manifest | PermanentError = parse_manifest(data)
    except PermanentError as err:
        manifest = err
    if isinstance(manifest, PermanentError):
        assert manifest.code in (INVALID_MANIFEST, MISSING_VIEW)
        assert not manifest.retryable
        return
    # What a valid manifest carries is strict JSON again (it goes into result.json).
    json.dumps(manifest.metadata, allow_nan=False)


JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)
MANIFESTS = st.fixed_dictionaries(
    {},
    optional={
        "views": st.dictionaries(
            st.sampled_from(["front", "left", "right", "back"]), st.text(max_size=20) | NAMES
        )
        | JSON_VALUES,
        "texture": st.booleans() | JSON_VALUES,
        "mtl": st.booleans() | JSON_VALUES,
        "metadata": st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=6) | JSON_VALUES,
        "extra": JSON_VALUES,
    },
)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=500))
def test_any_bytes(data: bytes) -> None:
    parses_or_refuses(data)


@settings(max_examples=300, deadline=None)
@given(document=MANIFESTS)
def test_any_manifest_shaped_document(document: dict[str, Any]) -> None:
    parses_or_refuses(json.dumps(document).encode())


@settings(max_examples=100, deadline=None)
@given(
    depth=st.integers(min_value=1, max_value=5000),
    number=st.sampled_from(["1", "1e400", "-1e999", "NaN", "Infinity", "1" * 5000, "0.5"]),
)
def test_deep_nesting_and_numbers_out_of_range(depth: int, number: str) -> None:
    data = '{"metadata": {"a": ' + "[" * depth + number + "]" * depth + "}}"
    parses_or_refuses(data.encode())
