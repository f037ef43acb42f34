"""A lender's policy: the most severe rule that fires decides, every rule that fires is a
reason, and a policy that cannot be applied is refused as an InputError."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from arrears.client.policy import Decision, Policy, Rule, metrics_of
from arrears.ledger.errors import InputError
from arrears.ledger.records import Summary

CLEAN = Summary(
    as_of=date(2026, 11, 2),
    defaults_12m=0,
    defaults_24m=0,
    defaults_60m=0,
    active=0,
    settled=0,
    worst_dpd_bucket=0,
    outstanding={},
    open_dispute=False,
    overdue_dispute=False,
    reporting_members=(),
)
THREE_DEFAULTS = replace(
    CLEAN,
    defaults_12m=3,
    defaults_24m=3,
    defaults_60m=3,
    active=3,
    worst_dpd_bucket=2,
    outstanding={"CNY": 1_500_000},
    reporting_members=("bank-a", "bank-b", "bank-d"),
)


def test_a_clean_subject_is_approved_with_a_reason() -> None:
    d = Policy.default().decide(CLEAN)
    assert d == Decision("approve", ("no rule of the policy fired",))


def test_three_defaults_in_a_year_are_declined_with_every_reason() -> None:
    d = Policy.default().decide(THREE_DEFAULTS)
    assert d.outcome == "decline"
    assert d.reasons == (
        "3 or more defaults in the last 12 months (defaults_12m = 3)",
        "an active default (active = 3)",
    )


def test_the_most_severe_rule_decides_whatever_the_order() -> None:
    rules = [
        Rule("refer", "active", ">=", 1),
        Rule("decline", "worst_dpd_bucket", ">=", 4, "more than 90 days past due"),
    ]
    s = replace(CLEAN, active=1, worst_dpd_bucket=5)
    for order in (rules, list(reversed(rules))):
        assert Policy(order).decide(s).outcome == "decline"
    assert Policy(rules).decide(replace(s, worst_dpd_bucket=1)) == Decision(
        "refer", ("active >= 1 (active = 1)",)
    )


def test_a_dispute_is_referred_to_a_person() -> None:
    d = Policy.default().decide(replace(CLEAN, active=1, open_dispute=True))
    assert d.outcome == "refer"
    assert "a record is under dispute (open_dispute = True)" in d.reasons


@pytest.mark.parametrize(
    ("op", "value", "fires"),
    [
        (">=", 2, True),
        (">", 2, False),
        ("<=", 2, True),
        ("<", 2, False),
        ("==", 2, True),
        ("!=", 2, False),
    ],
)
def test_every_comparison(op: str, value: int, fires: bool) -> None:
    s = replace(CLEAN, defaults_24m=2)
    assert Policy([Rule("refer", "defaults_24m", op, value)]).decide(s).outcome == (
        "refer" if fires else "approve"
    )


def test_metrics_cover_the_summary_and_outstanding_per_currency() -> None:
    s = replace(THREE_DEFAULTS, outstanding={"CNY": 1_500_000, "USD": 20_000}, overdue_dispute=True)
    m = metrics_of(s)
    assert m["outstanding_total"] == 1_520_000
    assert m["outstanding_USD"] == 20_000
    assert m["reporting_members"] == 3
    assert m["overdue_dispute"] is True
    # a currency the subject owes nothing in counts as zero
    rule = Rule("decline", "outstanding_EUR", ">", 0)
    assert Policy([rule]).decide(s).outcome == "approve"
    assert Policy([Rule("decline", "outstanding_USD", ">", 0)]).decide(s).outcome == "decline"


def test_from_dict_and_from_json(tmp_path: Path) -> None:
    data: dict[str, Any] = {
        "rules": [
            {"outcome": "decline", "metric": "defaults_12m", "op": ">=", "value": 3},
            {
                "outcome": "refer",
                "metric": "outstanding_total",
                "op": ">",
                "value": 1_000_000,
                "reason": "owes more than 10,000 CNY",
            },
        ]
    }
    policy = Policy.from_dict(data)
    assert policy.rules[1] == Rule(
        "refer", "outstanding_total", ">", 1_000_000, "owes more than 10,000 CNY"
    )
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(data))
    assert Policy.from_json(path) == policy
    d = policy.decide(THREE_DEFAULTS)
    assert d.outcome == "decline"
    assert d.reasons == (
        "defaults_12m >= 3 (defaults_12m = 3)",
        "owes more than 10,000 CNY (outstanding_total = 1500000)",
    )


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"outcome": "approve", "metric": "active", "op": ">=", "value": 1}, "rule.outcome"),
        ({"outcome": "reject", "metric": "active", "op": ">=", "value": 1}, "rule.outcome"),
        ({"outcome": "decline", "metric": "active", "op": "=>", "value": 1}, "rule.op"),
        ({"outcome": "decline", "metric": "active", "op": ">="}, "policy"),
        ({"outcome": "decline", "metric": "active", "op": ">=", "value": 1, "x": 2}, "policy"),
    ],
)
def test_a_bad_rule_is_an_input_error(rule: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError, match=re.escape(field)):
        Policy.from_dict({"rules": [rule]})


@pytest.mark.parametrize("data", [{}, {"rules": [1]}, {"rules": ["decline"]}, {"rule": []}])
def test_a_policy_of_the_wrong_shape_is_an_input_error(data: dict[str, Any]) -> None:
    with pytest.raises(InputError, match="policy"):
        Policy.from_dict(data)


def test_a_policy_file_with_a_bad_rule_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"rules": [{"outcome": "deny", "metric": "a", "op": "<"}]}))
    with pytest.raises(InputError):
        Policy.from_json(path)


def test_an_unknown_metric_is_an_input_error_when_applied() -> None:
    policy = Policy([Rule("decline", "defaults_13m", ">=", 1)])
    with pytest.raises(InputError, match="unknown metric 'defaults_13m'"):
        policy.decide(CLEAN)


def test_a_value_that_cannot_be_compared_is_an_input_error() -> None:
    policy = Policy.from_dict(
        {"rules": [{"outcome": "decline", "metric": "defaults_12m", "op": ">=", "value": "3"}]}
    )
    with pytest.raises(InputError, match=r"rule\.value"):
        policy.decide(THREE_DEFAULTS)


def test_a_policy_without_rules_approves_everyone() -> None:
    assert Policy([]).decide(THREE_DEFAULTS).outcome == "approve"
