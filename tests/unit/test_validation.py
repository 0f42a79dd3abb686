"""The argument checks: one set of creation checks for the hook and the create operator, the same messages."""

from __future__ import annotations

import re
from typing import Any

import pytest

from airflow_provider_bifrost.creation import check_create_arguments
from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.hooks.api import build_create_body
from airflow_provider_bifrost.operators.bifrost import BifrostCreateBatchOperator
from airflow_provider_bifrost.validation import check_rounds, is_given, validate_id

REQUEST = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}
GOOD: dict[str, Any] = {"model": "openai/gpt-4o-mini", "endpoint": "/v1/chat/completions", "requests": [REQUEST]}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model": ""}, "model is required"),
        ({"model": "cohere/command-r"}, "provider 'cohere' has no batch API in Bifrost"),
        ({"model": "openai/x", "provider": "anthropic"}, "model 'openai/x' names provider 'openai' but provider is"),
        ({"endpoint": None}, "endpoint is required for provider 'openai'"),
        ({"endpoint": "/v1/chat"}, "endpoint '/v1/chat' is not one of"),
        ({"requests": [REQUEST, REQUEST]}, "requests[1] repeats custom_id 'a'"),
        ({"requests": [{"custom_id": "a"}]}, "requests[0] ('a') has no body (or params)"),
        ({"metadata": {"team": 1}}, "metadata must be a dict of strings to strings"),
        ({"completion_window": " "}, "completion_window must be a duration such as '24h'"),
        ({"input_file_id": "f"}, "give exactly one of"),
    ],
)
def test_the_hook_and_the_operator_refuse_alike(changes: dict[str, Any], message: str) -> None:
    arguments = {**GOOD, "completion_window": "24h", **changes}
    with pytest.raises(BifrostConfigError) as by_hook:
        build_create_body(
            model=arguments["model"],
            provider=arguments.get("provider"),
            endpoint=arguments.get("endpoint"),
            input_file_id=arguments.get("input_file_id"),
            requests=arguments.get("requests"),
            input_blob=None,
            completion_window=arguments["completion_window"],
            metadata=arguments.get("metadata"),
        )
    with pytest.raises(BifrostConfigError) as by_operator:
        BifrostCreateBatchOperator(task_id="create", **arguments)
    assert message in str(by_hook.value)
    assert str(by_operator.value) == f"BifrostCreateBatchOperator(task_id='create'): {by_hook.value}".replace(
        "input_file_id, requests or input_blob", "input_file_id, input_uri or requests"
    )


def test_templated_values_wait_for_rendering_then_are_checked() -> None:
    def literal(value: Any) -> bool:
        return not (isinstance(value, str) and "{{" in value)

    arguments: dict[str, Any] = {
        "model": "{{ var.value.model }}",
        "provider": None,
        "endpoint": "{{ var.value.endpoint }}",
        "inputs": {"requests": [REQUEST]},
        "requests": [REQUEST],
        "metadata": None,
        "completion_window": "24h",
    }
    assert check_create_arguments(literal=literal, **arguments) is None
    with pytest.raises(BifrostConfigError, match="is not one of"):
        check_create_arguments(**arguments)


def test_the_provider_comes_from_the_model_the_argument_or_the_default() -> None:
    common: dict[str, Any] = {
        "endpoint": "/v1/chat/completions",
        "inputs": {"requests": [REQUEST]},
        "requests": [REQUEST],
        "metadata": None,
        "completion_window": "24h",
    }
    assert check_create_arguments(model="openai/x", provider=None, **common) == "openai"
    assert check_create_arguments(model="x", provider="azure", **common) == "azure"
    assert check_create_arguments(model="x", provider=None, default_provider="openai", **common) == "openai"
    assert check_create_arguments(model="x", provider=None, **common) is None
    with pytest.raises(BifrostConfigError, match="provider is required"):
        check_create_arguments(model="x", provider=None, provider_required=True, **common)


@pytest.mark.parametrize(("value", "given"), [(None, False), ("", False), ("  ", False), ("f", True), ([], True)])
def test_what_counts_as_given(value: object, given: bool) -> None:
    assert is_given(value) is given


@pytest.mark.parametrize("bad", ["", "None", "null", " x", ".", "..", "x\n", "x\x7f"])
def test_ids_that_cannot_be_an_id(bad: str) -> None:
    with pytest.raises(BifrostConfigError, match="batch_id"):
        validate_id(bad)


# -- prices (BifrostBatchResultsOperator) -------------------------------------------------------


