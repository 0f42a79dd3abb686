"""The control plane and EmulatorClient: invalid calls, blobs, batches of every provider."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from airflow_provider_bifrost.testing.emulator import EmulatorClient, EmulatorError
from tests.unit.testing.emulator.helpers import PROVIDERS, get_batch

if TYPE_CHECKING:
    import httpx


def test_invalid_control_calls(emu: EmulatorClient) -> None:
    with pytest.raises(EmulatorError, match="422"):
        emu.add_fault("explode")
    with pytest.raises(EmulatorError, match="does not support batches"):
        emu.add_batch("cohere")
    with pytest.raises(EmulatorError, match="404"):
        emu.set_status("batch_nope", "completed")
    with pytest.raises(EmulatorError, match="422"):
        emu.configure(no_such_option=1)
    with pytest.raises(EmulatorError, match="duplicate custom_id"):
        emu.add_blob("https://a.blob.core.windows.net/c/x", ["a", "a"])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_set_status_takes_ids_with_slashes(emu: EmulatorClient, http: httpx.Client, provider: str) -> None:
    batch = emu.add_batch(provider, 2, manual=True)
    assert emu.set_status(batch["id"], "completed")["id"] == batch["id"]
    assert get_batch(http, batch["id"], provider)["status"] == ("ended" if provider == "anthropic" else "completed")


def test_batches_lists_every_provider(emu: EmulatorClient) -> None:
    ids = [emu.add_batch(provider, 1)["id"] for provider in PROVIDERS]
    assert [batch["id"] for batch in emu.batches()] == ids
    assert emu.health()["batches"] == len(PROVIDERS)


def test_per_provider_options(emu: EmulatorClient, http: httpx.Client) -> None:
    bedrock = emu.add_batch("bedrock", 2, job_name="nightly", output_s3_uri="s3://b/out/", model="bedrock/m.v1")
    current = get_batch(http, bedrock["id"], "bedrock")
    assert current["metadata"] == {"job_name": "nightly"}
    assert current["output_file_id"] == "s3://b/out/"
    vertex = emu.add_batch("vertex", 2, display_name="dn", output_folder="gs://b/out", input_file_id="gs://b/in.jsonl")
    current = get_batch(http, vertex["id"], "vertex")
    assert (current["display_name"], current["input_file_id"]) == ("dn", "gs://b/in.jsonl")
    all_failed = emu.add_batch("openai", 3, failed=3, timeline=(0, 0, 0))
    current = get_batch(http, all_failed["id"])
    assert current["status"] == "completed" and "output_file_id" not in current and "error_file_id" in current


def test_config_round_trip(emu: EmulatorClient) -> None:
    config = emu.configure(gemini_info_placeholder=True, decode_encoded_ids=False, bedrock_role_arn="arn:r")
    assert config == emu.config()
    assert (config["seed"], config["virtual_key_error_names"]) == (None, "virtual_key")
    emu.reset(config=True)
    assert emu.config()["gemini_info_placeholder"] is False
