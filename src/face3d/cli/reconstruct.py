"""`face3d reconstruct`: local photos to a result folder, prepared as the pipeline prepares them."""

from __future__ import annotations

import argparse
import hashlib
from datetime import UTC, datetime
from pathlib import Path

from face3d.client.http import Credentials, FaceppClient
from face3d.client.preparation import PreparationLimits, SourceImage
from face3d.client.reconstruct import CredentialSource, reconstruct_set
from face3d.client.result_folder import write_result_folder
from face3d.client.results import InputObject, build_result, encode_document, set_fingerprint
from face3d.client.retries import RetryPolicy
from face3d.contract import View
from face3d.errors import INVALID_CONFIGURATION, INVALID_INPUT, ConfigurationError, PermanentError
from face3d.settings import Settings

EPILOG = """\
exit status: 0 success, 1 the input was refused (e.g. NO_FACE_FOUND:front, or -o naming an
existing file: refused before any API call), 2 usage, 3 configuration (credentials, endpoint),
4 transient (rate limit, timeout, nothing listening at the endpoint: try again later).
On failure the error code is printed on standard error and nothing is written to DIR. The
command does not retry a refused connection or an unknown host: it fails at once.
"""

RECONSTRUCT_DESCRIPTION = """\
Prepare one to three face photos exactly as the pipeline does (EXIF orientation, RGB JPEG,
metadata stripped, sized to the API's limits), send them to a Face++ 3dface endpoint, and write
face.obj, face.mtl, tex.jpg and result.json into DIR.

Credentials: FACEPP_API_KEY and FACEPP_API_SECRET, or a Secrets Manager secret
({"api_key": ..., "api_secret": ...}) named by --secret-id or FACEPP_SECRET_ID.
"""


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rec = commands.add_parser(
        "reconstruct",
        help="reconstruct a 3D face from local photos",
        description=RECONSTRUCT_DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rec.add_argument("front", type=Path, metavar="FRONT", help="front view (API image 1)")
    rec.add_argument("left", type=Path, nargs="?", metavar="LEFT", help="left view (image 2)")
    rec.add_argument("right", type=Path, nargs="?", metavar="RIGHT", help="right view (image 3)")
    rec.add_argument(
        "-o", "--output", type=Path, required=True, metavar="DIR", help="result folder"
    )
    rec.add_argument("--endpoint", metavar="URL", help="3dface endpoint (default: FACEPP_ENDPOINT)")
    rec.add_argument(
        "--secret-id", metavar="ID", help="Secrets Manager secret with the credentials"
    )
    rec.add_argument("--subject", help="subject name in result.json (default: FRONT's file stem)")
    rec.add_argument("--no-texture", action="store_true", help="do not ask for tex.jpg")
    rec.add_argument("--no-mtl", action="store_true", help="do not ask for face.mtl")
    rec.add_argument(
        "--timeout", type=float, default=300.0, metavar="S", help="overall time budget (300)"
    )
    rec.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    started_at = datetime.now(UTC)
    _check_output(args.output)
    endpoint = (
        settings.endpoint if args.endpoint is None else settings.valid_endpoint(args.endpoint)
    )
    paths = {
        view: path
        for view, path in (
            (View.FRONT, args.front),
            (View.LEFT, args.left),
            (View.RIGHT, args.right),
        )
        if path is not None
    }
    limits = PreparationLimits(
        request_budget=settings.request_budget_bytes,
        max_input_bytes=settings.max_download_bytes,
        max_pixels=settings.max_image_pixels,
    )
    sources = [_read_source(view, path, limits.max_input_bytes) for view, path in paths.items()]
    credentials = _credential_source(args.secret_id, settings)
    retry = RetryPolicy(
        max_attempts=settings.max_attempts,
        connect_timeout=settings.connect_timeout_s,
        read_timeout=settings.read_timeout_s,
        retry_unreachable=False,
    )
    texture, mtl = not args.no_texture, not args.no_mtl
    with FaceppClient(endpoint, retry=retry) as client:
        outcome = reconstruct_set(
            client,
            credentials,
            sources,
            texture=texture,
            mtl=mtl,
            limits=limits,
            time_budget=args.timeout,
        )
    files = outcome.reconstruction.files()
    inputs = [InputObject(view, str(path)) for view, path in paths.items()]
    document = build_result(
        subject=args.subject or args.front.stem,
        reconstruction=outcome.reconstruction,
        inputs=inputs,
        prepared=[image.describe() for image in outcome.prepared],
        outputs={name: (name, None) for name in files},
        fingerprint=set_fingerprint(
            (source.view.value, hashlib.sha256(source.data).hexdigest()) for source in sources
        ),
        endpoint=endpoint,
        texture=texture,
        mtl=mtl,
        metadata=None,
        started_at=started_at,
        finished_at=datetime.now(UTC),
    )
    write_result_folder(args.output, files, encode_document(document))
    sizes = ", ".join(f"{name} {len(data) / 1024:.0f} KiB" for name, data in files.items())
    seconds = (datetime.now(UTC) - started_at).total_seconds()
    print(
        f"reconstructed {document['subject']} from {'+'.join(document['views'])} in "
        f"{seconds:.1f} s: {sizes} -> {args.output} (request_id {document['request_id']})"
    )
    return 0


def _check_output(folder: Path) -> None:
    """Refuse, before any API call, a DIR that cannot become a folder (a file is in the way)."""
    for path in (folder, *folder.parents):
        if path.exists():
            if not path.is_dir():
                raise PermanentError(INVALID_INPUT, f"-o {folder}: {path} is a file, not a folder")
            return


def _read_source(view: View, path: Path, max_bytes: int) -> SourceImage:
    try:
        with path.open("rb") as handle:
            # Read one byte past the cap so preparation refuses the file as too large.
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise PermanentError(
            INVALID_INPUT, f"cannot read {path}: {exc.strerror}", view=view
        ) from exc
    return SourceImage(view, data, name=str(path))


def _credential_source(secret_id: str | None, settings: Settings) -> CredentialSource:
    direct = (
        Credentials(settings.api_key, settings.api_secret.get_secret_value())
        if settings.api_key and settings.api_secret
        else None
    )
    secret_id = secret_id or (None if direct else settings.secret_id)
    if secret_id is not None:
        name, max_age = secret_id, settings.secret_max_age_s

        def from_secret(force: bool) -> Credentials:
            # Imported here: the AWS SDK would cost every `face3d` command its import time.
            from face3d.function.secrets import fetch_credentials

            return fetch_credentials(name, max_age=max_age, force=force)

        return from_secret
    if direct is None:
        raise ConfigurationError(
            INVALID_CONFIGURATION,
            "no credentials: set FACEPP_API_KEY and FACEPP_API_SECRET, or pass --secret-id",
        )
    return lambda force: direct
