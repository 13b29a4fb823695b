"""`face3d serve`: the offline engine behind the 3dface HTTP contract."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from face3d.cli.arguments import int_in, non_negative_int, positive_int, probability
from face3d.contract import API_PATH
from face3d.errors import INVALID_CONFIGURATION, ConfigurationError
from face3d.server.workers import default_worker_count
from face3d.settings import Settings

SERVE_DESCRIPTION = """\
Serve the offline reconstruction engine on POST /facepp/v1/3dface, speaking the Face++ 3dface
contract (facepp-3dface-api.txt): the same parameters, limits, JSON and error codes, and the
plain-text 413 over 2 MiB. Point `face3d reconstruct --endpoint` or FACEPP_ENDPOINT at it.

Reconstructions run in --workers processes, each with its own engine (default: one per core),
so a machine with N cores serves about N times the calls of one engine.

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


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
        type=positive_int,
        metavar="N",
        help="refuse calls over N in any second with 403 CONCURRENCY_LIMIT_EXCEEDED",
    )
    srv.add_argument(
        "--fail-rate",
        type=probability,
        default=0.0,
        metavar="P",
        help="answer this share of calls (0..1) with 500 INTERNAL_ERROR (0)",
    )
    srv.add_argument(
        "--seed", type=int, metavar="N", help="seed for --fail-rate, for reproducible runs"
    )
    srv.add_argument(
        "--latency-ms",
        type=non_negative_int,
        default=0,
        metavar="MS",
        help="add MS milliseconds to every call (0)",
    )
    srv.add_argument(
        "--workers",
        type=_one_to_64,
        default=None,
        metavar="N",
        help=f"engine processes, each with its own engine, 1..64 (one per core here: "
        f"{default_worker_count()})",
    )
    srv.add_argument(
        "--threads",
        type=_one_to_64,
        default=None,
        metavar="N",
        help="requests handled at once, 1..64 (two more than --workers, at least 4: reading "
        "requests never waits for the engines)",
    )
    srv.set_defaults(run=run, parser=srv)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if (args.api_key is None) != (args.api_secret is None):
        args.parser.error("give --api-key and --api-secret together, or neither")
    if args.api_key == "" or args.api_secret == "":
        args.parser.error("--api-key and --api-secret must not be empty")
    started = time.monotonic()
    # One access line per request, whatever -v says.
    logging.getLogger("face3d.server").setLevel(logging.INFO)
    try:
        # werkzeug, waitress and MediaPipe come with the engine extra, not with the Lambda package.
        from face3d.server import app as server
        from face3d.server import serving
    except ImportError as exc:
        raise ConfigurationError(
            INVALID_CONFIGURATION, f"{exc}: install the engine extra: pip install -e '.[engine]'"
        ) from exc
    workers = args.workers or default_worker_count()
    threads = args.threads or max(server.DEFAULT_THREADS, workers + 2)
    try:
        engine = server.load_engine(workers)
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
        app = server.FaceApp(
            engine,
            api_key=args.api_key,
            api_secret=args.api_secret,
            qps=args.qps,
            fail_rate=args.fail_rate,
            latency_ms=args.latency_ms,
            seed=args.seed,
            concurrency=workers,
            engine_decodes_images=True,
        )

        def ready(host: str, port: int) -> None:
            url = f"http://{f'[{host}]' if ':' in host else host}:{port}{API_PATH}"
            auth = "api key required" if app.auth_required else "any api key"
            qps = f"qps {app.qps}" if app.qps else "qps unlimited"
            seed = "" if args.seed is None else f" (seed {args.seed})"
            print(
                f"serving the 3dface API on {url} after {time.monotonic() - started:.1f} s: "
                f"{workers} engine worker{'s' if workers > 1 else ''}, {threads} threads, "
                f"{auth}, {qps}, fail rate {args.fail_rate:g}{seed}, "
                f"latency {args.latency_ms} ms; Ctrl-C stops",
                flush=True,
            )

        stop = threading.Event()
        with _stop_on_sigterm(stop):
            serving.serve(
                app,
                host=args.host,
                port=args.port,
                threads=threads,
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
    return 0


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
    return int_in(text, 0, 65535)


def _one_to_64(text: str) -> int:
    return int_in(text, 1, 64)
