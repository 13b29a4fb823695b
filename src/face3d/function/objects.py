"""What the bucket tells of an object: plain data shared by the storage adapter and pure code."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class StoredObject:
    key: str
    etag: str  # without the quotes S3 puts around it
    size: int
    version_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    last_modified: datetime | None = None  # S3 keeps it to the second in a HEAD
