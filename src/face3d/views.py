"""The views of a subject's image set and the API slots they travel in."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class View(StrEnum):
    """A photo's viewpoint. Its API number is fixed: front 1, left 2, right 3."""

    FRONT = "front"
    LEFT = "left"
    RIGHT = "right"

    @property
    def number(self) -> int:
        return _NUMBERS[self]

    @classmethod
    def from_number(cls, number: int) -> View:
        for view, n in _NUMBERS.items():
            if n == number:
                return view
        raise ValueError(f"no view has API number {number}")

    @classmethod
    def from_param(cls, param: str) -> View | None:
        """The view an API parameter names (`image_base64_2` -> left), if any."""
        prefix, _, suffix = param.strip().rpartition("_")
        if prefix in ("image_url", "image_file", "image_base64") and suffix.isdigit():
            try:
                return cls.from_number(int(suffix))
            except ValueError:
                return None
        return None


_NUMBERS = {View.FRONT: 1, View.LEFT: 2, View.RIGHT: 3}


def in_api_order(views: Iterable[View | str]) -> list[View]:
    """Views sorted by API number, which is also the order of `transfer_matrix`."""
    return sorted((View(v) for v in views), key=lambda v: v.number)
