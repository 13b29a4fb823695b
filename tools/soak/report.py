"""The soak's printed figures: what happened, then each invariant with ok or FAIL."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .run import Outcome


def format_outcome(outcome: Outcome) -> str:
    o, f = outcome.options, outcome.figures
    calls = outcome.api_calls
    paid = sum(call.paid for call in calls)
    refused = f.api_statuses.get(403, 0)
    lines = [
        "",
        f"make soak: {o.subjects} subjects, {o.workers} workers, kill share {o.kill_share:g}, "
        f"seed {o.seed}",
        f"  engine: face3d serve --qps {o.qps} --fail-rate {o.fail_rate:g} "
        f"--latency-ms {o.latency_ms}; proxy cuts {o.cut_rate:g}, delays {o.delay_rate:g} "
        f"of answers by {o.delay_s:g} s",
        f"  function: timeout {o.timeout_s:g} s, {len(o.retry_delays)} async retries after "
        f"{', '.join(f'{d:g}' for d in o.retry_delays)} s",
        f"  uploads {outcome.uploads} (subjects dropped again: {_counts(outcome.reuploads)}); "
        f"deliveries {_counts(outcome.deliveries)}",
        f"  invocations {sum(outcome.runs.values())}: {_counts(outcome.runs)}",
        f"  deaths {sum(outcome.kills.values())}: {_counts(outcome.kills)}",
        "",
        f"sets delivered        {f.sets}",
        f"results               {f.results}",
        f"failure records       {f.failed} sets ({f.envelopes} envelopes, "
        f"{f.lambda_records} Lambda on-failure records)",
        f"superseded            {f.superseded} (replaced before they ended: the newer set's "
        "outcome is theirs)",
        f"last sets' outcomes   {_counts(f.outcomes)}",
    ]
    if f.surprises:
        lines.append(f"  not as the photos predict: {_counts(f.surprises)}")
    lines += [
        f"API calls per set     {_histogram(f.calls_per_set)}"
        + (f"; {f.api_unattributed} not attributable to a set" if f.api_unattributed else ""),
        f"paid answers per set  {_histogram(f.paid_per_set)}",
        f"DLQ messages per failed set  {_histogram(f.dlq_per_failed_set)}",
        f"API answers           {_counts({str(k): v for k, v in sorted(f.api_statuses.items())})}",
        f"throughput            {len(calls)} API calls in {outcome.seconds:.0f} s: "
        f"{(len(calls) - refused) / outcome.seconds:.2f}/s admitted against --qps {o.qps} "
        f"({refused} refused over it), {paid / outcome.seconds:.2f}/s paid; "
        f"{f.sets / outcome.seconds * 60:.0f} sets/min",
        f"reader                {outcome.reads[0]} result.json followed, {outcome.reads[1]} files "
        f"read ({outcome.reads[2]} by version id), while {f.replaced} results were replaced"
        + (f", {outcome.reader_errors} reads refused" if outcome.reader_errors else ""),
        "",
    ]
    width = max(len(i.name) for i in f.invariants)
    for invariant in f.invariants:
        mark = "ok" if invariant.holds else "FAIL"
        detail = f"  ({invariant.detail})" if invariant.detail else ""
        lines.append(f"{invariant.name:<{width}}  {invariant.value:>4}  {mark}{detail}")
        lines += [f"    e.g. {example}" for example in invariant.examples]
    lines.append(f"{'leaks (secret, key, image base64)':<{width}}  {len(outcome.leaks):>4}  "
                 f"{'ok' if not outcome.leaks else 'FAIL'}")  # fmt: skip
    lines += [f"    e.g. {leak}" for leak in outcome.leaks[:5]]
    if not outcome.settled:
        lines.append(f"NOT SETTLED: invocations still queued or running after {o.settle_s:g} s")
    lines += [f"note: {note}" for note in sorted(set(f.notes))]
    lines += outcome.traces
    verdict = "passed" if outcome.passed else "FAILED"
    lines.append(f"soak {verdict} in {outcome.seconds:.0f} s; the function's log: {outcome.log}")
    return "\n".join(lines)


def _counts(counts: dict[str, int] | Counter[str]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items() if n) or "none"


def _histogram(counts: Counter[int]) -> str:
    return ", ".join(f"{k}: {counts[k]}" for k in sorted(counts)) or "none"
