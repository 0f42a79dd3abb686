"""Ids in the URL path: one percent-encoded segment, decoded as current gateways decode it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from airflow_provider_bifrost.testing.emulator.routing import decode_segment, path_id, routing_path
from tests.unit.testing.emulator.helpers import (
    INSTANT,
    PROVIDERS,
    assert_bifrost_error,
    cancel,
    get_batch,
    results,
    seg,
)

if TYPE_CHECKING:
    import httpx

    from airflow_provider_bifrost.testing.emulator import EmulatorClient


def test_routing_path_keeps_each_segment_whole() -> None:
    raw = "/v1/batches/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Amodel-invocation-job%2Fabc/results"
    assert routing_path(raw) == "/v1/batches/arn:aws:bedrock:us-east-1:1:model-invocation-job%2Fabc/results"
    assert path_id("arn:aws:bedrock:us-east-1:1:model-invocation-job%2Fabc").endswith("-job/abc")
    assert path_id(routing_path("/a%25b")[1:]) == "a%b"
    assert decode_segment("batches%2Fabc") == "batches/abc"
    assert decode_segment("batches%2Fabc", decode_slash=False) == "batches%2Fabc"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_encoded_ids_reach_every_route(emu: EmulatorClient, http: httpx.Client, provider: str) -> None:
    batch = emu.add_batch(provider, 3, timeline=INSTANT)
    assert get_batch(http, batch["id"], provider)["id"] == batch["id"]
    assert results(http, batch["id"], provider)["batch_id"] == batch["id"]
    running = emu.add_batch(provider, 3, manual=True)
    assert cancel(http, running["id"], provider).json()["id"] == running["id"]


@pytest.mark.parametrize("provider", ["bedrock", "gemini", "vertex"])
def test_an_id_split_by_literal_slashes_is_not_a_route(emu: EmulatorClient, http: httpx.Client, provider: str) -> None:
    batch = emu.add_batch(provider, 1)
    assert http.get(f"/v1/batches/{batch['id']}", params={"provider": provider}).status_code == 404


@pytest.mark.parametrize("provider", ["gemini", "vertex"])
@pytest.mark.parametrize("decode", [True, False])
def test_gemini_and_vertex_take_the_bare_trailing_id(
    emu: EmulatorClient, http: httpx.Client, provider: str, decode: bool
) -> None:
    emu.configure(decode_encoded_ids=decode)
    batch = emu.add_batch(provider, 2)
    bare = batch["id"].rpartition("/")[2]
    assert get_batch(http, bare, provider)["id"] == batch["id"]


def test_older_gateways_pass_encoded_slashes_through(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.configure(decode_encoded_ids=False)
    bedrock = emu.add_batch("bedrock", 1)
    response = http.get(f"/v1/batches/{seg(bedrock['id'])}", params={"provider": "bedrock"})
    body = assert_bifrost_error(response, 404, "model-invocation-job%2F", "upstream")  # an ARN cannot be addressed
    assert body["extra_fields"]["provider"] == "bedrock"
    gemini = emu.add_batch("gemini", 1)
    assert http.get(f"/v1/batches/{seg(gemini['id'])}", params={"provider": "gemini"}).status_code == 404
    emu.configure(decode_encoded_ids=True)
    assert get_batch(http, bedrock["id"], "bedrock")["id"] == bedrock["id"]


def test_fault_rules_and_the_request_log_see_the_decoded_path(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("bedrock", 2, timeline=INSTANT)
    emu.add_fault("status", path="model-invocation-job/[a-z0-9]+/results$", status=503, times=1)
    url = f"/v1/batches/{seg(batch['id'])}/results"
    assert http.get(url, params={"provider": "bedrock"}).status_code == 503
    assert http.get(url, params={"provider": "bedrock"}).status_code == 200
    entries = emu.requests("/results$")
    assert [entry["path"] for entry in entries] == [f"/v1/batches/{batch['id']}/results"] * 2
    assert entries[0]["raw_path"] == url
    assert [entry["fault"] for entry in entries] == ["status", None]
