"""Faults injected into the function's own AWS calls, one rule at a time, and invocations killed.

`Faults` is a botocore `before-parameter-build` hook: registered on the clients the function
builds (never on the test's own), it sees every S3, SQS and Secrets Manager call with its
parameters before anything is sent, and can make it fail as the service would (a `ClientError`
with the service's code, which botocore does not retry) or cut the invocation off: `Killed` is
raised there and at every later call of the invocation, as when Lambda's timeout or a crashed
runtime stops it mid-way. Nothing in the function catches a `BaseException` it did not raise
itself, so a killed invocation leaves behind exactly what it had written.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

HOOK_EVENT = "before-parameter-build"
HOOK_ID = "face3d-test-faults"


class Killed(BaseException):
    """The invocation was cut off: none of its further calls reaches AWS or the API."""


@dataclass
class Rule:
    """Calls of `operation` (botocore's name: PutObject, GetObject, HeadObject, SendMessage ...)
    whose Key ends with `key`, or matches it as a pattern if it has a `*` (any key if None): the
    `skip` first ones pass, then `times` of them (None: all) fail with `code`/`status`, or kill
    the invocation."""

    operation: str
    key: str | None = None
    code: str = "InternalError"
    status: int = 500
    times: int | None = 1
    skip: int = 0
    kill: bool = False
    # Instead of failing: run this first (another invocation, say), then let the call go on.
    meanwhile: Callable[[], None] | None = None
    hits: int = 0  # calls that matched the rule

    def matches(self, operation: str, key: str | None) -> bool:
        if operation != self.operation:
            return False
        if self.key is None:
            return True
        if key is None:
            return False
        if "*" in self.key:  # a pattern, for keys named by a fingerprint
            return fnmatch.fnmatchcase(key, self.key)
        return key.endswith(self.key)

    def fires(self) -> bool:
        self.hits += 1
        if self.hits <= self.skip:
            return False
        return self.times is None or self.hits - self.skip <= self.times


@dataclass
class Faults:
    rules: list[Rule] = field(default_factory=list)
    calls: list[tuple[str, str | None]] = field(default_factory=list)  # (operation, key)
    killed: bool = False
    # Run once when a kill fires, before it raises: a test's look at the bucket at that moment.
    on_kill: Callable[[], None] | None = None

    def fail(
        self,
        operation: str,
        key: str | None = None,
        *,
        code: str = "InternalError",
        status: int = 500,
        times: int | None = 1,
        skip: int = 0,
    ) -> Rule:
        rule = Rule(operation, key, code, status, times, skip)
        self.rules.append(rule)
        return rule

    def deny(self, operation: str, key: str | None = None, *, times: int | None = None) -> Rule:
        """The function's role lacks the permission (403 AccessDenied)."""
        return self.fail(operation, key, code="AccessDenied", status=403, times=times)

    def kill(self, operation: str, key: str | None = None, *, skip: int = 0) -> Rule:
        """Cut the invocation off at this call (it is not made) and at every later one."""
        rule = Rule(operation, key, skip=skip, kill=True)
        self.rules.append(rule)
        return rule

    def delay(self, operation: str, key: str | None, meanwhile: Callable[[], None]) -> Rule:
        """Hold the first matching call back until `meanwhile` has run: a late writer."""
        rule = Rule(operation, key, meanwhile=meanwhile)
        self.rules.append(rule)
        return rule

    def revive(self) -> None:
        """A new invocation: nothing is cut off any more, the rules that fired stay spent."""
        self.killed = False

    def clear(self) -> None:
        self.rules.clear()
        self.killed = False

    def check(self) -> None:
        """For fakes outside botocore (the API): raise if the invocation was cut off."""
        if self.killed:
            raise Killed("the invocation was cut off before this call")

    def count(self, operation: str, key: str | None = None) -> int:
        return sum(1 for op, k in self.calls if Rule(operation, key).matches(op, k))

    def hook(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        operation = model.name
        key = params.get("Key") or params.get("SecretId") or params.get("QueueUrl")
        self.check()
        self.calls.append((operation, key))
        for rule in self.rules:
            if rule.matches(operation, key) and rule.fires():
                if rule.meanwhile is not None:
                    rule.meanwhile()
                    continue
                if rule.kill:
                    self.killed = True
                    if self.on_kill is not None:
                        self.on_kill()
                    raise Killed(f"cut off at {operation} {key}")
                raise ClientError(
                    {
                        "Error": {"Code": rule.code, "Message": f"injected {rule.code}"},
                        "ResponseMetadata": {"HTTPStatusCode": rule.status},
                    },
                    operation,
                )

    def attach(self, client: Any) -> None:
        client.meta.events.register_first(HOOK_EVENT, self.hook, unique_id=HOOK_ID)


def detach(client: Any) -> None:
    client.meta.events.unregister(HOOK_EVENT, unique_id=HOOK_ID)
