"""The API's refusal as the server's modules raise it; `app.py` answers it as the JSON envelope.

`NO_FACE_FOUND: <param>`, `MULTIPLE_FACE_FOUND: <param>` and `MISSING_ARGUMENTS: <key>` keep the
document's space after the colon (`space=True`); the other codes have none.
"""

from __future__ import annotations

from collections.abc import Mapping


class ApiError(Exception):
    """Answers the request with the API's JSON error envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        param: str | None = None,
        *,
        space: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.param = param
        self.headers = dict(headers or {})
        separator = ": " if space else ":"
        self.error_message = code if param is None else f"{code}{separator}{param}"
        super().__init__(self.error_message)
