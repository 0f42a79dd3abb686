"""Provider metadata Airflow reads through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_bifrost import __version__
from airflow_provider_bifrost.providers import BATCH_PROVIDERS


def get_provider_info() -> dict[str, Any]:
    """Describe the provider: its modules and the ``bifrost`` connection type with its form fields."""
    return {
        "package-name": "airflow-provider-bifrost",
        "name": "Bifrost",
        "description": "`Bifrost <https://github.com/maximhq/bifrost>`__ LLM gateway: batch API.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Bifrost",
                "external-doc-url": "https://docs.getbifrost.ai/",
                "tags": ["ai"],
            }
        ],
        "hooks": [
            {"integration-name": "Bifrost", "python-modules": ["airflow_provider_bifrost.hooks.bifrost"]},
        ],
        "triggers": [
            {
                "integration-name": "Bifrost",
                "python-modules": [
                    "airflow_provider_bifrost.triggers.bifrost",
                    "airflow_provider_bifrost.triggers.job",
                ],
            },
        ],
        "operators": [
            {"integration-name": "Bifrost", "python-modules": ["airflow_provider_bifrost.operators.bifrost"]},
        ],
        "sensors": [
            {"integration-name": "Bifrost", "python-modules": ["airflow_provider_bifrost.sensors.bifrost"]},
        ],
        "task-decorators": [
            {
                "class-name": "airflow_provider_bifrost.decorators.bifrost_batch.bifrost_batch_task",
                "name": "bifrost_batch",
            },
        ],
        "connection-types": [
            {
                "connection-type": "bifrost",
                "hook-class-name": "airflow_provider_bifrost.hooks.bifrost.BifrostHook",
                "hook-name": "Bifrost",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema"],
                    "relabeling": {
                        "host": "Gateway URL",
                        "password": "Virtual key",
                        "login": "Gateway username (optional)",
                    },
                    "placeholders": {
                        "host": "http://localhost (the port goes in Port)",
                        "password": "sk-bf-... (with a username: the gateway password)",
                        "login": "only for gateway Basic auth",
                        "port": "8080 (443 for https)",
                    },
                },
                "conn-fields": {
                    "virtual_key": {
                        "label": "Virtual key (with gateway auth)",
                        "description": "Sent as x-bf-vk when the username/password fields hold gateway Basic auth.",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "auth_token": {
                        "label": "Gateway bearer token",
                        "description": "Sent as 'Authorization: Bearer <token>' (not with a username).",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "default_provider": {
                        "label": "Default provider",
                        "description": "Provider used when a task names none.",
                        "schema": {
                            "type": ["string", "null"],
                            "enum": [None, *sorted(BATCH_PROVIDERS)],
                            # The form would show the unset choice as "null".
                            "values_display": {"null": "(none)"},
                        },
                    },
                    "headers": {
                        "label": "Extra headers",
                        "description": 'JSON object sent on every request, e.g. {"x-bf-dim-team": "data"}.',
                        "schema": {"type": ["object", "null"], "format": "json"},
                    },
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "description": "Per read/write timeout; default 60.",
                        "schema": {"type": ["number", "null"], "minimum": 0.001},
                    },
                    "verify": {
                        "label": "TLS verification",
                        "description": "true (default), false, or the path of a CA bundle file.",
                        "schema": {"type": ["string", "boolean", "null"]},
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "description": "Retries of requests that are safe to repeat; default 5.",
                        "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": 100},
                    },
                    "providers": {
                        "label": "Custom providers",
                        "description": (
                            "JSON object of the custom providers the gateway defines and the provider each is "
                            'built on, e.g. {"my-openai": "openai"}.'
                        ),
                        "schema": {"type": ["object", "null"], "format": "json"},
                    },
                },
            }
        ],
    }
