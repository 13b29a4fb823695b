"""One soak: the services up, the users dropping photos, the function under Lambda's rules, a
reader following the results; then everything that was left behind, judged."""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from face3d.function import handler
from face3d.function.layout import classify, result_folder
from face3d.settings import FunctionSettings
from tests.leaks import Leak, LeakScanner

from . import collect, services, verdict
from .feeder import Delivery, Feeder
from .lambda_runtime import AsyncLambda, KillDealer, Run
from .proxy import ApiCall, CountingProxy
from .reader import Candidates, ResultReader
from .trace import subject_story
from .traffic import Traffic
from .workload import DOWNLOAD_CAP, Subject, build_subjects

RESULT_PREFIX = "results/"
INPUT_PREFIX = "incoming/"


@dataclass(frozen=True)
class Options:
    subjects: int = 300
    workers: int = 4
    kill_share: float = 0.15
    seed: int = 1
    qps: int = 2
    fail_rate: float = 0.05
    latency_ms: int = 50
    cut_rate: float = 0.02
    delay_rate: float = 0.05
    delay_s: float = 1.0
    duplicate_share: float = 0.2
    late_share: float = 0.1
    late_s: tuple[float, float] = (5.0, 15.0)  # how late a late delivery is
    reupload_share: float = 0.15
    rate: float = 1.5  # subjects dropped per second
    timeout_s: float = 20.0  # the function's timeout
    retry_delays: tuple[float, ...] = (0.5, 1.0)  # Lambda's 1 and 2 minutes, scaled down
    settle_s: float = 600.0  # the longest wait for the last invocations once all is dropped
    log: Path | None = None  # the function's log (DEBUG, JSON lines); a temporary file if None


@dataclass
class Outcome:
    options: Options
    figures: verdict.Figures
    seconds: float  # from the first upload until everything settled
    settled: bool  # everything settled within options.settle_s
    uploads: int
    reuploads: Counter[str]  # subjects dropped again, by what prompted it
    deliveries: dict[str, int]
    runs: Counter[str]  # invocations by how they ended
    kills: Counter[str]  # deaths by where they struck
    failure_records: int  # Lambda's on-failure records sent
    reads: tuple[int, int, int]  # result.json documents followed, files read, by version id
    reader_errors: int
    api_calls: list[ApiCall]
    leaks: list[str] = field(default_factory=list)
    log: str = ""
    traces: list[str] = field(default_factory=list)  # stories of subjects an invariant names

    @property
    def passed(self) -> bool:
        return self.settled and self.figures.passed and not self.leaks


def run_soak(options: Options, *, echo: Callable[[str], None] | None = None) -> Outcome:
    """Run one soak; `echo` gets progress lines (default: this process's standard output)."""
    if echo is None:
        terminal = sys.stdout  # the function's metrics get stdout while the soak runs

        def echo(line: str) -> None:
            print(line, file=terminal, flush=True)

    api_key, api_secret = f"soak-key-{secrets.token_hex(8)}", f"soak-secret-{secrets.token_hex(16)}"
    # The photos are made here, before the clock starts.
    subjects = build_subjects(options.subjects, options.seed, reupload_share=options.reupload_share)
    with ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        # Powertools warns on each invocation that ends without a metric (a retry's give-back).
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        echo("starting face3d serve (the offline engine) ...")
        engine = stack.enter_context(
            services.engine_server(
                api_key=api_key,
                api_secret=api_secret,
                qps=options.qps,
                fail_rate=options.fail_rate,
                latency_ms=options.latency_ms,
                seed=options.seed,
            )
        )
        proxy = CountingProxy(
            engine.endpoint,
            cut_rate=options.cut_rate,
            delay_rate=options.delay_rate,
            delay_s=options.delay_s,
            seed=options.seed,
        )
        proxy.start()
        stack.callback(proxy.stop)
        aws = stack.enter_context(services.local_aws(api_key, api_secret))
        traffic = Traffic(api_port=proxy.port)
        stack.enter_context(traffic.installed())
        log = stack.enter_context(_log_file(options.log).open("w", encoding="utf-8"))
        stack.enter_context(_function_logs_into(log))
        handler.install(
            handler.build_processor(_settings(options, aws, proxy), region=services.REGION)
        )
        stack.callback(handler.install, None)
        return _soak(options, subjects, aws, proxy, traffic, echo, log, (api_key, api_secret))


