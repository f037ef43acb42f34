"""A lender's own credit policy: turn a verified check into a decision with reasons.

    policy = Policy([
        Rule("decline", "defaults_12m", ">=", 3, "3 or more defaults in the last 12 months"),
        Rule("refer", "open_dispute", "==", True, "a record is under dispute"),
    ])
    decision = policy.decide(result.summary)   # Decision(outcome="decline", reasons=[...])

Rules are data, so a policy can live in a JSON file (``Policy.from_json``). The outcome is the
most severe of the rules that fire (decline > refer > approve); every rule that fires is a
reason, so a person can be told why (PIPL Art. 24: no unexplained automated decision).
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arrears.ledger.errors import InputError
from arrears.ledger.records import Summary

OUTCOMES = ("approve", "refer", "decline")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}


def metrics_of(s: Summary) -> dict[str, Any]:
    """The values rules can test."""
    return {
        "defaults_12m": s.defaults_12m,
        "defaults_24m": s.defaults_24m,
        "defaults_60m": s.defaults_60m,
        "active": s.active,
        "settled": s.settled,
        "worst_dpd_bucket": s.worst_dpd_bucket,
        "open_dispute": s.open_dispute,
        "overdue_dispute": s.overdue_dispute,
        "reporting_members": len(s.reporting_members),
        "outstanding_total": sum(s.outstanding.values()),
        **{f"outstanding_{c}": v for c, v in s.outstanding.items()},
    }


@dataclass(frozen=True)
class Rule:
    outcome: str  # "refer" or "decline"
    metric: str
    op: str
    value: Any
    reason: str = ""

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES[1:]:
            raise InputError(f"rule.outcome: {self.outcome!r}, want refer or decline")
        if self.op not in _OPS:
            raise InputError(f"rule.op: {self.op!r}, want one of {' '.join(_OPS)}")

    def fires(self, metrics: Mapping[str, Any]) -> bool:
        if self.metric not in metrics and not self.metric.startswith("outstanding_"):
            raise InputError(f"rule.metric: unknown metric {self.metric!r}")
        got = metrics.get(self.metric, 0)
        try:
            return bool(_OPS[self.op](got, self.value))
        except TypeError:
            raise InputError(
                f"rule.value: {self.value!r} cannot be compared with {self.metric} ({got!r})"
            ) from None

    def explain(self, metrics: Mapping[str, Any]) -> str:
        got = metrics.get(self.metric, 0)
        text = self.reason or f"{self.metric} {self.op} {self.value}"
        return f"{text} ({self.metric} = {got})"


@dataclass(frozen=True)
class Decision:
    outcome: str
    reasons: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Policy:
    rules: Sequence[Rule]

    def decide(self, summary: Summary) -> Decision:
        m = metrics_of(summary)
        fired = [r for r in self.rules if r.fires(m)]
        if not fired:
            return Decision("approve", ("no rule of the policy fired",))
        worst = max(fired, key=lambda r: OUTCOMES.index(r.outcome)).outcome
        return Decision(worst, tuple(r.explain(m) for r in fired))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        try:
            return cls([Rule(**r) for r in data["rules"]])
        except (KeyError, TypeError) as e:
            raise InputError(
                f"policy: want {{'rules': [{{outcome, metric, op, value}}]}}: {e}"
            ) from None

    @classmethod
    def from_json(cls, path: Path) -> Policy:
        return cls.from_dict(json.loads(path.read_text()))

    @classmethod
    def default(cls) -> Policy:
        """A conservative starting point; every lender should write its own."""
        return cls(
            [
                Rule(
                    "decline", "defaults_12m", ">=", 3, "3 or more defaults in the last 12 months"
                ),
                Rule(
                    "decline", "worst_dpd_bucket", ">=", 4, "a default more than 90 days past due"
                ),
                Rule("refer", "active", ">=", 1, "an active default"),
                Rule("refer", "open_dispute", "==", True, "a record is under dispute"),
            ]
        )
