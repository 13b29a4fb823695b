"""Finds what must never leave the function (DESIGN.md section 6): the API secret and key, and
image base64.

A text leaks when it holds a secret verbatim, or a run of 40 or more base64 characters that is a
fragment of a known image's base64 (at whatever offset the fragment starts). Fingerprints, ETags
and other hex digests are base64 characters too, so a run is a leak only if it decodes to bytes
of a known image: nothing is reported on looks alone. Standard library only, and self-contained:
the fault tests and `make soak` both feed it what they collect.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MIN_FRAGMENT_CHARS = 40
# Standard and URL-safe alphabets; padding and any other character end a run.
_RUN = re.compile(rf"[A-Za-z0-9+/_-]{{{MIN_FRAGMENT_CHARS},}}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_URL_SAFE = str.maketrans("-_", "+/")
# Characters that may belong to the text around a fragment rather than to the fragment; the
# bytes they decode into are not compared.
_EDGE_BYTES = 3


@dataclass(frozen=True)
class Leak:
    """One finding. It never quotes what leaked: a report must not repeat the leak."""

    source: str  # where the text came from, e.g. "DLQ message 3 body"
    kind: str  # "api_secret", "api_key" (the names given), or "image base64"
    offset: int  # where in the text it starts

    def __str__(self) -> str:
        return f"{self.kind} in {self.source} at offset {self.offset}"


class LeakScanner:
    """Scans texts for the given secrets and for base64 of the images it was shown."""

    def __init__(self, secrets: Mapping[str, str], images: Iterable[bytes] = ()) -> None:
        empty = [name for name, value in secrets.items() if not value]
        if empty:
            raise ValueError(f"empty secret values cannot be searched for: {', '.join(empty)}")
        self._secrets = dict(secrets)
        self._images: dict[bytes, bytes] = {}
        self._checked: dict[str, bool] = {}
        for image in images:
            self.add_image(image)

    def add_image(self, data: bytes) -> None:
        """An image whose base64 must not appear: what was uploaded, or what was sent."""
        digest = hashlib.sha256(data).digest()
        if len(data) >= MIN_FRAGMENT_CHARS and digest not in self._images:
            self._images[digest] = data
            self._checked = {run: found for run, found in self._checked.items() if found}

    def add_images(self, images: Iterable[bytes]) -> None:
        for image in images:
            self.add_image(image)

    def check(self, texts: Iterable[tuple[str, str | bytes]]) -> list[Leak]:
        """Every leak in (source, text) pairs."""
        return [leak for source, text in texts for leak in self.scan(source, text)]

    def scan(self, source: str, text: str | bytes) -> list[Leak]:
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        leaks = []
        for name, value in self._secrets.items():
            start = text.find(value)
            if start >= 0:
                leaks.append(Leak(source, name, start))
        for match in _RUN.finditer(text):
            run = match.group()
            if run not in self._checked:
                self._checked[run] = self._is_image_fragment(run)
            if self._checked[run]:
                leaks.append(Leak(source, "image base64", match.start()))
        return leaks

    def _is_image_fragment(self, run: str) -> bool:
        if _HEX.fullmatch(run) or not self._images:
            return False  # a digest: hex text never decodes to an image's bytes at random
        standard = run.translate(_URL_SAFE)
        # The run may start anywhere in an encoding's 4-character groups: try each alignment.
        for skip in range(4):
            usable = (len(standard) - skip) // 4 * 4
            try:
                decoded = base64.b64decode(standard[skip : skip + usable], validate=True)
            except (binascii.Error, ValueError):
                continue
            core = decoded[_EDGE_BYTES:-_EDGE_BYTES]
            if len(core) >= 16 and any(core in image for image in self._images.values()):
                return True
        return False
