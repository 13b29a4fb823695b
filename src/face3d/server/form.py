"""A call's form: its body read within the entity limit, then parsed into parameters (werkzeug).

Where the document is silent, this module decides as follows.

* A request entity over 2 MiB (2 * 1024 * 1024 bytes) is a plain-text 413
  `Request Entity Too Large`, refused before the body is read: from its Content-Length, or, for a
  chunked body, as soon as more than 2 MiB has arrived. Under `serve` waitress itself enforces the
  limit (so it never buffers more); its 413 body starts with the same text. A form of more than
  64 parts (a call needs at most 11) gets the same 413, as werkzeug refuses it.
* The form is `multipart/form-data` (or `application/x-www-form-urlencoded`); parameters are read
  from the form only, never from the query string. Any other content type carries no parameters,
  so it ends as `MISSING_ARGUMENTS: api_key`. A malformed multipart body, or a body shorter than
  its Content-Length, is 400 `BAD_ARGUMENTS:body`.
* A parameter sent empty counts as not sent (as HTML forms send unset fields), and so does an
  empty file part. A text parameter sent as a file part, or `image_file_N` sent as a text field,
  is 400 `BAD_ARGUMENTS:<param>`. The first of repeated fields is used. Unknown fields are
  ignored.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import IO
from wsgiref.types import WSGIEnvironment

from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header

from face3d.errors import BAD_ARGUMENTS
from face3d.server.api_error import ApiError

_READ_CHUNK = 64 * 1024
# Our API has at most 11 fields; a few unknown ones are tolerated.
_MAX_FORM_PARTS = 64


class EntityTooLarge(Exception):
    """Answers with the plain-text 413."""


@dataclass(frozen=True)
class Form:
    """A call's parameters as werkzeug parsed them: text fields and file parts."""

    fields: MultiDict[str, str]
    files: MultiDict[str, FileStorage]

    def text(self, name: str) -> str | None:
        """A text parameter's value; empty counts as absent. Sent as a file part: BAD_ARGUMENTS."""
        value = self.fields.get(name)
        if value:
            return value
        if name in self.files:
            raise ApiError(400, BAD_ARGUMENTS, name)
        return None

    def flag(self, name: str) -> bool:
        """`texture` or `mtl`: exactly `0` or `1` (surrounding whitespace tolerated)."""
        value = self.text(name)
        if value is None:
            return False  # the API's default
        value = value.strip()
        if value not in ("0", "1"):
            raise ApiError(400, BAD_ARGUMENTS, name)
        return value == "1"

    def close(self) -> None:
        for storage in self.files.values():
            storage.close()


def read_form(environ: WSGIEnvironment, limit: int) -> Form:
    """The call's form, from a body of at most `limit` bytes (`EntityTooLarge` beyond)."""
    body = _read_body(environ, limit)
    return _parse_form(environ, body, limit)


def _read_body(environ: WSGIEnvironment, limit: int) -> bytes:
    """The whole body, at most `limit` bytes; `EntityTooLarge` without reading further."""
    stream: IO[bytes] = environ["wsgi.input"]
    raw_length = str(environ.get("CONTENT_LENGTH") or "").strip()
    if raw_length:
        try:
            length = int(raw_length)
        except ValueError:
            raise ApiError(400, BAD_ARGUMENTS, "body") from None
        if length < 0:
            raise ApiError(400, BAD_ARGUMENTS, "body")
        if length > limit:
            raise EntityTooLarge
        body = _read_at_most(stream, length)
        if len(body) < length:  # the client went away mid-body
            raise ApiError(400, BAD_ARGUMENTS, "body")
        return body
    if environ.get("wsgi.input_terminated"):
        # Chunked: no length up front. Read one byte past the limit to know it is over.
        body = _read_at_most(stream, limit + 1)
        if len(body) > limit:
            raise EntityTooLarge
        return body
    # Neither a length nor a terminated stream: by WSGI, there is no body to read.
    return b""


def _read_at_most(stream: IO[bytes], size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(min(_READ_CHUNK, remaining))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _parse_form(environ: WSGIEnvironment, body: bytes, limit: int) -> Form:
    mimetype, options = parse_options_header(environ.get("CONTENT_TYPE", ""))
    parser = FormDataParser(
        stream_factory=_memory_stream,  # the body is in memory already, and at most 2 MiB
        # werkzeug >= 3.1 caps a field at 500 kB by default: image_base64_N can be 2 MiB.
        max_form_memory_size=limit,
        max_content_length=limit,
        silent=False,
        max_form_parts=_MAX_FORM_PARTS,
    )
    try:
        _, fields, files = parser.parse(io.BytesIO(body), mimetype, len(body), options)
    except ValueError:
        raise ApiError(400, BAD_ARGUMENTS, "body") from None
    except Exception as exc:  # werkzeug's RequestEntityTooLarge (too many parts)
        if getattr(exc, "code", None) == 413:
            raise EntityTooLarge from exc
        raise
    return Form(fields, files)


def _memory_stream(
    total_content_length: int | None,
    content_type: str | None,
    filename: str | None,
    content_length: int | None = None,
) -> IO[bytes]:
    return io.BytesIO()
