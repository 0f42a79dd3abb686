"""The outermost middleware: faults applied to gateway requests, latency, the request log."""

from __future__ import annotations

import time

import httpx
import pytest

from airflow_provider_bifrost.testing.emulator import EmulatorClient, FaultRule
from tests.unit.testing.emulator.helpers import INSTANT, create_openai_batch, get_batch, results


def test_status_fault_with_retry_after_and_times(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.add_fault("status", path=r"^/v1/batches$", status=429, retry_after="2", times=2)
    statuses = [http.get("/v1/batches", params={"provider": "openai"}) for _ in range(3)]
    assert [r.status_code for r in statuses] == [429, 429, 200]
    assert statuses[0].headers["retry-after"] == "2"
    body = statuses[0].json()  # an upstream failure relayed by the gateway, not its own verdict
    assert (body["is_bifrost_error"], body["status_code"]) == (False, 429)
    assert "injected fault" in body["error"]["message"]
    assert emu.faults()[0]["applied"] == 2
    log = emu.requests(r"^/v1/batches$")
    outcomes = [(entry["status"], entry["fault"]) for entry in log]
    assert outcomes == [(429, "status"), (429, "status"), (200, None)]


def test_html_and_empty_faults(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.set_faults(
        [
            FaultRule(action="html", status=502, method="GET", times=1),
            {"action": "empty", "status": 503, "query": "provider=anthropic"},
        ]
    )
    html = http.get("/v1/batches", params={"provider": "openai"})
    assert html.status_code == 502
    assert html.headers["content-type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in html.text
    empty = http.get("/v1/batches", params={"provider": "anthropic"})
    assert (empty.status_code, empty.content) == (503, b"")
    emu.clear_faults()
    assert http.get("/v1/batches", params={"provider": "anthropic"}).status_code == 200


def test_body_fault_answers_the_given_body(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.add_fault("body", path="^/v1/batches/", status=200, body='{"id": "batch_x"}', times=1)
    emu.add_fault("body", path="^/v1/batches/", status=418, body="teapot", content_type="text/plain")
    shaped = http.get("/v1/batches/batch_x", params={"provider": "openai"})
    assert (shaped.status_code, shaped.headers["content-type"], shaped.json()) == (
        200,
        "application/json",
        {"id": "batch_x"},
    )
    plain = http.get("/v1/batches/batch_x", params={"provider": "openai"})
    assert (plain.status_code, plain.headers["content-type"], plain.text) == (418, "text/plain", "teapot")
    assert [entry["fault"] for entry in emu.requests("^/v1/batches/")] == ["body", "body"]


def test_delay_fault_exceeds_client_timeout(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.add_fault("delay", seconds=0.5, times=1)
    with pytest.raises(httpx.ReadTimeout):
        http.get("/v1/batches", params={"provider": "openai"}, timeout=0.1)
    assert http.get("/v1/batches", params={"provider": "openai"}).status_code == 200


def test_drop_fault_is_a_disconnect_not_a_500(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.add_fault("drop", method="POST", times=1)
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        create_openai_batch(http)
    assert emu.batches() == []
    assert emu.requests()[-1]["fault"] == "drop"
    assert emu.requests()[-1]["status"] is None
    create_openai_batch(http)


def test_truncate_fault_cuts_the_body(emu: EmulatorClient, http: httpx.Client) -> None:
    batch = emu.add_batch("openai", 2000, timeline=INSTANT)
    emu.add_fault("truncate", path="/results$", times=1)
    received = bytearray()

    def read_results() -> None:
        url = f"/v1/batches/{batch['id']}/results"
        with http.stream("GET", url, params={"provider": "openai"}) as response:
            assert response.status_code == 200
            for chunk in response.iter_bytes():
                received.extend(chunk)

    with pytest.raises(httpx.RemoteProtocolError):
        read_results()
    assert 0 < len(received) < len(results(http, batch["id"])["results"]) * 300
    emu.add_fault("truncate", path=r"^/v1/batches/", bytes=10, times=1)
    with pytest.raises(httpx.RemoteProtocolError, match=r"incomplete|received 10 bytes"):
        get_batch(http, batch["id"])


def test_lose_response_fault_carries_out_the_request(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.add_fault("lose_response", method="POST", path=r"^/v1/batches$", times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        create_openai_batch(http)
    assert len(emu.batches()) == 1
    assert emu.requests()[-1]["status"] == 200


def test_probability_is_seeded(emu: EmulatorClient, http: httpx.Client) -> None:
    def pattern() -> list[int]:
        emu.reset()
        emu.add_fault("status", status=500, probability=0.5)
        return [http.get("/v1/batches", params={"provider": "openai"}).status_code for _ in range(30)]

    emu.configure(seed=7)
    first = pattern()
    assert 0 < first.count(500) < 30
    assert pattern() == first


def test_control_plane_ignores_faults_and_auth(emu: EmulatorClient) -> None:
    emu.configure(bearer_token="secret", virtual_keys={})
    emu.add_fault("drop")
    assert emu.health()["status"] == "ok"
    assert emu.batches() == []


def test_latency(emu: EmulatorClient, http: httpx.Client) -> None:
    emu.configure(latency=1.0, latency_path="/v1/batches")
    start = time.monotonic()
    http.get("/v1/batches", params={"provider": "openai"})
    assert time.monotonic() - start >= 1.0
    start = time.monotonic()
    http.get("/v1/files", params={"x-model-provider": "openai"})
    assert time.monotonic() - start < 1.0


# --- request log ----------------------------------------------------------------------------------


def test_request_log(emu: EmulatorClient, http: httpx.Client) -> None:
    http.get("/v1/batches", params={"provider": "openai", "limit": "5"}, headers={"x-bf-vk": "k"})
    http.get("/v1/files", params={"x-model-provider": "openai"})
    entry = emu.requests("^/v1/batches")[0]
    assert entry["method"] == "GET"
    assert entry["query"] == {"provider": "openai", "limit": "5"}
    assert entry["headers"]["x-bf-vk"] == "k"
    assert entry["status"] == 200
    assert entry["raw_path"] == "/v1/batches"
    assert len(emu.requests(method="GET")) == 2
    emu.clear_requests()
    assert emu.requests() == []
