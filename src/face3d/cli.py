"""The `face3d` command line."""

from __future__ import annotations

import argparse
import hashlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from face3d import operations
from face3d.client import Credentials, FaceppClient, RetryPolicy
from face3d.credentials import credentials_from_settings, fetch_credentials
from face3d.errors import (
    INVALID_CONFIGURATION,
    INVALID_INPUT,
    ConfigurationError,
    Face3DError,
    PermanentError,
)
from face3d.errors import Kind as ErrorKind
from face3d.pipeline import CredentialSource, reconstruct_set
from face3d.preparation import PreparationLimits, SourceImage
from face3d.result_folder import write_result_folder
from face3d.results import InputObject, build_result, encode_document, set_fingerprint
from face3d.settings import Settings
from face3d.views import View

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_CODES = {ErrorKind.PERMANENT: 1, ErrorKind.CONFIGURATION: 3, ErrorKind.TRANSIENT: 4}

EPILOG = """\
exit status: 0 success, 1 the input was refused (e.g. NO_FACE_FOUND:front), 2 usage,
3 configuration (credentials, endpoint), 4 transient (rate limit, timeout: try again later).
On failure the error code is printed on standard error and nothing is written to DIR.
"""

RECONSTRUCT_DESCRIPTION = """\
Prepare one to three face photos exactly as the pipeline does (EXIF orientation, RGB JPEG,
metadata stripped, sized to the API's limits), send them to a Face++ 3dface endpoint, and write
face.obj, face.mtl, tex.jpg and result.json into DIR.

Credentials: FACEPP_API_KEY and FACEPP_API_SECRET, or a Secrets Manager secret
({"api_key": ..., "api_secret": ...}) named by --secret-id or FACEPP_SECRET_ID.
"""


SERVE_DESCRIPTION = """\
Serve the offline reconstruction engine on POST /facepp/v1/3dface, speaking the Face++ 3dface
contract (facepp-3dface-api.txt): the same parameters, limits, JSON and error codes, and the
plain-text 413 over 2 MiB. Point `face3d reconstruct --endpoint` or FACEPP_ENDPOINT at it.

Without --api-key/--api-secret any non-empty api_key and api_secret are accepted. --qps,
--fail-rate and --latency-ms make it behave like a busy or flaky cloud API, for testing clients.
Every request is logged on one line (never the secret or image data). Ctrl-C or SIGTERM stops it.
Needs the engine extra: pip install -e '.[engine]'.
"""

