"""S3 on moto, with bucket policies evaluated against the condition keys a local request carries."""

from __future__ import annotations

import fnmatch
import functools
import json
from typing import Any

# The local endpoint stands in for S3's TLS endpoint and is reached only on 127.0.0.1, so requests are evaluated
# as aws:SecureTransport=true.
LOCAL_REQUEST_CONDITIONS = {"aws:SecureTransport": "true"}


def condition_holds(condition: dict[str, Any], context: dict[str, str]) -> bool:
    """IAM condition evaluation for the keys a local request carries (AWS semantics: a missing key fails the
    condition unless the operator ends in IfExists, or is Null). Operators beyond these are treated as not
    holding, so the statement does not apply locally."""
    for operator, tests in condition.items():
        base = operator.removesuffix("IfExists")
        for key, expected in tests.items():
            wanted = [str(v) for v in (expected if isinstance(expected, list) else [expected])]
            actual = context.get(key)
            if base == "Null":
                if (actual is None) != (wanted[0].lower() == "true"):
                    return False
                continue
            if actual is None:
                if operator.endswith("IfExists"):
                    continue
                return False
            if base == "Bool":
                held = actual.lower() in [w.lower() for w in wanted]
            elif base == "StringEquals":
                held = actual in wanted
            elif base == "StringEqualsIgnoreCase":
                held = actual.lower() in [w.lower() for w in wanted]
            elif base == "StringNotEquals":
                held = actual not in wanted
            elif base in ("StringLike", "ArnLike", "ArnEquals"):
                held = any(fnmatch.fnmatchcase(actual, w) for w in wanted)
            elif base in ("StringNotLike", "ArnNotLike", "ArnNotEquals"):
                held = not any(fnmatch.fnmatchcase(actual, w) for w in wanted)
            else:
                return False
            if not held:
                return False
    return True


def effective_statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements whose conditions hold for a local request, with their conditions removed.

    moto 5.2.5 answers DENIED for any statement whose condition does not hold, even an Allow or a Deny that
    should not apply, and does not evaluate Bool; so a TLS-only Deny (the secure default) would block every
    request. Conditions are evaluated here before moto evaluates actions, resources and effects.
    """
    statements = policy.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    kept = []
    for statement in statements:
        if "Condition" in statement:
            if not condition_holds(statement["Condition"], LOCAL_REQUEST_CONDITIONS):
                continue
            statement = {k: v for k, v in statement.items() if k != "Condition"}
        kept.append(statement)
    return kept


def install() -> None:
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    if getattr(FakeBucket.get_permission, "_cd4ml_hook", False):
        return

    @functools.wraps(FakeBucket.get_permission)
    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(self.policy.decode())
        statements = effective_statements(document)
        if not statements:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps({**document, "Statement": statements})).is_action_permitted(action, resource)

    get_permission._cd4ml_hook = True  # type: ignore[attr-defined]
    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]