def _soak(
    options: Options,
    subjects: list[Subject],
    aws: services.Aws,
    proxy: CountingProxy,
    traffic: Traffic,
    echo: Callable[[str], None],
    log: TextIO,
    credentials: tuple[str, str],
) -> Outcome:
    s3, sqs = aws.client("s3"), aws.client("sqs")

    def on_failure(record: dict[str, Any]) -> None:
        sqs.send_message(QueueUrl=aws.queue_url, MessageBody=json.dumps(record))

    function = AsyncLambda(
        handler.lambda_handler,
        traffic,
        KillDealer(options.kill_share, options.seed),
        on_failure,
        workers=options.workers,
        timeout_s=options.timeout_s,
        retry_delays=options.retry_delays,
        seed=options.seed,
    )
    feeder = Feeder(
        s3,
        services.BUCKET,
        INPUT_PREFIX,
        subjects,
        function,
        rate=options.rate,
        delivery=Delivery((options.duplicate_share, options.late_share), 2.0, options.late_s),
        seed=options.seed,
    )

    def candidates() -> Candidates:
        running = (classify(key, INPUT_PREFIX).subject for key in function.running_keys())
        return Candidates(feeder.dropped(), [subject for subject in running if subject])

    reader = ResultReader(
        aws.client("s3"),
        services.BUCKET,
        lambda subject: result_folder(RESULT_PREFIX, subject),
        candidates,
        seed=options.seed,
        pause_s=0.01,
    )
    echo(
        f"soak: {options.subjects} subjects at {options.rate:g}/s, {options.workers} workers, "
        f"kill share {options.kill_share:g}, seed {options.seed}"
    )
    started = time.monotonic()
    function.start()
    reader.start()
    feeder.start()
    while not feeder.join(15.0):
        echo(_progress(started, feeder, function, proxy))
    settled = function.wait_idle(options.settle_s)
    seconds = time.monotonic() - started
    reader.stop()
    function.stop()
    if feeder.failure is not None:
        raise RuntimeError("the feeder failed") from feeder.failure
    if feeder.unprompted:
        echo(f"{feeder.unprompted} re-uploads were dropped unprompted: the function stalled")
    echo(f"settled after {seconds:.0f} s; judging ...")

    messages = collect.drain(sqs, aws.queue_url)
    folders = collect.folders(s3, services.BUCKET, RESULT_PREFIX)
    figures = verdict.judge(
        feeder.sets,
        function.runs,
        proxy.calls(),
        messages,
        folders,
        lambda subject: result_folder(RESULT_PREFIX, subject),
        reader.torn,
    )
    traces = _traces(figures, started, feeder, function.runs, folders)
    api_key, api_secret = credentials
    scanner = LeakScanner({"api_secret": api_secret, "api_key": api_key})
    for subject in subjects:
        for generation in subject.generations:
            for upload in generation.uploads:
                if not upload.key.endswith("manifest.json"):
                    scanner.add_image(upload.data)
    for image in proxy.images():
        scanner.add_image(image)
    log.flush()
    leaks = _scan(scanner, Path(log.name), messages, folders, function.runs)
    kills = Counter[str]()
    for run in function.runs:
        where = next((c for c in run.invocation.calls if c.killed), None)
        if where is not None:
            kills[f"{run.invocation.death} {where.killed} {where.service} {where.verb}"] += 1
    return Outcome(
        options,
        figures,
        seconds,
        settled,
        feeder.uploads,
        Counter(reupload.when for subject in subjects for reupload in subject.reuploads),
        dict(feeder.deliveries),
        Counter(run.outcome for run in function.runs),
        kills,
        len(function.failure_records),
        (reader.documents, reader.files, reader.pinned),
        reader.errors,
        proxy.calls(),
        leaks,
        log.name,
        traces,
    )


