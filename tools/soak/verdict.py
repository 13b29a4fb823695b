"""From what the soak saw to its figures and invariants (pure: no I/O).

Sets are told apart by fingerprint. Every API call carries the invocation and call it came from
(the traffic hook's header, read by the proxy), and each invocation knows the set it claimed, so
each paid answer belongs to one set. A paid answer is excused from "paid once" only when the
function could not have stored it: the proxy cut it off in transit, the function's read timeout
gave up on it, or the invocation died on receiving it or before the one PutObject that stores it
(DESIGN.md section 5).
Likewise a second DLQ message is excused only when the invocation that sent the first died before
its next call (the one that records it was sent; section 6).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from face3d.contract import FAILURE_SCHEMA

from .collect import Folder, Message
from .feeder import CompletedSet
from .lambda_runtime import Run
from .proxy import ApiCall
from .reader import TornRead
from .traffic import Call, Invocation


@dataclass(frozen=True)
class Invariant:
    name: str
    value: int
    detail: str = ""
    examples: tuple[str, ...] = ()

    @property
    def holds(self) -> bool:
        return self.value == 0


@dataclass
class Figures:
    sets: int = 0
    results: int = 0
    failed: int = 0
    superseded: int = 0
    replaced: int = 0  # results replaced by a newer set's (where a reader could be torn)
    envelopes: int = 0
    lambda_records: int = 0
    invariants: list[Invariant] = field(default_factory=list)
    calls_per_set: Counter[int] = field(default_factory=Counter)
    paid_per_set: Counter[int] = field(default_factory=Counter)
    dlq_per_failed_set: Counter[int] = field(default_factory=Counter)
    api_statuses: Counter[int] = field(default_factory=Counter)
    api_unattributed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    surprises: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(invariant.holds for invariant in self.invariants)


@dataclass(frozen=True)
class _Paid:
    answer: ApiCall
    excuse: str  # why it could not have been stored; "" if it could
    fate: str  # what became of the invocation that received it


@dataclass
class _SetLedger:
    subject: str
    paid: list[_Paid] = field(default_factory=list)
    calls: int = 0
    envelopes: list[dict[str, Any]] = field(default_factory=list)
    lambda_records: int = 0
    sent_in_window: int = 0  # DLQ sends whose recording the invocation did not live to make
    has_result: bool = False


def judge(
    sets: list[CompletedSet],
    runs: list[Run],
    api_calls: list[ApiCall],
    messages: list[Message],
    folders: dict[str, Folder],
    folder_of: Callable[[str], str],
    torn: list[TornRead],
) -> Figures:
    figures = Figures()
    ledgers = {s.fingerprint: _SetLedger(s.subject) for s in sets}
    figures.sets = len(ledgers)
    by_closing = {(s.closing_key, s.closing_etag): s.fingerprint for s in sets}
    calls = {
        f"{run.invocation.tag}/{call.index}": (run.invocation, call)
        for run in runs
        for call in run.invocation.calls
    }

    _count_api_calls(figures, ledgers, api_calls, calls, {run.invocation.tag: run for run in runs})
    _count_dead_letters(figures, ledgers, messages, runs, by_closing)
    for folder in folders.values():
        figures.replaced += max(len({str(d.get("fingerprint")) for d in folder.results}) - 1, 0)
        for document in folder.results:
            ledger = ledgers.get(str(document.get("fingerprint")))
            if ledger is not None:
                ledger.has_result = True

    figures.results = sum(ledger.has_result for ledger in ledgers.values())
    failed = {fp for fp, ledger in ledgers.items() if ledger.envelopes or ledger.lambda_records}
    figures.failed = len(failed)
    for ledger in ledgers.values():
        figures.calls_per_set[ledger.calls] += 1
        figures.paid_per_set[len(ledger.paid)] += 1
    for fingerprint in failed:
        ledger = ledgers[fingerprint]
        figures.dlq_per_failed_set[len(ledger.envelopes) + ledger.lambda_records] += 1

    final = {s.subject: s for s in sets}  # each subject's last set: the one that must end
    figures.superseded = sum(
        1
        for fp, ledger in ledgers.items()
        if not ledger.has_result and fp not in failed and final[ledger.subject].fingerprint != fp
    )
    _outcomes(figures, final, ledgers)
    figures.invariants = [
        _lost(final, ledgers),
        _paid_twice(ledgers),
        Invariant(
            "API calls not attributable to a set",
            figures.api_unattributed,
            "made before any claim: paid once could not be judged for them",
        ),
        Invariant(
            "torn reads",
            len(torn),
            "a reader following result.json got other bytes than it lists",
            tuple(f"{t.subject}/{t.name}: {t.problem}" for t in torn[:5]),
        ),
        _dead_letters(ledgers, failed),
        _both_outcomes(ledgers),
        _stale(final, ledgers, folders, folder_of),
        Invariant(
            "result folders not matching result.json at rest",
            sum(1 for folder in folders.values() if folder.at_rest),
            "latest objects differ from what the current result.json lists",
            tuple(
                f"{name}: {'; '.join(folder.at_rest)}"
                for name, folder in list(folders.items())[:50]
                if folder.at_rest
            )[:5],
        ),
    ]
    return figures


def _count_api_calls(
    figures: Figures,
    ledgers: dict[str, _SetLedger],
    api_calls: list[ApiCall],
    calls: dict[str, tuple[Invocation, Call]],
    runs: dict[str, Run],
) -> None:
    for answer in sorted(api_calls, key=lambda a: a.started):
        figures.api_statuses[answer.status] += 1
        found = calls.get(answer.call)
        ledger = ledgers.get(found[1].fingerprint or "") if found else None
        if found is None or ledger is None:
            figures.api_unattributed += 1
            continue
        invocation, call = found
        ledger.calls += 1
        if answer.paid:
            fate = _fate(runs[invocation.tag])
            ledger.paid.append(_Paid(answer, _excuse(answer, invocation, call), fate))


def _excuse(answer: ApiCall, invocation: Invocation, call: Call) -> str:
    """Why a paid answer could not have been stored, if it could not."""
    if answer.cut:
        return "cut in transit"
    if call.status is None and not call.killed:
        return "not awaited"  # the function's own timeout gave up on the answer
    if call.killed == "after":
        return "died on the answer"
    following = invocation.call_after(call)
    if following and following.killed == "before" and following.action.startswith("PUT "):
        return "died before storing it"
    return ""


def _fate(run: Run) -> str:
    """How an invocation ended, in a few words."""
    died = next((call for call in run.invocation.calls if call.killed), None)
    if died is not None:
        return (
            f"{run.invocation.tag} was {run.invocation.death} {died.killed} its call "
            f"{died.index} ({died.service} {died.verb})"
        )
    if run.outcome == "error":
        return f"{run.invocation.tag} raised {run.error.rstrip().rpartition(chr(10))[2][:120]}"
    return f"{run.invocation.tag} {run.outcome}"


def _paid_twice(ledgers: dict[str, _SetLedger]) -> Invariant:
    """Sets paid again after an answer the function received and could have stored."""
    twice, inside, excused, examples = 0, 0, Counter[str](), []
    for fingerprint, ledger in ledgers.items():
        stored_at = next((n for n, paid in enumerate(ledger.paid) if not paid.excuse), None)
        if stored_at is not None and stored_at < len(ledger.paid) - 1:
            twice += 1
            examples.append(
                f"{ledger.subject} ({fingerprint[:12]}): paid {len(ledger.paid)}x; answer "
                f"{stored_at + 1} reached it, then {ledger.paid[stored_at].fate}"
            )
        elif len(ledger.paid) > 1:
            inside += 1
            for paid in ledger.paid[:-1]:
                excused[paid.excuse or "?"] += 1
    reasons = ", ".join(f"{n} {why}" for why, n in sorted(excused.items()))
    detail = f"outside the window; {inside} more inside it" + (f": {reasons}" if reasons else "")
    return Invariant("sets paid more than once", twice, detail, tuple(examples[:5]))


def _count_dead_letters(
    figures: Figures,
    ledgers: dict[str, _SetLedger],
    messages: list[Message],
    runs: list[Run],
    by_closing: dict[tuple[str, str], str],
) -> None:
    claimed: dict[str, str] = {}
    for run in runs:
        if run.invocation.claimed:
            claimed[run.invocation.request_id] = run.invocation.claimed
        for call in run.invocation.calls:
            fingerprint = call.failure_fingerprint
            if fingerprint in ledgers and call.sent and _died_after(run.invocation, call):
                ledgers[fingerprint].sent_in_window += 1
    for message in messages:
        body = message.json() or {}
        if body.get("schema") == FAILURE_SCHEMA:
            figures.envelopes += 1
            ledger = ledgers.get(str(body.get("fingerprint")))
            if ledger is not None:
                ledger.envelopes.append(body)
            else:
                figures.notes.append(f"an envelope for no completed set: {body.get('subject')}")
            continue
        if "requestContext" not in body:
            figures.notes.append("a DLQ message of unknown shape")
            continue
        figures.lambda_records += 1
        fingerprint = claimed.get(body["requestContext"].get("requestId", "")) or _event_set(
            body.get("requestPayload"), by_closing
        )
        if fingerprint in ledgers:
            ledgers[fingerprint].lambda_records += 1
        else:
            figures.notes.append("a Lambda record for an event that closes no set (a view)")


def _died_after(invocation: Invocation, call: Call) -> bool:
    """Whether the invocation died after `call` was sent and before its next call was."""
    following = invocation.call_after(call)
    return call.killed == "after" or (following is not None and following.killed == "before")


def _event_set(event: Any, by_closing: dict[tuple[str, str], str]) -> str | None:
    try:
        s3 = event["Records"][0]["s3"]
        return by_closing.get((unquote_plus(s3["object"]["key"]), s3["object"]["eTag"]))
    except (KeyError, IndexError, TypeError):
        return None


def _dead_letters(ledgers: dict[str, _SetLedger], failed: Iterable[str]) -> Invariant:
    extra, excused, examples = 0, 0, []
    for fingerprint in failed:
        ledger = ledgers[fingerprint]
        more = len(ledger.envelopes) + ledger.lambda_records - 1
        forgiven = min(more, ledger.sent_in_window)
        excused += forgiven
        if more > forgiven:
            extra += 1
            examples.append(
                f"{ledger.subject}: {len(ledger.envelopes)} envelope(s), "
                f"{ledger.lambda_records} Lambda record(s)"
            )
    return Invariant(
        "failed sets with more than one DLQ message",
        extra,
        f"outside the window; {excused} more inside it",
        tuple(examples[:5]),
    )


def _both_outcomes(ledgers: dict[str, _SetLedger]) -> Invariant:
    both = [ledger for ledger in ledgers.values() if ledger.has_result and ledger.envelopes]
    return Invariant(
        "sets with a result and a failure envelope",
        len(both),
        "one set, two terminal outcomes",
        tuple(f"{ledger.subject}: {ledger.envelopes[0]['error']['code']}" for ledger in both[:5]),
    )


def _lost(final: dict[str, CompletedSet], ledgers: dict[str, _SetLedger]) -> Invariant:
    lost = [
        s
        for s in final.values()
        if not ledgers[s.fingerprint].has_result
        and not ledgers[s.fingerprint].envelopes
        and not ledgers[s.fingerprint].lambda_records
    ]
    return Invariant(
        "lost",
        len(lost),
        "a subject's last set ended in neither a result nor a failure record",
        tuple(f"{s.subject} ({s.fingerprint[:12]})" for s in lost[:5]),
    )


def _stale(
    final: dict[str, CompletedSet],
    ledgers: dict[str, _SetLedger],
    folders: dict[str, Folder],
    folder_of: Callable[[str], str],
) -> Invariant:
    """Subjects whose last set succeeded but whose current result.json is another set's."""
    stale = []
    for subject, last in final.items():
        ledger = ledgers[last.fingerprint]
        if not ledger.has_result or ledger.envelopes or ledger.lambda_records:
            continue
        current = folders.get(folder_of(subject))
        document = current.current_result if current else None
        if not document or document.get("fingerprint") != last.fingerprint:
            stale.append(subject)
    return Invariant(
        "subjects whose current result is not their last set's",
        len(stale),
        "an older set became current over a newer one",
        tuple(stale[:5]),
    )


def _outcomes(
    figures: Figures, final: dict[str, CompletedSet], ledgers: dict[str, _SetLedger]
) -> None:
    """What each subject's last set ended as, against what its photos should give."""
    for last in final.values():
        ledger = ledgers[last.fingerprint]
        if ledger.has_result:
            outcome = "succeeded"
        elif ledger.envelopes:
            outcome = str(ledger.envelopes[-1]["error"]["code"])
        elif ledger.lambda_records:
            outcome = "Lambda record"
        else:
            outcome = "lost"
        figures.outcomes[outcome] += 1
        if outcome != last.expect:
            figures.surprises[f"expected {last.expect}, got {outcome}"] += 1
