"""tools/soak/trace.py: a subject's story when an invariant names it (pure)."""

from __future__ import annotations

from face3d.function.events import object_created_event
from tools.soak.feeder import CompletedSet, Uploaded
from tools.soak.lambda_runtime import Run
from tools.soak.trace import subject_story
from tools.soak.traffic import Call, Invocation

OLD, NEW = "a" * 64, "b" * 64
MANIFEST = "incoming/ada/manifest.json"


def run_on(key: str, started: float, claimed: str, *actions: str) -> Run:
    inv = Invocation(f"req-{started:g}", 1, deadline=1e9, claimed=claimed)
    for index, action in enumerate(actions, 1):
        inv.calls.append(Call(index, "s3", action, started + index / 10, 200))
    event = object_created_event("bucket", key, etag="m", size=2)
    return Run(inv, event, "delivery", "succeeded", started=started, ended=started + 1)


def test_the_story_puts_uploads_sets_invocations_and_result_versions_on_one_clock() -> None:
    uploads = [
        Uploaded(100.5, "incoming/ada/front.jpg", "f1" * 16, "v1"),
        Uploaded(100.6, MANIFEST, "m" * 32, "v2"),
        Uploaded(103.0, "incoming/ada/front.jpg", "f2" * 16, "v3"),
        Uploaded(103.1, MANIFEST, "m" * 32, "v4"),
        Uploaded(101.0, "incoming/bob.jpg", "b" * 32, "v5"),  # another subject
    ]
    sets = [
        CompletedSet("ada", 0, OLD, "succeeded", MANIFEST, "m" * 32, 100.6),
        CompletedSet("ada", 1, NEW, "succeeded", MANIFEST, "m" * 32, 103.1),
    ]
    runs = [
        run_on(MANIFEST, 104.0, NEW, "PUT results/ada/result.json"),
        run_on(MANIFEST, 101.0, OLD, "PUT results/ada/result.json"),
        run_on("incoming/bob.jpg", 101.0, "c" * 64, "PUT results/bob/result.json"),
    ]
    results = [{"fingerprint": NEW}, {"fingerprint": OLD}]

    story = subject_story("ada", "incoming/", 100.0, uploads, sets, runs, results)

    text = "\n".join(story)
    assert story[0] == "trace of ada:"
    assert f"set 1: {NEW[:12]} closed by {MANIFEST}" in text
    assert "   3.000 upload incoming/ada/front.jpg etag f2f2f2f2 version v3" in text
    assert "bob" not in text
    older, newer = text.index("run req-101"), text.index("run req-104")
    assert older < newer  # in the order they ran
    assert f"claimed {OLD[:12]}" in text
    assert "   1.100 s3 PUT results/ada/result.json -> 200" in text
    assert story[-1] == f"  result.json versions, oldest first: {NEW[:12]}, {OLD[:12]}"
