"""The official ``openai`` SDK drives the emulator's OpenAI-SDK alias routes (``/openai/v1/...``).

The provider goes in the body with ``extra_body={"provider": ...}`` (create, upload) or in the query
with ``extra_query`` (the other routes), as with the gateway; the virtual key is the SDK's api key
(``Authorization: Bearer sk-bf-...``). The SDK percent-encodes path ids, so a Gemini ``batches/...``
id travels as one segment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import openai
import pytest

from tests.unit.testing.emulator.helpers import jsonl

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_bifrost.testing.emulator import EmulatorClient

KEY = "sk-bf-sdk"
CHAT: Final = "/v1/chat/completions"


@pytest.fixture
def client(emu: EmulatorClient) -> Iterator[openai.OpenAI]:
    emu.configure(virtual_keys={KEY: "ok"}, manual=True)
    with openai.OpenAI(base_url=f"{emu.url}/openai/v1", api_key=KEY, max_retries=0) as sdk:
        yield sdk


def test_openai_sdk_drives_batches_and_files(emu: EmulatorClient, client: openai.OpenAI) -> None:
    uploaded = client.files.create(file=("in.jsonl", jsonl("a", "b", "c")), purpose="batch")
    assert uploaded.id.startswith("file-") and uploaded.bytes == len(jsonl("a", "b", "c"))
    assert [f.id for f in client.files.list()] == [uploaded.id]
    assert client.files.retrieve(uploaded.id).filename == "in.jsonl"
    assert client.files.content(uploaded.id).read() == jsonl("a", "b", "c")

    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint=CHAT,
        completion_window="24h",
        metadata={"airflow_ti": "dag.task"},
        extra_body={"provider": "openai"},
    )
    assert (batch.status, batch.request_counts.total if batch.request_counts else None) == ("in_progress", 3)
    assert client.batches.retrieve(batch.id).metadata == {"airflow_ti": "dag.task"}
    others = [
        client.batches.create(input_file_id=uploaded.id, endpoint=CHAT, completion_window="24h").id for _ in range(2)
    ]
    listed = [b.id for b in client.batches.list(limit=2)]  # the SDK pages with after=<last id>
    assert listed == [*others[::-1], batch.id]
    cancelled = client.batches.cancel(batch.id)
    assert cancelled.id == batch.id and cancelled.status == "cancelling"
    assert client.batches.retrieve(batch.id).status == "cancelled"

    emu.set_status(others[0], "completed")
    done = client.batches.retrieve(others[0])
    assert done.output_file_id is not None
    lines = client.files.content(done.output_file_id).text.splitlines()
    assert len(lines) == 3
    assert client.files.delete(uploaded.id).deleted is True


def test_openai_sdk_with_another_provider(client: openai.OpenAI) -> None:
    uploaded = client.files.create(
        file=("in.jsonl", jsonl("g1", "g2")), purpose="batch", extra_body={"provider": "gemini"}
    )
    assert uploaded.id.startswith("files/")
    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint=CHAT,
        completion_window="24h",
        extra_body={"provider": "gemini", "model": "gemini-2.0-flash"},
    )
    assert batch.id.startswith("batches/")
    gemini = {"provider": "gemini"}
    assert client.batches.retrieve(batch.id, extra_query=gemini).id == batch.id
    assert [b.id for b in client.batches.list(extra_query=gemini)] == [batch.id]
    assert client.batches.cancel(batch.id, extra_query=gemini).status == "cancelling"


def test_openai_sdk_sees_the_providers_refusal(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError, match="requests array is required for Anthropic"):
        client.batches.create(
            input_file_id="file-x", endpoint=CHAT, completion_window="24h", extra_body={"provider": "anthropic"}
        )
    with pytest.raises(openai.NotFoundError, match="batch not found"):
        client.batches.retrieve("batch_nope")


def test_openai_sdk_needs_a_known_virtual_key(emu: EmulatorClient) -> None:
    emu.configure(virtual_keys={KEY: "ok"})
    with (
        openai.OpenAI(base_url=f"{emu.url}/openai/v1", api_key="sk-bf-other", max_retries=0) as sdk,
        pytest.raises(openai.AuthenticationError),
    ):
        sdk.batches.list()
