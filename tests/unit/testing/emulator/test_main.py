"""The command line: ``python -m airflow_provider_bifrost.testing.emulator``."""

from __future__ import annotations

import re
import subprocess
import sys

import httpx

from airflow_provider_bifrost.testing.emulator import EmulatorClient
from airflow_provider_bifrost.testing.emulator.__main__ import _parser, config_from_args


def test_cli_prints_the_url() -> None:
    command = [sys.executable, "-m", "airflow_provider_bifrost.testing.emulator", "--port", "0"]
    command += ["--virtual-key", "sk-bf-cli", "--virtual-key", "sk-bf-poor=budget_exceeded"]
    command += ["--log-level", "error"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, line
        url = match.group(0)
        headers = {"x-bf-vk": "sk-bf-poor"}
        poor = httpx.get(f"{url}/v1/batches", params={"provider": "openai"}, headers=headers)
        assert poor.status_code == 402
        with EmulatorClient(url) as emu:
            assert emu.config()["virtual_keys"] == {"sk-bf-cli": "ok", "sk-bf-poor": "budget_exceeded"}
    finally:
        process.terminate()
        process.wait(10)


def test_flags_map_to_the_config() -> None:
    args = _parser().parse_args(
        [
            "--seed",
            "4",
            "--keep-encoded-slash",
            "--gemini-info-placeholder",
            "--bedrock-role-arn",
            "arn:aws:iam::1:role/r",
            "--virtual-key-error-names",
            "access",
            "--timeline",
            "0,1,0",
            "--basic-auth",
            "u:p",
        ]
    )
    config = config_from_args(args)
    assert (config.seed, config.decode_encoded_ids, config.gemini_info_placeholder) == (4, False, True)
    assert (config.bedrock_role_arn, config.virtual_key_error_names) == ("arn:aws:iam::1:role/r", "access")
    assert (config.timeline, config.basic_auth) == ((0.0, 1.0, 0.0), ("u", "p"))
    defaults = config_from_args(_parser().parse_args([]))
    assert (defaults.seed, defaults.decode_encoded_ids) == (None, True)
