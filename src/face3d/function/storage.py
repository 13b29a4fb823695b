"""The S3 adapter: reads inputs, writes results and claims; conditional writes, by version."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from botocore.exceptions import BotoCoreError, ClientError

from face3d.errors import (
    IMAGE_FILE_TOO_LARGE,
    S3_ERROR,
    ConfigurationError,
    Face3DError,
    PermanentError,
    TransientError,
)
from face3d.function import aws
from face3d.function.objects import StoredObject

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Real S3 answers 409 ConditionalRequestConflict to racing conditional writes, 412 to a lost race.
_CONDITION_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_DENIED_CODES = frozenset({"AccessDenied", "403", "AllAccessDisabled", "KMS.AccessDeniedException"})


class ConditionFailed(Exception):
    """A conditional write lost: the object exists already, or changed since it was read."""


class ObjectMissing(Exception):
    """The object is not there (any more)."""


@dataclass(frozen=True)
class ObjectVersion:
    """One entry of a versioned listing: a version of an object, or a delete marker."""

    key: str
    version_id: str
    latest: bool
    delete_marker: bool = False


class Storage:
    def __init__(self, s3: S3Client) -> None:
        self._s3 = s3

    @classmethod
    def connect(cls, region: str | None = None) -> Storage:
        return cls(aws.client("s3", region))

    @property
    def region(self) -> str:
        return str(self._s3.meta.region_name)

    def head(self, bucket: str, key: str, *, version_id: str | None = None) -> StoredObject | None:
        """The object (its latest version, or `version_id`), or None if there is none."""
        extra: dict[str, Any] = {"VersionId": version_id} if version_id else {}
        try:
            answer = self._s3.head_object(Bucket=bucket, Key=key, **extra)
        except ClientError as exc:
            if aws.error_code(exc) in _MISSING_CODES:
                return None
            raise _storage_error("head", key, exc) from exc
        except BotoCoreError as exc:
            raise _storage_error("head", key, exc) from exc
        return _stored(key, answer)

    def list_folder(self, bucket: str, prefix: str) -> list[StoredObject]:
        """The objects directly inside `prefix` (not in its sub-folders)."""
        found: list[StoredObject] = []
        try:
            pages = self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix, Delimiter="/"
            )
            for page in pages:
                for item in page.get("Contents", []):
                    found.append(
                        StoredObject(
                            item["Key"],
                            _etag(item["ETag"]),
                            item["Size"],
                            last_modified=item.get("LastModified"),
                        )
                    )
        except (ClientError, BotoCoreError) as exc:
            raise _storage_error("list", prefix, exc) from exc
        return found

    def list_tree(self, bucket: str, prefix: str) -> Iterator[list[StoredObject]]:
        """Every object under `prefix`, sub-folders included, one page (up to 1000) at a time."""
        try:
            pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for page in pages:
                yield [
                    StoredObject(
                        item["Key"],
                        _etag(item["ETag"]),
                        item["Size"],
                        last_modified=item["LastModified"],
                    )
                    for item in page.get("Contents", [])
                ]
        except (ClientError, BotoCoreError) as exc:
            raise _storage_error("list", prefix, exc) from exc

    def list_versions(self, bucket: str, prefix: str) -> list[ObjectVersion]:
        """Every version and delete marker under `prefix`; each key's versions newest first."""
        found: list[ObjectVersion] = []
        try:
            pages = self._s3.get_paginator("list_object_versions").paginate(
                Bucket=bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Versions", []):
                    found.append(ObjectVersion(item["Key"], item["VersionId"], item["IsLatest"]))
                for marker in page.get("DeleteMarkers", []):
                    found.append(
                        ObjectVersion(marker["Key"], marker["VersionId"], marker["IsLatest"], True)
                    )
        except (ClientError, BotoCoreError) as exc:
            raise _storage_error("list versions", prefix, exc) from exc
        return found

    def read(
        self,
        bucket: str,
        key: str,
        *,
        max_bytes: int,
        etag: str | None = None,
        version_id: str | None = None,
    ) -> tuple[bytes, StoredObject]:
        """The object's bytes; `etag` pins the version that was fingerprinted.

        Raises `ObjectMissing`, `ConditionFailed` if it changed since, and `IMAGE_FILE_TOO_LARGE`
        without downloading if it is over `max_bytes`.
        """
        extra: dict[str, Any] = {"IfMatch": f'"{etag}"'} if etag else {}
        if version_id:
            extra["VersionId"] = version_id
        try:
            answer = self._s3.get_object(Bucket=bucket, Key=key, **extra)
            stored = _stored(key, answer)
            body = answer["Body"]
            try:
                if stored.size > max_bytes:
                    raise PermanentError(
                        IMAGE_FILE_TOO_LARGE,
                        f"{key} is {stored.size} bytes, more than the {max_bytes} allowed",
                    )
                data = body.read(max_bytes + 1)
            finally:
                body.close()
        except ClientError as exc:
            code = aws.error_code(exc)
            if code in _MISSING_CODES or code == "NoSuchVersion":
                raise ObjectMissing(key) from exc
            if code in _CONDITION_CODES:
                raise ConditionFailed(key) from exc
            raise _storage_error("read", key, exc) from exc
        except BotoCoreError as exc:
            raise _storage_error("read", key, exc) from exc
        return data, stored

    def write(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str,
        metadata: dict[str, str] | None = None,
        if_none_match: bool = False,
        if_match: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> StoredObject:
        """Write `data`; returns what was written, with its ETag and version id.

        Conditional writes raise `ConditionFailed`.
        """
        extra: dict[str, Any] = {}
        if tags:
            extra["Tagging"] = urlencode(tags)
        if if_none_match:
            extra["IfNoneMatch"] = "*"
        if if_match is not None:
            extra["IfMatch"] = f'"{if_match}"'
        try:
            answer = self._s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                Metadata=metadata or {},
                **extra,
            )
        except ClientError as exc:
            if (if_none_match or if_match) and aws.error_code(exc) in _CONDITION_CODES:
                raise ConditionFailed(key) from exc
            raise _storage_error("write", key, exc) from exc
        except BotoCoreError as exc:
            raise _storage_error("write", key, exc) from exc
        return StoredObject(
            key, _etag(answer["ETag"]), len(data), answer.get("VersionId"), dict(metadata or {})
        )

    def delete(self, bucket: str, key: str, *, version_id: str | None = None) -> None:
        """Delete `key`: with `version_id`, that version for good (a version that is gone
        already is no error); without, hide it behind a delete marker (a versioned bucket)."""
        extra: dict[str, Any] = {"VersionId": version_id} if version_id else {}
        try:
            self._s3.delete_object(Bucket=bucket, Key=key, **extra)
        except (ClientError, BotoCoreError) as exc:
            raise _storage_error("delete", key, exc) from exc


def _stored(key: str, answer: Any) -> StoredObject:
    return StoredObject(
        key=key,
        etag=_etag(answer["ETag"]),
        size=int(answer["ContentLength"]),
        version_id=answer.get("VersionId"),
        metadata=dict(answer.get("Metadata") or {}),
        last_modified=answer.get("LastModified"),
    )


def _etag(value: str) -> str:
    return value.strip('"')


def _storage_error(action: str, key: str, exc: Exception) -> Face3DError:
    problem = aws.configuration_problem(exc)
    if problem is not None:  # no region or credentials: the operator's setup, not S3
        return problem
    if aws.error_code(exc) in _DENIED_CODES:
        # The function's role lacks a permission: an operator must act.
        return ConfigurationError(S3_ERROR, f"S3 {action} {key}: access denied")
    detail = aws.error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
    return TransientError(S3_ERROR, f"S3 {action} {key}: {detail}")
