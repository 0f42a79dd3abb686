"""Fault rules: which requests they match, how often and how likely they apply."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from airflow_provider_bifrost.testing.emulator.faults import FaultRule, FaultSet


def test_matches() -> None:
    rule = FaultRule(action="status", method="get", path="/results$", query="provider=openai")
    assert rule.matches("GET", "/v1/batches/b/results", "provider=openai")
    assert not rule.matches("POST", "/v1/batches/b/results", "provider=openai")
    assert not rule.matches("GET", "/v1/batches/b", "provider=openai")
    assert not rule.matches("GET", "/v1/batches/b/results", "provider=gemini")


def test_times_and_snapshot() -> None:
    faults = FaultSet(0)
    faults.replace([FaultRule(action="drop", times=2)])
    assert [faults.pick("GET", "/", "") is not None for _ in range(3)] == [True, True, False]
    assert faults.snapshot()[0]["applied"] == 2


def test_probability_is_seeded() -> None:
    def draws(seed: int) -> list[bool]:
        faults = FaultSet(seed)
        faults.replace([FaultRule(action="drop", probability=0.5)])
        return [faults.pick("GET", "/", "") is not None for _ in range(40)]

    assert draws(7) == draws(7)
    assert 0 < sum(draws(7)) < 40


def test_invalid_regex_is_refused() -> None:
    with pytest.raises(ValidationError):
        FaultRule(action="status", path="(")
