"""Token usage in an export against the emulator: every provider's shape, checked against an independent count."""

from __future__ import annotations

import gzip
import json
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_bifrost.hooks.bifrost import BifrostHook
from airflow_provider_bifrost.operators.bifrost import BifrostBatchResultsOperator
from airflow_provider_bifrost.results.export import ResultsExport
from airflow_provider_bifrost.storage.manifest import read_manifest
from tests.unit.results.test_usage import COUNTS, EMULATED, expected_usage

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_provider_bifrost.testing.emulator import EmulatorClient

CONTEXT: Any = {}


@pytest.fixture(autouse=True)
def bifrost_default(emulator: EmulatorClient, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "bifrost", "host": emulator.url, "extra": {"default_provider": "openai"}}
    monkeypatch.setenv("AIRFLOW_CONN_BIFROST_DEFAULT", json.dumps(conn))


def finished(emulator: EmulatorClient, provider: str, **kwargs: Any) -> str:
    batch = emulator.add_batch(provider, manual=True, **kwargs)
    emulator.set_status(batch["id"], "ended" if provider == "anthropic" else "completed")
    return str(batch["id"])


def exported_items(manifest: dict[str, Any], folder: Path) -> list[dict[str, Any]]:
    """Every exported line, read with plain ``json`` from the files on disk."""
    items: list[dict[str, Any]] = []
    for shard in manifest["shards"]:
        path = folder / shard["uri"].rsplit("/", 1)[1]
        with gzip.open(path) if path.suffix == ".gz" else path.open("rb") as stream:
            items.extend(json.loads(line) for line in stream)
    return items


@pytest.mark.parametrize(("provider", "endpoint", "style", "model"), EMULATED)
def test_usage_of_every_provider_shape_matches_a_hand_count_of_the_exported_lines(
    emulator: EmulatorClient, tmp_path: Path, provider: str, endpoint: str | None, style: str, model: str
) -> None:
    extra = {"endpoint": endpoint} if endpoint else {}
    batch_id = finished(emulator, provider, requests=1500, failed=31, item_bytes=600, **extra)
    manifest = BifrostBatchResultsOperator(
        task_id="export",
        batch_id=batch_id,
        provider=provider,
        output_uri=f"file://{tmp_path}",
        results_per_file=400,
        compression="gzip" if provider in ("openai", "gemini") else None,
    ).execute(CONTEXT)
    assert manifest == read_manifest(manifest["output_uri"])
    items = exported_items(manifest, tmp_path / manifest["output_uri"].rsplit("/", 1)[1])
    assert len(items) == manifest["counts"]["results"] == 1500  # OpenAI's failures come from its error file
    expected = expected_usage(items, style)
    assert expected["requests"] == manifest["counts"]["succeeded"] == 1469
    usage = manifest["usage"]
    assert usage["models"] == {model: {**expected, "cost_usd": None}}
    assert usage["total"] == {**expected, "cost_usd": None}
    assert (usage["without_usage"], usage["unpriced_models"]) == (0, [model])


def test_prices_give_the_cost(emulator: EmulatorClient, tmp_path: Path) -> None:
    batch_id = finished(emulator, "anthropic", requests=800, failed=12)
    price = {"input": 0.4, "output": 2.0, "cached_input": 0.04, "cache_write_input": 0.5}
    manifest = BifrostBatchResultsOperator(
        task_id="export",
        batch_id=batch_id,
        provider="anthropic",
        output_uri=f"file://{tmp_path}",
        prices={"anthropic/claude-3-5-haiku-latest": price, "claude-unused": {"input": 1, "output": 1}},
    ).execute(CONTEXT)
    counts = manifest["usage"]["total"]
    fresh = counts["input_tokens"] - counts["cached_input_tokens"] - counts["cache_write_input_tokens"]
    cost = (
        fresh * 0.4
        + counts["cached_input_tokens"] * 0.04
        + counts["cache_write_input_tokens"] * 0.5
        + counts["output_tokens"] * 2.0
    ) / 1e6
    assert counts["requests"] == 788 and counts["cache_write_input_tokens"] > 0
    assert counts["cost_usd"] == pytest.approx(cost, abs=1e-6)
    assert manifest["usage"]["models"]["claude-3-5-haiku-latest"]["cost_usd"] == counts["cost_usd"]
    assert manifest["usage"]["unpriced_models"] == []


def test_prices_from_a_rendered_template(emulator: EmulatorClient, tmp_path: Path) -> None:
    """A template renders the prices as a JSON string (a Variable): read once rendered."""
    batch_id = finished(emulator, "openai", requests=20)
    operator = BifrostBatchResultsOperator(
        task_id="export", batch_id=batch_id, output_uri=f"file://{tmp_path}", prices="{{ params.prices }}"
    )
    operator.prices = '{"gpt-4o-mini": {"input": "0.15", "output": 0.6}}'  # as rendered
    usage = operator.execute(CONTEXT)["usage"]
    assert usage["total"]["cost_usd"] == pytest.approx(
        (usage["total"]["input_tokens"] * 0.15 + usage["total"]["output_tokens"] * 0.6) / 1e6, abs=1e-6
    )


def test_counting_can_be_turned_off(emulator: EmulatorClient, tmp_path: Path) -> None:
    batch_id = finished(emulator, "openai", requests=30, failed=3)
    manifest = BifrostBatchResultsOperator(
        task_id="export", batch_id=batch_id, output_uri=f"file://{tmp_path}", count_usage=False
    ).execute(CONTEXT)
    assert manifest["usage"] is None
    assert manifest["counts"]["succeeded"] == 27


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, message: str, *args: Any) -> None:
        self.lines.append(("info", message % args))

    def warning(self, message: str, *args: Any) -> None:
        self.lines.append(("warning", message % args))


def test_xcom_mode_logs_the_usage_and_warns_of_unpriced_models(emulator: EmulatorClient) -> None:
    batch_id = finished(emulator, "openai", requests=40, failed=4)
    hook = BifrostHook()
    batch = hook.get_batch(batch_id, "openai")
    log = Log()
    export = ResultsExport(
        hook,
        batch,
        "openai",
        hook.profile("openai"),
        include_errors=True,
        log=log,  # type: ignore[arg-type]
        prices={"gpt-4o": {"input": 1, "output": 1}},
    )
    items = export.to_xcom(100)
    expected = expected_usage(items, "openai")
    usage_lines = [line for level, line in log.lines if "token usage" in line]
    assert usage_lines == [
        f"Batch {batch_id} token usage: gpt-4o-mini: 36 requests, {expected['input_tokens']:,} input tokens "
        f"({expected['cached_input_tokens']:,} cached), {expected['output_tokens']:,} output tokens"
    ]
    warnings = [line for level, line in log.lines if level == "warning"]
    assert warnings == [
        f"Batch {batch_id}: no price for 'gpt-4o-mini' in prices, so the cost leaves out their usage; prices name a "
        "model as the results do (above), or as <provider>/<model>."
    ]
    assert set(expected) == set(COUNTS)
