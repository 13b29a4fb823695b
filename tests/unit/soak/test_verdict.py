"""tools/soak/verdict.py: from what the soak saw to its invariants (pure)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from tools.soak.collect import Folder, Message
from tools.soak.feeder import CompletedSet
from tools.soak.lambda_runtime import Run
from tools.soak.proxy import ApiCall
from tools.soak.traffic import Call, Invocation
from tools.soak.verdict import Figures, Invariant, judge

OLD, NEW, OTHER = "a" * 64, "b" * 64, "c" * 64


def completed(subject: str, fingerprint: str, generation: int = 0) -> CompletedSet:
    return CompletedSet(subject, generation, fingerprint, "succeeded", f"incoming/{subject}.jpg",
                        f"etag-{fingerprint[:4]}", float(generation))  # fmt: skip


def invocation(request_id: str, attempt: int, *calls: tuple[str, str, str]) -> Run:
    """A run whose calls are (service, action, killed); the claim is taken by the first PUT."""
    inv = Invocation(request_id, attempt, deadline=1e9)
    for index, (service, action, killed) in enumerate(calls, 1):
        fingerprint = action.rpartition("/")[2][:64] if ".claims/" in action else inv.claimed
        inv.claimed = fingerprint
        call = Call(index, service, action, float(index), 200, killed, fingerprint)
        if action == "SendMessage":
            call.failure_fingerprint = inv.claimed
        inv.calls.append(call)
    death = next((c.killed for c in inv.calls if c.killed), "")
    inv.death = "killed" if death else ""
    return Run(inv, {}, "delivery", "killed" if death else "succeeded")


def claim(fingerprint: str) -> tuple[str, str, str]:
    return ("s3", f"PUT results/.claims/{fingerprint}.json", "")


def answer(run: Run, index: int, *, cut: bool = False, status: int = 200) -> ApiCall:
    return ApiCall(f"{run.invocation.tag}/{index}", status, float(index), float(index), cut=cut)


def envelope(fingerprint: str) -> Message:
    body = {"schema": "face3d.failure/v1", "fingerprint": fingerprint, "subject": "x",
            "error": {"code": "INTERNAL_ERROR", "retryable": True}}  # fmt: skip
    return Message(json.dumps(body), {"error_code": "INTERNAL_ERROR", "retryable": "true"})


def result_folder(*fingerprints: str, current: str | None = None) -> Folder:
    documents = [{"fingerprint": fp, "outputs": {}} for fp in fingerprints]
    last = current or (fingerprints[-1] if fingerprints else None)
    return Folder(results=documents, current_result={"fingerprint": last} if last else None)


def invariant(figures: Figures, name: str) -> Invariant:
    return next(i for i in figures.invariants if i.name.startswith(name))


def run_judge(
    sets: list[CompletedSet],
    runs: list[Run],
    calls: list[ApiCall],
    messages: Sequence[Message] = (),
    folders: dict[str, Folder] | None = None,
) -> Figures:
    return judge(sets, runs, calls, list(messages), folders or {}, lambda s: f"results/{s}/", [])


def test_an_answer_that_reached_a_live_invocation_and_was_paid_again_breaks_paid_once() -> None:
    first = invocation("r1", 1, claim(OLD), ("api", "POST", ""), ("s3", "HEAD x", "after"))
    retry = invocation("r1", 2, claim(OLD), ("api", "POST", ""))
    figures = run_judge(
        [completed("ada", OLD)],
        [first, retry],
        [answer(first, 2), answer(retry, 2)],
        folders={"results/ada/": result_folder(OLD)},
    )

    paid = invariant(figures, "sets paid more than once")
    assert paid.value == 1
    assert "r1/1 was killed after its call 3 (s3 HEAD)" in paid.examples[0]
    assert figures.paid_per_set[2] == 1


def test_answers_lost_in_the_one_putobject_window_or_in_transit_are_excused() -> None:
    died_on_answer = invocation("r1", 1, claim(OLD), ("api", "POST", "after"))
    died_before_put = invocation(
        "r1", 2, claim(OLD), ("api", "POST", ""), ("s3", "PUT a", "before")
    )
    cut = invocation("r1", 3, claim(OLD), ("api", "POST", ""))
    last = invocation("r2", 1, claim(OLD), ("api", "POST", ""), ("api", "POST", ""))
    calls = [answer(died_on_answer, 2), answer(died_before_put, 2), answer(cut, 2, cut=True),
             answer(last, 2, status=403), answer(last, 3)]  # fmt: skip

    runs = [died_on_answer, died_before_put, cut, last]

    figures = run_judge(
        [completed("ada", OLD)], runs, calls, folders={"results/ada/": result_folder(OLD)}
    )

    paid = invariant(figures, "sets paid more than once")
    assert paid.holds
    assert paid.detail == (
        "outside the window; 1 more inside it: "
        "1 cut in transit, 1 died before storing it, 1 died on the answer"
    )
    assert figures.calls_per_set[5] == 1
    assert figures.api_statuses == {200: 4, 403: 1}


def test_an_answer_the_function_stopped_waiting_for_is_excused() -> None:
    gave_up = invocation("r1", 1, claim(OLD), ("api", "POST", ""))
    gave_up.invocation.calls[-1].status = None  # the read timed out: the engine answered later
    retry = invocation("r1", 2, claim(OLD), ("api", "POST", ""))

    figures = run_judge(
        [completed("ada", OLD)], [gave_up, retry], [answer(gave_up, 2), answer(retry, 2)]
    )

    assert invariant(figures, "sets paid more than once").detail.endswith("1 not awaited")


def test_a_kill_after_the_store_call_was_sent_is_no_excuse() -> None:
    stored = invocation("r1", 1, claim(OLD), ("api", "POST", ""), ("s3", "PUT a", "after"))
    retry = invocation("r1", 2, claim(OLD), ("api", "POST", ""))

    figures = run_judge([completed("ada", OLD)], [stored, retry],
                        [answer(stored, 2), answer(retry, 2)])  # fmt: skip

    assert invariant(figures, "sets paid more than once").value == 1


def test_a_second_dlq_message_is_excused_only_when_its_sender_died_right_after_sending() -> None:
    window = invocation("r1", 1, claim(OLD), ("sqs", "SendMessage", ""), ("s3", "PUT e", "before"))
    again = invocation("r1", 2, claim(OLD), ("sqs", "SendMessage", ""))
    lived = invocation("r3", 1, claim(NEW), ("sqs", "SendMessage", ""), ("s3", "PUT e", ""))
    twice = invocation("r3", 2, claim(NEW), ("sqs", "SendMessage", ""))

    figures = run_judge(
        [completed("ada", OLD), completed("bob", NEW)],
        [window, again, lived, twice],
        [],
        [envelope(OLD), envelope(OLD), envelope(NEW), envelope(NEW)],
    )

    dead_letters = invariant(figures, "failed sets with more than one DLQ message")
    assert dead_letters.value == 1
    assert dead_letters.examples == ("bob: 2 envelope(s), 0 Lambda record(s)",)
    assert "1 more inside it" in dead_letters.detail
    assert figures.dlq_per_failed_set[2] == 2


def test_a_lambda_record_counts_for_the_set_its_request_claimed() -> None:
    died = invocation("r1", 3, claim(OLD), ("api", "POST", "before"))
    record = {"requestContext": {"requestId": "r1"}, "requestPayload": {"Records": []}}

    figures = run_judge([completed("ada", OLD)], [died], [], [Message(json.dumps(record), {})])

    assert invariant(figures, "lost").holds
    assert figures.lambda_records == 1
    assert figures.outcomes["Lambda record"] == 1


def test_only_a_subjects_last_set_can_be_lost_and_an_earlier_one_is_superseded() -> None:
    sets = [completed("ada", OLD, 0), completed("ada", NEW, 1), completed("bob", OTHER)]

    figures = run_judge(sets, [], [], folders={"results/bob/": result_folder(OTHER)})

    lost = invariant(figures, "lost")
    assert lost.value == 1
    assert lost.examples == (f"ada ({NEW[:12]})",)
    assert figures.superseded == 1
    assert figures.results == 1


def test_an_older_set_current_over_the_last_one_and_two_outcomes_for_one_set_are_caught() -> None:
    sets = [completed("ada", OLD, 0), completed("ada", NEW, 1)]
    folders = {"results/ada/": result_folder(OLD, NEW, current=OLD)}
    worker = invocation("r1", 1, claim(NEW), ("sqs", "SendMessage", ""))

    figures = run_judge(sets, [worker], [], [envelope(NEW)], folders)

    assert invariant(figures, "subjects whose current result").value == 0  # NEW failed too
    assert invariant(figures, "sets with a result and a failure envelope").value == 1
    figures = run_judge(sets, [], [], [], folders)
    assert invariant(figures, "subjects whose current result").examples == ("ada",)
    assert figures.replaced == 1


def test_outcomes_are_compared_with_what_the_photos_predict() -> None:
    expected_failure = CompletedSet("cup", 0, OLD, "NO_FACE_FOUND", "incoming/cup.jpg", "e", 0.0)

    figures = run_judge([expected_failure], [], [], [envelope(OLD)])

    assert figures.outcomes == {"INTERNAL_ERROR": 1}
    assert figures.surprises == {"expected NO_FACE_FOUND, got INTERNAL_ERROR": 1}
    assert figures.passed  # a surprise is a figure, not a broken promise


def test_calls_from_no_invocation_or_no_claim_are_counted_apart() -> None:
    unclaimed = invocation("r1", 1, ("api", "POST", ""))

    figures = run_judge([completed("ada", OLD)], [unclaimed],
                        [answer(unclaimed, 1), ApiCall("", 200, 0.0, 0.0)])  # fmt: skip

    assert figures.api_unattributed == 2
    assert figures.paid_per_set == {0: 1}
    assert invariant(figures, "API calls not attributable").value == 2