SERVE_EPILOG = """\
exit status: 0 stopped (Ctrl-C, SIGTERM), 2 usage, 3 configuration (the engine is not installed
or fails to load, the address cannot be bound). On failure the error code is printed on standard
error.
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = Settings.from_environ()
        return int(args.run(args, settings))
    except Face3DError as err:
        detail = f" (HTTP {err.http_status})" if err.http_status else ""
        request = f" request_id={err.request_id}" if err.request_id else ""
        message = "" if err.message == err.code else f": {err.message}"
        print(f"error: {err.label}{detail}{request}{message}", file=sys.stderr)
        return EXIT_CODES[err.kind]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="face3d", description="Face photos in, 3D face models out (Face++ 3dface contract)."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

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
    rec.set_defaults(run=_reconstruct)
    _add_preview(commands)
    operations.add_commands(commands)

    srv = commands.add_parser(
        "serve",
        help="serve the offline engine over the 3dface HTTP contract",
        description=SERVE_DESCRIPTION,
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    srv.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (127.0.0.1: this machine only)"
    )
    srv.add_argument(
        "--port", type=_port, default=8765, metavar="PORT", help="TCP port (8765; 0: any free)"
    )
    srv.add_argument("--api-key", metavar="K", help="the api_key to require (with --api-secret)")
    srv.add_argument(
        "--api-secret",
        metavar="S",
        help="the api_secret to require (with --api-key; visible to other local users in ps)",
    )
    srv.add_argument(
        "--qps",
        type=_positive_int,
        metavar="N",
        help="refuse calls over N in any second with 403 CONCURRENCY_LIMIT_EXCEEDED",
    )
    srv.add_argument(
        "--fail-rate",
        type=_probability,
        default=0.0,
        metavar="P",
        help="answer this share of calls (0..1) with 500 INTERNAL_ERROR (0)",
    )
    srv.add_argument(
        "--seed", type=int, metavar="N", help="seed for --fail-rate, for reproducible runs"
    )
    srv.add_argument(
        "--latency-ms",
        type=_non_negative_int,
        default=0,
        metavar="MS",
        help="add MS milliseconds to every call (0)",
    )
    srv.add_argument(
        "--threads",
        type=_thread_count,
        default=4,
        metavar="N",
        help="requests handled at once, 1..64 (4); the engine itself runs one at a time",
    )
    srv.set_defaults(run=_serve, parser=srv)
    return parser


def _reconstruct(args: argparse.Namespace, settings: Settings) -> int:
    started_at = datetime.now(UTC)
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
        prepared=outcome.prepared,
        output_keys={name: name for name in files},
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
    return EXIT_OK


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    if (args.api_key is None) != (args.api_secret is None):
        args.parser.error("give --api-key and --api-secret together, or neither")
    if args.api_key == "" or args.api_secret == "":
        args.parser.error("--api-key and --api-secret must not be empty")
    started = time.monotonic()
    # One access line per request, whatever -v says.
    logging.getLogger("face3d.server").setLevel(logging.INFO)
    try:
        # werkzeug, waitress and MediaPipe come with the engine extra, not with the Lambda package.
        from face3d import server
    except ImportError as exc:
        raise ConfigurationError(
            INVALID_CONFIGURATION, f"{exc}: install the engine extra: pip install -e '.[engine]'"
        ) from exc
    try:
        engine = server.load_engine()
    except ImportError as exc:
        raise ConfigurationError(
            INVALID_CONFIGURATION,
            f"the offline engine is not installed ({exc}): pip install -e '.[engine]'",
        ) from exc
    except Exception as exc:  # whatever loading the models raises: say what it was
        raise ConfigurationError(
            INVALID_CONFIGURATION, f"the offline engine failed to load: {type(exc).__name__}: {exc}"
        ) from exc
    try:
        app = server.create_app(
            engine,
            api_key=args.api_key,
            api_secret=args.api_secret,
            qps=args.qps,
            fail_rate=args.fail_rate,
            latency_ms=args.latency_ms,
            seed=args.seed,
        )

        def ready(host: str, port: int) -> None:
            url = f"http://{f'[{host}]' if ':' in host else host}:{port}{server.API_PATH}"
            auth = "api key required" if app.auth_required else "any api key"
            qps = f"qps {app.qps}" if app.qps else "qps unlimited"
            seed = "" if args.seed is None else f" (seed {args.seed})"
            print(
                f"serving the 3dface API on {url} after {time.monotonic() - started:.1f} s: "
                f"{args.threads} threads, {auth}, {qps}, fail rate {args.fail_rate:g}{seed}, "
                f"latency {args.latency_ms} ms; Ctrl-C stops",
                flush=True,
            )

        stop = threading.Event()
        with _stop_on_sigterm(stop):
            server.serve(
                app,
                host=args.host,
                port=args.port,
                threads=args.threads,
                on_ready=ready,
                stop=stop,
            )
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # the address is taken, or not this machine's
        raise ConfigurationError(
            INVALID_CONFIGURATION,
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
        ) from exc
    finally:
        engine.close()
    return EXIT_OK


@contextmanager
def _stop_on_sigterm(stop: threading.Event) -> Iterator[None]:
    """SIGTERM (docker stop, systemd, a test's terminate()) sets `stop`: a clean shutdown."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _port(text: str) -> int:
    return _int_in(text, 0, 65535)


def _positive_int(text: str) -> int:
    return _int_in(text, 1, None)


def _non_negative_int(text: str) -> int:
    return _int_in(text, 0, None)


def _thread_count(text: str) -> int:
    return _int_in(text, 1, 64)


def _int_in(text: str, low: int, high: int | None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < low or (high is not None and value > high):
        upper = "" if high is None else f"..{high}"
        raise argparse.ArgumentTypeError(f"{value} is not in {low}{upper or ' or more'}")
    return value


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value:g} is not between 0 and 1")
    return value


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
    direct = credentials_from_settings(settings)
    secret_id = secret_id or (None if direct else settings.secret_id)
    if secret_id is not None:
        name, max_age = secret_id, settings.secret_max_age_s

        def from_secret(force: bool) -> Credentials:
            return fetch_credentials(name, max_age=max_age, force=force)

        return from_secret
    if direct is None:
        raise ConfigurationError(
            INVALID_CONFIGURATION,
            "no credentials: set FACEPP_API_KEY and FACEPP_API_SECRET, or pass --secret-id",
        )
    return lambda force: direct


PREVIEW_DESCRIPTION = """\
Render a result folder (face.obj; face.mtl, tex.jpg and result.json when present) to a PNG: the
model from the right, the front and the left (yaw +60, 0, -60 degrees), beside each input photo
with the model's visible edges drawn over it through result.json's transfer matrix. A photo is
found through result.json's inputs.<view>.key when that is a readable local file, or given with
--photo VIEW=PATH (a bare PATH takes the first of front, left, right not yet given).

Needs the engine extra (numpy, moderngl) and offscreen OpenGL through EGL (Mesa's llvmpipe:
Debian packages libegl1 and libgl1-mesa-dri); no display or GPU.
"""

PREVIEW_EPILOG = """\
exit status: 0 success, 1 the folder or a photo cannot be read (INVALID_INPUT), 2 usage,
3 configuration (no offscreen OpenGL, or the engine extra is not installed).
"""


def _add_preview(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pre = commands.add_parser(
        "preview",
        help="render a result folder to a PNG",
        description=PREVIEW_DESCRIPTION,
        epilog=PREVIEW_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pre.add_argument("folder", type=Path, metavar="DIR", help="result folder (face.obj, ...)")
    pre.add_argument(
        "-o", "--output", type=Path, metavar="PNG", help="picture to write (DIR/preview.png)"
    )
    pre.add_argument(
        "--photo",
        action=_PhotoAction,
        default={},
        metavar="[VIEW=]PATH",
        help="input photo for a view (front, left, right); repeatable",
    )
    pre.set_defaults(run=_preview)


class _PhotoAction(argparse.Action):
    """--photo VIEW=PATH or --photo PATH (the first view not yet given), into a dict."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[object] | None,
        option_string: str | None = None,
    ) -> None:
        photos: dict[str, Path] = dict(getattr(namespace, self.dest) or {})
        value = str(values)
        name, sep, path = value.partition("=")
        if sep and name in {view.value for view in View}:
            view = name
        else:
            free = [view.value for view in View if view.value not in photos]
            if not free:
                parser.error(f"--photo {value}: every view already has a photo")
            view, path = free[0], value
        if view in photos:
            parser.error(f"--photo {value}: {view} already has a photo")
        if not path:
            parser.error(f"--photo {value}: no path")
        photos[view] = Path(path)
        setattr(namespace, self.dest, photos)


def _preview(args: argparse.Namespace, settings: Settings) -> int:
    try:
        from face3d.preview import PREVIEW_NAME, preview_folder
    except ImportError as exc:
        raise ConfigurationError(
            INVALID_CONFIGURATION,
            f"face3d preview needs the engine extra (pip install 'face3d-pipeline[engine]'): {exc}",
        ) from exc
    if not args.folder.is_dir():
        raise PermanentError(INVALID_INPUT, f"{args.folder} is not a folder")
    output = args.output or args.folder / PREVIEW_NAME
    preview = preview_folder(args.folder, args.photo)
    try:
        output.write_bytes(preview.png)
    except OSError as exc:
        raise PermanentError(INVALID_INPUT, f"cannot write {output}: {exc.strerror}") from exc
    print(preview.summary(output))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
