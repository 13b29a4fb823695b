"""Finding the API secret, the API key or image data in what the pipeline shows (issue 8).

A plain helper for the fault tests and the soak: feed it the secrets and every image that may
travel (the photos uploaded, the JPEGs sent), then hand it each log line, DLQ body and
attribute, error.json, result.json and exception text; `leaks` names what it finds. Image data is
found as any 40-character fragment of the image's base64 (at each of the three byte alignments,
so a fragment of any slice of the image counts), also where JSON escaped its slashes.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

FRAGMENT = 40  # the shortest piece of base64 that counts as image data
_PROBE = FRAGMENT // 2  # any FRAGMENT-long piece holds a whole probe-aligned PROBE-long one
_RUN = re.compile(rf"[A-Za-z0-9+/]{{{FRAGMENT},}}")


@dataclass
class LeakScanner:
    secrets: list[str] = field(default_factory=list)  # the API secret, the API key
    _encodings: list[str] = field(default_factory=list)
    _probes: set[str] = field(default_factory=set)

    def add_images(self, images: Iterable[bytes]) -> None:
        for image in images:
            self.add_image(image)

    def add_image(self, image: bytes) -> None:
        for offset in range(3):
            encoded = base64.b64encode(image[offset:]).decode()
            self._encodings.append(encoded)
            self._probes.update(
                encoded[start : start + _PROBE]
                for start in range(0, len(encoded) - _PROBE + 1, _PROBE)
            )

    @property
    def images(self) -> int:
        return len(self._encodings) // 3

    def leaks(self, text: str) -> list[str]:
        """What of the secrets and images `text` holds, each named (shortened) once."""
        text = text.replace("\\/", "/")
        found = [f"secret {value[:4]}..." for value in self.secrets if value and value in text]
        for run in _RUN.findall(text):
            fragment = self._image_fragment(run)
            if fragment is not None:
                found.append(f"base64 of an image: {fragment[:12]}...")
        return found

    def _image_fragment(self, run: str) -> str | None:
        for start in range(len(run) - _PROBE + 1):
            if run[start : start + _PROBE] not in self._probes:
                continue
            # A probe matched: is there a FRAGMENT-long piece around it in one image?
            for begin in range(max(0, start - FRAGMENT + _PROBE), start + 1):
                piece = run[begin : begin + FRAGMENT]
                if len(piece) == FRAGMENT and any(piece in e for e in self._encodings):
                    return piece
        return None

    def check(self, texts: Iterable[tuple[str, str]]) -> list[str]:
        """Every leak in (where, text) pairs, as 'where: what'."""
        return [f"{where}: {leak}" for where, text in texts for leak in self.leaks(text)]
