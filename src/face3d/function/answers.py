"""Paid once (DESIGN.md section 5): the API's answer, stored beside the claim as it arrives.

A call costs money. The moment the API answers a set with a success, the answer is stored in one
PutObject under the claims folder (`<fingerprint>.answer`, tagged like the claims, so that the
same lifecycle rule expires it, and nothing else deletes it); every retry, redrive and takeover
of the same fingerprint, and the same set uploaded again after another replaced it, writes the
result from it instead of calling again. The answer is a zip of the decoded files and one
JSON member with what `result.json` needs besides (matrices, request id, the inputs sent and what
preparation did to them): raw bytes, no base64, and one object per set.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from face3d.client.responses import Reconstruction
from face3d.client.results import InputObject
from face3d.contract import MTL_NAME, OBJ_NAME, TEXTURE_NAME, TRANSFER_MATRIX_SIZE, View
from face3d.function.layout import CLAIM_TAG, CLAIMS_FOLDER
from face3d.function.storage import ObjectMissing, Storage

logger = logging.getLogger(__name__)

ANSWER_SCHEMA = "face3d.answer/v1"
_DOCUMENT = "answer.json"
_FILES = (OBJ_NAME, MTL_NAME, TEXTURE_NAME)
# An answer holds a mesh and a texture of a few MB; anything far larger is not one of ours.
_MAX_ANSWER_BYTES = 256 * 1024 * 1024


class DamagedAnswer(Exception):
    """A stored answer that cannot be read back: the set is called again rather than trusted."""


@dataclass(frozen=True)
class Answer:
    """What one paid call returned, and what was sent to get it."""

    reconstruction: Reconstruction
    # PreparedImage.describe() of each view sent, in API order.
    prepared: Sequence[Mapping[str, Any]]
    # The stored objects that were sent, with their ETags and version ids.
    inputs: Sequence[InputObject]
    images_transformed: int = 0


def encode_answer(answer: Answer) -> bytes:
    reconstruction = answer.reconstruction
    document = {
        "schema": ANSWER_SCHEMA,
        "request_id": reconstruction.request_id,
        "time_used": reconstruction.time_used,
        "transfer_matrix": {
            view.value: list(matrix) for view, matrix in reconstruction.transfer_matrices.items()
        },
        "prepared": [dict(description) for description in answer.prepared],
        "inputs": [
            {"view": i.view.value, "key": i.key, "etag": i.etag, "version_id": i.version_id}
            for i in answer.inputs
        ],
        "images_transformed": answer.images_transformed,
    }
    out = io.BytesIO()
    # Level 1: the OBJ text shrinks to a third at a fraction of the time of the default level.
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr(_DOCUMENT, json.dumps(document, allow_nan=False))
        for name, data in reconstruction.files().items():
            archive.writestr(name, data)
    return out.getvalue()


def decode_answer(data: bytes) -> Answer:
    """The answer in `data`; `DamagedAnswer` if it is not one this module wrote."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            document = json.loads(archive.read(_DOCUMENT))
            names = set(archive.namelist())
            files = {name: archive.read(name) for name in _FILES if name in names}
        if document.get("schema") != ANSWER_SCHEMA or OBJ_NAME not in files:
            raise DamagedAnswer("not a face3d answer")
        matrices = {
            View(view): tuple(float(value) for value in matrix)
            for view, matrix in document["transfer_matrix"].items()
        }
        if any(len(matrix) != TRANSFER_MATRIX_SIZE for matrix in matrices.values()):
            raise DamagedAnswer("a transfer matrix does not have 16 numbers")
        reconstruction = Reconstruction(
            obj=files[OBJ_NAME],
            mtl=files.get(MTL_NAME),
            texture=files.get(TEXTURE_NAME),
            transfer_matrices=matrices,
            request_id=str(document["request_id"]),
            time_used=int(document["time_used"]),
        )
        inputs = [
            InputObject(View(i["view"]), str(i["key"]), i["etag"], i["version_id"])
            for i in document["inputs"]
        ]
        prepared = [dict(description) for description in document["prepared"]]
        return Answer(reconstruction, prepared, inputs, int(document["images_transformed"]))
    except DamagedAnswer:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise DamagedAnswer(f"{type(exc).__name__}: {exc}") from exc


def answer_key(result_prefix: str, fingerprint: str) -> str:
    """Beside the set's claim, out of the subjects' way."""
    return f"{result_prefix}{CLAIMS_FOLDER}/{fingerprint}.answer"


class AnswerStore:
    def __init__(self, storage: Storage, result_prefix: str) -> None:
        self._storage = storage
        self._result_prefix = result_prefix

    def save(self, bucket: str, fingerprint: str, answer: Answer) -> None:
        """Store `answer` in one PutObject; raises `Face3DError` when S3 refuses it."""
        self._storage.write(
            bucket,
            answer_key(self._result_prefix, fingerprint),
            encode_answer(answer),
            content_type="application/zip",
            tags=CLAIM_TAG,
        )

    def load(self, bucket: str, fingerprint: str) -> Answer | None:
        """The set's stored answer, or None if there is none (or none that can be trusted)."""
        key = answer_key(self._result_prefix, fingerprint)
        try:
            data, _ = self._storage.read(bucket, key, max_bytes=_MAX_ANSWER_BYTES)
        except ObjectMissing:
            return None
        try:
            return decode_answer(data)
        except DamagedAnswer as exc:
            # Paying again is the only way forward from an answer that cannot be read.
            logger.warning("stored answer %s is damaged, calling again: %s", key, exc)
            return None
