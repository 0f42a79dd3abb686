from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import airflow
import jsonschema

from airflow_provider_bifrost.get_provider_info import get_provider_info
from airflow_provider_bifrost.hooks.bifrost import BifrostHook
from airflow_provider_bifrost.hooks.connection import EXTRA_FIELDS


def test_provider_info_matches_airflows_schema() -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_entry_point_is_registered() -> None:
    (entry,) = [
        e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_provider_bifrost")
    ]
    assert entry.value == "airflow_provider_bifrost.get_provider_info:get_provider_info"
    assert entry.load()()["package-name"] == "airflow-provider-bifrost"


def test_connection_type_describes_the_hook_and_every_extra() -> None:
    (conn_type,) = get_provider_info()["connection-types"]
    assert conn_type["connection-type"] == BifrostHook.conn_type == "bifrost"
    assert conn_type["hook-class-name"] == f"{BifrostHook.__module__}.{BifrostHook.__qualname__}"
    assert conn_type["hook-name"] == BifrostHook.hook_name == "Bifrost"
    assert conn_type["ui-field-behaviour"]["relabeling"]["host"] == "Gateway URL"
    assert conn_type["ui-field-behaviour"]["relabeling"]["password"] == "Virtual key"
    assert set(conn_type["conn-fields"]) == set(EXTRA_FIELDS)
    assert conn_type["conn-fields"]["virtual_key"]["schema"]["format"] == "password"
    assert conn_type["conn-fields"]["auth_token"]["schema"]["format"] == "password"
    for kind in ("hooks", "triggers", "operators", "sensors"):
        for module in get_provider_info()[kind][0]["python-modules"]:
            __import__(module)


def test_the_task_decorator_is_registered_under_its_name() -> None:
    """``@task.bifrost_batch`` resolves through the task SDK's decorator lookup, in a fresh process."""
    code = (
        "from airflow.sdk import task; import json;"
        "d = task.bifrost_batch; print(json.dumps([d.__module__, d.__name__]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == [
        "airflow_provider_bifrost.decorators.bifrost_batch",
        "bifrost_batch_task",
    ]


def test_airflow_lists_the_provider_and_its_form() -> None:
    """Airflow itself, in a fresh process, discovers the provider, hook and form fields."""
    code = (
        "from airflow.providers_manager import ProvidersManager as P; p = P();"
        "import json; print(json.dumps({'providers': list(p.providers),"
        "'widgets': sorted(k for k in p.connection_form_widgets if 'bifrost' in k),"
        "'docs': p.providers['airflow-provider-bifrost'].data['documentation-url'],"
        "'behaviour': p.field_behaviours.get('bifrost')}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    found = json.loads(out.strip().splitlines()[-1])
    assert "airflow-provider-bifrost" in found["providers"]
    assert found["widgets"] == sorted(f"extra__bifrost__{name}" for name in EXTRA_FIELDS)
    assert found["behaviour"]["hidden_fields"] == ["schema"]
    assert found["docs"].endswith("/docs/index.md"), "the package declares its documentation URL"