def _traces(
    figures: verdict.Figures,
    began: float,
    feeder: Feeder,
    runs: list[Run],
    folders: dict[str, collect.Folder],
) -> list[str]:
    """The stories of the first subjects a failed "current result" invariant names."""
    lines: list[str] = []
    for invariant in figures.invariants:
        if invariant.holds or not invariant.name.startswith("subjects whose current result"):
            continue
        for subject in invariant.examples[:3]:
            folder = folders.get(result_folder(RESULT_PREFIX, subject))
            lines += subject_story(
                subject,
                INPUT_PREFIX,
                began,
                feeder.uploaded,
                feeder.sets,
                runs,
                folder.results if folder else [],
            )
    return lines


def _scan(
    scanner: LeakScanner,
    log_path: Path,
    messages: list[collect.Message],
    folders: dict[str, collect.Folder],
    runs: list[Run],
) -> list[str]:
    """Everything the soak collected, scanned for the API secret and key and image base64."""
    found: list[Leak] = []
    with log_path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            found += scanner.scan(f"function log line {number}", line)
    for number, message in enumerate(messages, 1):
        found += scanner.scan(f"DLQ message {number} body", message.body)
        found += scanner.scan(f"DLQ message {number} attributes", json.dumps(message.attributes))
    for folder in folders.values():
        for where, text in folder.texts:
            found += scanner.scan(where, text)
    for run in runs:
        if run.error:
            found += scanner.scan(f"exception of invocation {run.invocation.tag}", run.error)
    return [str(leak) for leak in found]


def _settings(options: Options, aws: services.Aws, proxy: CountingProxy) -> FunctionSettings:
    return FunctionSettings.from_environ(
        {
            "FACEPP_SECRET_ID": services.SECRET_ID,
            "FACEPP_ENDPOINT": proxy.endpoint,
            "DLQ_URL": aws.queue_url,
            "INPUT_PREFIX": INPUT_PREFIX,
            "RESULT_PREFIX": RESULT_PREFIX,
            "FUNCTION_TIMEOUT_S": str(int(options.timeout_s)),
            "MAX_ASYNC_RETRIES": str(len(options.retry_delays)),
            "MAX_DOWNLOAD_BYTES": str(DOWNLOAD_CAP),
            "CONNECT_TIMEOUT_S": "2",
            "READ_TIMEOUT_S": "10",
        }
    )


def _progress(started: float, feeder: Feeder, function: AsyncLambda, proxy: CountingProxy) -> str:
    return (
        f"  {time.monotonic() - started:4.0f} s: {len(feeder.dropped())} drops, "
        f"{len(function.runs)} invocations, {len(proxy.calls())} API calls"
    )


def _log_file(path: Path | None) -> Path:
    """`path`, or a new file kept in the temporary folder (the report names it)."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
    handle, name = tempfile.mkstemp(prefix="face3d-soak-", suffix=".log")
    os.close(handle)
    return Path(name)


@contextmanager
def _function_logs_into(stream: TextIO) -> Iterator[None]:
    """The function's log lines (Powertools JSON, at DEBUG) and what it prints (its metrics)
    into `stream`, as CloudWatch would receive them; level and streams come back after.

    The face3d.* modules' loggers propagate to Powertools' logger (service "face3d").
    """
    powertools = logging.getLogger(handler.SERVICE)
    level = powertools.level
    handlers = [h for h in powertools.handlers if isinstance(h, logging.StreamHandler)]
    previous = [h.setStream(stream) for h in handlers]
    powertools.setLevel(logging.DEBUG)
    try:
        with redirect_stdout(stream):
            yield
    finally:
        powertools.setLevel(level)
        for log_handler, old in zip(handlers, previous, strict=True):
            log_handler.setStream(old if old is not None else sys.stdout)
