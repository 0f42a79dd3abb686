"""A part written for upload holds exactly the lines its plan gives it, however the input's lines are broken."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest

from airflow_provider_bifrost.jobs import source as source_module
from airflow_provider_bifrost.jobs.ids import DigestRuns
from airflow_provider_bifrost.jobs.source import RequestSource
from airflow_provider_bifrost.jobs.split import make_plan

if TYPE_CHECKING:
    from pathlib import Path


def request(index: int) -> bytes:
    return b'{"custom_id":"r%d","body":{"n":%d}}' % (index, index)


#: JSONL as writers write it, and as people leave it: CRLF breaks, blank and whitespace-only lines, a line
#: with leading spaces, no newline at the end.
INPUTS = {
    "plain": [b"\n".join(request(i) for i in range(12)) + b"\n"],
    "crlf": [b"".join(request(i) + b"\r\n" for i in range(12))],
    "messy": [
        b"\n" + request(0) + b"\n\n  \n" + request(1) + b"\r\n" + b"  " + request(2) + b"\n",
        b"\t\n".join(request(i) for i in range(3, 9)) + b"\r\n\r\n",
        b"\n".join(request(i) for i in range(9, 12)),  # no newline at the end
    ],
}


@pytest.mark.parametrize("name", INPUTS)
@pytest.mark.parametrize("block", [7, 64, 1 << 20])
def test_write_part_writes_the_lines_part_lines_gives(
    name: str, block: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source_module, "READ_BLOCK", block)
    for number, content in enumerate(INPUTS[name]):
        (tmp_path / f"in-{number}.jsonl").write_bytes(content)
    source = RequestSource(input_uri=f"file://{tmp_path}/*.jsonl")
    with DigestRuns() as ids:
        plan = make_plan(source, max_requests=5, max_bytes=1 << 20, ids=ids)
    assert [part.requests for part in plan.parts] == [5, 5, 2]
    written = []
    for part in plan.parts:
        sink = io.BytesIO()
        source.write_part(plan, part, sink)
        assert sink.getvalue() == b"".join(line + b"\n" for line in source.part_lines(plan, part))
        written.append(sink.getvalue())
    lines = b"".join(written).split(b"\n")
    assert lines.pop() == b"" and [line.strip() for line in lines] == [request(i) for i in range(12)]


@pytest.mark.parametrize("name", INPUTS)
@pytest.mark.parametrize("block", [7, 1 << 20])
def test_custom_ids_are_those_of_the_lines(
    name: str, block: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source_module, "READ_BLOCK", block)
    for number, content in enumerate(INPUTS[name]):
        (tmp_path / f"in-{number}.jsonl").write_bytes(content)
    source = RequestSource(input_uri=f"file://{tmp_path}/*.jsonl")
    with DigestRuns() as ids:
        plan = make_plan(source, max_requests=5, max_bytes=1 << 20, ids=ids)
    assert list(source.custom_ids(plan)) == [f"r{i}" for i in range(12)]
    inline = RequestSource(requests=[{"custom_id": f"q{i}"} for i in range(3)])
    with DigestRuns() as ids:
        assert list(inline.custom_ids(make_plan(inline, max_requests=2, max_bytes=1 << 20, ids=ids))) == [
            "q0",
            "q1",
            "q2",
        ]