@pytest.mark.parametrize(
    ("prices", "message"),
    [
        ([("gpt-4o", 1)], "prices must map each model to its price in US dollars per 1M tokens, got list"),
        ("not json", "prices 'not json' is neither a dict nor a JSON object"),
        ({"": {"input": 1, "output": 1}}, "a model name must be a non-empty string"),
        ({"gpt-4o": 2.5}, "prices['gpt-4o'] must be a dict of input, output, cached_input, cache_write_input"),
        (
            {"gpt-4o": {"input": 1, "output": 1, "cache_input": 0.5}},
            "unknown key 'cache_input' (did you mean 'cached_input'?)",
        ),
        ({"gpt-4o": {"input": 2.5}}, "prices['gpt-4o'] needs output (US dollars per 1M tokens)"),
        (
            {"gpt-4o": {"input": -1, "output": 1}},
            "prices['gpt-4o']['input'] must be a number of US dollars per 1M tokens",
        ),
        ({"gpt-4o": {"input": True, "output": 1}}, "prices['gpt-4o']['input'] must be a number"),
        ({"gpt-4o": {"input": "cheap", "output": 1}}, "prices['gpt-4o']['input'] must be a number"),
        ({"gpt-4o": {"input": float("nan"), "output": 1}}, "prices['gpt-4o']['input'] must be a number"),
    ],
)
def test_bad_prices_fail_when_the_dag_is_parsed(prices: object, message: str) -> None:
    from airflow_provider_bifrost.operators.bifrost import BifrostBatchResultsOperator

    with pytest.raises(BifrostConfigError, match=re.escape(message) + r".* \(export\)$"):
        BifrostBatchResultsOperator(task_id="export", batch_id="b", prices=prices)  # type: ignore[arg-type]


def test_prices_are_read_as_numbers_and_templates_wait_for_rendering() -> None:
    from airflow_provider_bifrost.operators.bifrost import BifrostBatchResultsOperator
    from airflow_provider_bifrost.validation import check_prices, untemplated

    templated = {"gpt-4o": {"input": "{{ var.value.gpt_4o_input }}", "output": 10}}
    operator = BifrostBatchResultsOperator(task_id="export", batch_id="b", prices=templated)
    assert "prices" in operator.template_fields
    assert check_prices(templated, literal=untemplated) == {"gpt-4o": {"output": 10.0}}
    assert check_prices("{{ var.json.prices }}", literal=untemplated) == {}
    rendered = '{"gpt-4o": {"input": "2.5", "output": 10, "cached_input": 1.25}}'  # a Variable's JSON
    assert check_prices(rendered) == {"gpt-4o": {"input": 2.5, "output": 10.0, "cached_input": 1.25}}
    with pytest.raises(BifrostConfigError, match="prices\\['gpt-4o'\\]\\['input'\\] must be a number"):
        check_prices({"gpt-4o": {"input": "{{ unrendered }}", "output": 1}})


def test_count_usage_is_a_boolean_and_prices_need_it() -> None:
    from airflow_provider_bifrost.operators.bifrost import BifrostBatchResultsOperator

    with pytest.raises(BifrostConfigError, match="count_usage must be True or False, got 'no'"):
        BifrostBatchResultsOperator(task_id="export", batch_id="b", count_usage="no")  # type: ignore[arg-type]
    with pytest.raises(BifrostConfigError, match="leave count_usage=True to get the cost, or drop prices"):
        BifrostBatchResultsOperator(
            task_id="export", batch_id="b", count_usage=False, prices={"m": {"input": 1, "output": 1}}
        )
    assert BifrostBatchResultsOperator(task_id="export", batch_id="b", count_usage=False).count_usage is False


@pytest.mark.parametrize(
    ("rounds", "waits", "message"),
    [
        (-1, True, "resubmit_failed must be a whole number of rounds"),
        (True, True, "resubmit_failed must be a whole number of rounds"),
        ("2", True, "resubmit_failed must be a whole number of rounds"),
        (1, False, "resubmit_failed needs wait_for_completion=True"),
    ],
)
def test_resubmission_rounds_are_a_whole_number_and_need_a_wait(rounds: object, waits: bool, message: str) -> None:
    with pytest.raises(BifrostConfigError, match=message):
        check_rounds(rounds, " (create)", waits=waits)
    check_rounds(0, waits=False)  # no rounds: nothing to wait for
    check_rounds(3, waits=True)


def test_the_create_operator_refuses_rounds_without_waiting_when_the_dag_is_parsed() -> None:
    arguments: dict[str, Any] = {
        "task_id": "create",
        "model": "openai/gpt-4o-mini",
        "endpoint": "/v1/chat/completions",
        "requests": [{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}],
    }
    with pytest.raises(BifrostConfigError, match=r"task_id='create'.*needs wait_for_completion=True"):
        BifrostCreateBatchOperator(**arguments, resubmit_failed=1)
    waiting: list[dict[str, Any]] = [{"wait_for_completion": True}, {"wait_for_completion": True, "deferrable": False}]
    for waits in waiting:
        assert BifrostCreateBatchOperator(**arguments, resubmit_failed=2, **waits).resubmit_failed == 2
