"""The result document (`result.json`) and the set fingerprint: pure data, no I/O."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from face3d.client.responses import Reconstruction
from face3d.contract import RESULT_SCHEMA, View


@dataclass(frozen=True)
class InputObject:
    """Where a view came from: an S3 object, or a local file (no ETag or version then)."""

    view: View
    key: str
    etag: str | None = None
    version_id: str | None = None


def set_fingerprint(parts: Iterable[tuple[str, str]]) -> str:
    """A hash over (key, ETag) pairs: the same set of objects gives the same fingerprint."""
    digest = hashlib.sha256()
    for key, etag in sorted(parts):
        digest.update(f"{key}\0{etag}\n".encode())
    return digest.hexdigest()


def file_record(key: str, data: bytes, version_id: str | None = None) -> dict[str, Any]:
    """An output as result.json lists it; `version_id` where it was written to a versioned
    bucket, so that a consumer reads exactly these bytes (GET with that VersionId)."""
    record: dict[str, Any] = {"key": key}
    if version_id is not None:
        record["version_id"] = version_id
    return {**record, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_result(
    *,
    subject: str,
    reconstruction: Reconstruction,
    inputs: Sequence[InputObject],
    prepared: Sequence[Mapping[str, Any]],
    outputs: Mapping[str, tuple[str, str | None]],
    fingerprint: str,
    endpoint: str,
    texture: bool,
    mtl: bool,
    metadata: Mapping[str, Any] | None,
    started_at: datetime,
    finished_at: datetime,
) -> dict[str, Any]:
    """The `face3d.result/v1` document (DESIGN.md section 4).

    `prepared` describes each view sent, in API order (`PreparedImage.describe()`); `outputs`
    maps each file name the reconstruction returned to the key and version id it was written at.
    """
    files = reconstruction.files()
    prepared_by_view = {View(image["view"]): image for image in prepared}
    views = list(prepared_by_view)
    return {
        "schema": RESULT_SCHEMA,
        "subject": subject,
        "status": "succeeded",
        "request_id": reconstruction.request_id,
        "time_used": reconstruction.time_used,
        "views": [view.value for view in views],
        "options": {"texture": texture, "mtl": mtl},
        "transfer_matrix": {view.value: reconstruction.matrix_rows(view) for view in views},
        "outputs": {
            name: file_record(outputs[name][0], data, outputs[name][1])
            for name, data in files.items()
        },
        "inputs": {
            source.view.value: {
                "key": source.key,
                "etag": source.etag,
                "version_id": source.version_id,
                **prepared_by_view[source.view],
            }
            for source in inputs
        },
        "fingerprint": fingerprint,
        "endpoint": endpoint,
        "metadata": dict(metadata or {}),
        "started_at": timestamp(started_at),
        "finished_at": timestamp(finished_at),
    }


def encode_document(document: Mapping[str, Any]) -> bytes:
    # Strict JSON: a NaN or an Infinity that slipped through is a bug to raise, not to publish.
    return (json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()
