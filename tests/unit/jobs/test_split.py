"""
Planning a job: the requests read once, split by count and by bytes, every custom_id checked; a part's lines
read back from where the plan says they are, exactly as they were, whatever the files' line endings.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.jobs import split as split_module
from airflow_provider_bifrost.jobs.ids import DigestRuns
from airflow_provider_bifrost.jobs.plan import PartPlan, Plan, Segment
from airflow_provider_bifrost.jobs.source import RequestSource, line_custom_id, line_request
from airflow_provider_bifrost.jobs.split import make_plan

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def request(custom_id: Any, pad: int = 0) -> dict[str, Any]:
    return {"custom_id": custom_id, "body": {"messages": [{"role": "user", "content": "x" * pad}]}}


def encoded(item: dict[str, Any]) -> bytes:
    """A request as one compact JSON line (what the plan encodes inline requests as), without the newline."""
    return json.dumps(item, separators=(",", ":")).encode()


def write_lines(path: Path, lines: list[bytes], *, newline: bytes = b"\n", last_newline: bool = True) -> Path:
    path.write_bytes(newline.join(lines) + (newline if last_newline and lines else b""))
    return path


def plan_of(source: RequestSource, *, max_requests: int = 1000, max_bytes: int = 1 << 20, chunk: int = 1 << 20) -> Plan:
    with DigestRuns(chunk=chunk) as ids:
        plan = make_plan(source, max_requests=max_requests, max_bytes=max_bytes, ids=ids)
        assert ids.count == plan.requests
    return plan


def read_back(source: RequestSource, plan: Plan) -> list[list[bytes]]:
    """Each part's lines as ``part_lines`` gives them; checks ``write_part`` writes the same, ``part.bytes`` long."""
    parts = []
    for part in plan.parts:
        lines = list(source.part_lines(plan, part))
        sink = io.BytesIO()
        source.write_part(plan, part, sink)
        assert sink.getvalue() == b"".join(line + b"\n" for line in lines)
        assert len(sink.getvalue()) == part.bytes, part
        assert len(lines) == part.requests, part
        parts.append(lines)
    return parts


def file_source(path: Path | str) -> RequestSource:
    return RequestSource(input_uri=f"file://{path}")


# -- splitting ------------------------------------------------------------------------------------


def test_inline_requests_are_split_by_count_in_order() -> None:
    requests = [request(f"r{i}") for i in range(10)]
    source = RequestSource(requests=requests)
    plan = plan_of(source, max_requests=3)
    assert [(p.index, p.requests, p.first) for p in plan.parts] == [(0, 3, 0), (1, 3, 3), (2, 3, 6), (3, 1, 9)]
    assert plan.requests == 10 and plan.sources == []
    assert [p.segments for p in plan.parts] == [(), (), (), ()]
    parts = read_back(source, plan)
    assert [line_custom_id(line) for part in parts for line in part] == [f"r{i}" for i in range(10)]
    assert [line_request(line) for line in parts[1]] == requests[3:6]


def test_a_count_that_divides_evenly_leaves_no_empty_part() -> None:
    plan = plan_of(RequestSource(requests=[request(f"r{i}") for i in range(6)]), max_requests=3)
    assert [p.requests for p in plan.parts] == [3, 3]


def test_parts_are_split_by_bytes_at_the_exact_limit() -> None:
    lines = [encoded(request(f"r{i}", pad=40)) for i in range(4)]
    size = len(lines[0]) + 1  # every line the same size, newline included
    assert all(len(line) + 1 == size for line in lines)
    source = RequestSource(requests=[request(f"r{i}", pad=40) for i in range(4)])
    assert [p.requests for p in plan_of(source, max_bytes=2 * size).parts] == [2, 2]  # two lines fill a part exactly
    assert [p.requests for p in plan_of(source, max_bytes=2 * size - 1).parts] == [1, 1, 1, 1]
    assert [p.requests for p in plan_of(source, max_bytes=2 * size + 1).parts] == [2, 2]
    assert [p.bytes for p in plan_of(source, max_bytes=3 * size).parts] == [3 * size, size]


def test_a_line_exactly_at_the_byte_limit_is_a_part_of_its_own(tmp_path: Path) -> None:
    small, big = encoded(request("small")), encoded(request("big", pad=100))
    path = write_lines(tmp_path / "in.jsonl", [small, big, small.replace(b"small", b"after")])
    source = file_source(path)
    plan = plan_of(source, max_bytes=len(big) + 1)
    assert [p.requests for p in plan.parts] == [1, 1, 1]
    assert plan.parts[1].bytes == len(big) + 1
    assert read_back(source, plan)[1] == [big]


def test_a_line_bigger_than_max_bytes_names_its_file_and_line_and_the_fix(tmp_path: Path) -> None:
    lines = [encoded(request("a")), b"", encoded(request("b", pad=500)), encoded(request("c"))]
    path = write_lines(tmp_path / "in.jsonl", lines)
    with pytest.raises(BifrostConfigError) as raised:
        plan_of(file_source(path), max_bytes=300)
    message = str(raised.value)
    assert f"file://{path} line 3 is {len(lines[2]) + 1:,} bytes" in message  # the blank line 2 is counted
    assert "max_bytes_per_batch=300" in message
    assert "Make that request smaller, or raise max_bytes_per_batch" in message


def test_an_inline_request_bigger_than_max_bytes_is_named_by_its_index() -> None:
    source = RequestSource(requests=[request("a"), request("b", pad=500)])
    with pytest.raises(BifrostConfigError, match=r"^requests\[1\] is [\d,]+ bytes, more than max_bytes_per_batch=100"):
        plan_of(source, max_bytes=100)


# -- line endings and blank lines -----------------------------------------------------------------

LINES = [encoded(request(f"r{i}", pad=i * 7)) for i in range(9)]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("last_newline", [True, False], ids=["last-newline", "no-last-newline"])
@pytest.mark.parametrize("max_requests", [1, 2, 4, 9])
def test_every_line_is_read_back_whole_whatever_the_endings(
    tmp_path: Path, newline: bytes, last_newline: bool, max_requests: int
) -> None:
    with_blanks = [LINES[0], b"", LINES[1], b"   ", LINES[2], *LINES[3:8], b"", b"\t", LINES[8]]
    path = write_lines(tmp_path / "in.jsonl", with_blanks, newline=newline, last_newline=last_newline)
    source = file_source(path)
    plan = plan_of(source, max_requests=max_requests)
    assert plan.requests == 9 and plan.sources == [f"file://{path}"]
    assert [line for part in read_back(source, plan) for line in part] == LINES
    assert sum(p.bytes for p in plan.parts) == sum(len(line) + 1 for line in LINES)


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_parts_split_by_bytes_read_back_whole(tmp_path: Path, newline: bytes) -> None:
    path = write_lines(tmp_path / "in.jsonl", LINES, newline=newline, last_newline=False)
    source = file_source(path)
    biggest = max(len(line) + 1 for line in LINES)
    for max_bytes in range(biggest, sum(len(line) + 1 for line in LINES) + 2, 13):
        plan = plan_of(source, max_bytes=max_bytes)
        assert all(p.bytes <= max_bytes for p in plan.parts)
        assert [line for part in read_back(source, plan) for line in part] == LINES, max_bytes


def test_the_first_line_is_counted_from_one_and_blank_lines_count(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "in.jsonl", [b"", b"", encoded(request("a")), b"not json"])
    with pytest.raises(BifrostConfigError, match=rf"^file://{re.escape(str(path))} line 4 is not a JSON object"):
        plan_of(file_source(path))


# -- what each line must be -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        (b"{not json", "is not a JSON object: each request is one JSON object per line"),
        (b'["custom_id", "a"]', "is not a JSON object"),
        (b"null", "is not a JSON object"),
        (b'"r1"', "is not a JSON object"),
        (b'{"body": {}}', "has no custom_id (a non-empty string)"),
        (b'{"custom_id": null}', "has no custom_id (a non-empty string)"),
        (b'{"custom_id": ""}', "has no custom_id (a non-empty string)"),
        (b'{"custom_id": 7}', "has no custom_id (a non-empty string)"),
        (b'{"custom_id": ["a"]}', "has no custom_id (a non-empty string)"),
    ],
)
def test_a_bad_line_is_named_with_what_is_wrong(tmp_path: Path, line: bytes, fragment: str) -> None:
    path = write_lines(tmp_path / "in.jsonl", [encoded(request("ok")), line])
    with pytest.raises(BifrostConfigError) as raised:
        plan_of(file_source(path))
    assert str(raised.value).startswith(f"file://{path} line 2 ")
    assert fragment in str(raised.value)


def test_a_file_saved_with_a_byte_order_mark_says_so(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(request(f"r{i}")) + "\n" for i in range(2)), encoding="utf-8-sig")
    with pytest.raises(BifrostConfigError, match=r"line 1 starts with a UTF-8 byte order mark.*without a BOM"):
        plan_of(file_source(path))


@pytest.mark.parametrize("item", [{"body": {}}, {"custom_id": 3}, {"custom_id": ""}])
def test_an_inline_request_without_a_string_custom_id_is_named(item: dict[str, Any]) -> None:
    with pytest.raises(BifrostConfigError, match=r"^requests\[1\] has no custom_id \(a non-empty string\)"):
        plan_of(RequestSource(requests=[request("a"), item]))


def test_an_inline_request_that_is_not_a_dict_is_named() -> None:
    with pytest.raises(BifrostConfigError, match=r"^requests\[1\] is a str, not a dict\.$"):
        plan_of(RequestSource(requests=[request("a"), "b"]))  # type: ignore[list-item]


@pytest.mark.parametrize("content", [b"", b"\n\n", b"  \r\n\t\n"], ids=["empty", "newlines", "whitespace"])
def test_an_input_file_without_requests_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(content)
    with pytest.raises(BifrostConfigError, match="the job has no requests"):
        plan_of(file_source(path))


def test_no_inline_requests_is_refused() -> None:
    with pytest.raises(BifrostConfigError, match="the job has no requests"):
        plan_of(RequestSource(requests=[]))


@pytest.mark.parametrize(
    "kwargs", [{}, {"requests": [request("a")], "input_uri": "file:///tmp/in.jsonl"}], ids=["neither", "both"]
)
def test_a_source_takes_exactly_one_of_requests_and_input_uri(kwargs: dict[str, Any]) -> None:
    with pytest.raises(BifrostConfigError, match="exactly one of requests or input_uri"):
        RequestSource(**kwargs)


# -- many files -----------------------------------------------------------------------------------


def test_a_glob_takes_its_matches_in_name_order_and_parts_span_files(tmp_path: Path) -> None:
    a = [encoded(request(f"a{i}")) for i in range(5)]
    b = [encoded(request(f"b{i}")) for i in range(5)]
    write_lines(tmp_path / "2-b.jsonl", b)
    write_lines(tmp_path / "1-a.jsonl", a, newline=b"\r\n")
    (tmp_path / "notes.txt").write_text("not an input")
    source = RequestSource(input_uri=f"file://{tmp_path}/*.jsonl")
    plan = plan_of(source, max_requests=4)
    assert plan.sources == [f"file://{tmp_path}/1-a.jsonl", f"file://{tmp_path}/2-b.jsonl"]
    assert [p.requests for p in plan.parts] == [4, 4, 2]
    spanning = plan.parts[1]
    assert [segment.source for segment in spanning.segments] == [0, 1]
    assert spanning.segments[1].start == 0
    assert read_back(source, plan) == [a[:4], [a[4], *b[:3]], b[3:]]


def test_a_folder_takes_its_jsonl_files_in_name_order(tmp_path: Path) -> None:
    write_lines(tmp_path / "b.jsonl", [encoded(request("b"))])
    write_lines(tmp_path / "a.jsonl", [encoded(request("a"))])
    (tmp_path / "c.json").write_text(json.dumps(request("c")))
    source = file_source(tmp_path)
    plan = plan_of(source)
    assert plan.sources == [f"file://{tmp_path}/a.jsonl", f"file://{tmp_path}/b.jsonl"]
    assert [line_custom_id(line) for line in source.part_lines(plan, plan.parts[0])] == ["a", "b"]


def test_a_glob_that_matches_nothing_is_named(tmp_path: Path) -> None:
    write_lines(tmp_path / "a.json", [encoded(request("a"))])
    with pytest.raises(BifrostConfigError, match=rf"^input_uri file://{re.escape(str(tmp_path))}/\*\.jsonl matches no"):
        plan_of(RequestSource(input_uri=f"file://{tmp_path}/*.jsonl"))


def test_a_folder_without_jsonl_files_is_named(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(request("a")))
    with pytest.raises(BifrostConfigError, match=rf"input_uri file://{re.escape(str(tmp_path))} .*no \*\.jsonl file"):
        plan_of(file_source(tmp_path))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(BifrostConfigError, match=r"is not a file or a folder of JSONL files"):
        plan_of(file_source(tmp_path / "missing.jsonl"))


# -- repeated ids ---------------------------------------------------------------------------------


def test_a_repeated_id_across_two_files_names_both_places_and_the_first_repeat(tmp_path: Path) -> None:
    write_lines(tmp_path / "a.jsonl", [encoded(request(i)) for i in ("x", "y", "z", "w")])
    write_lines(tmp_path / "b.jsonl", [b"", encoded(request("v")), encoded(request("z")), encoded(request("x"))])
    with pytest.raises(BifrostConfigError) as raised:
        plan_of(RequestSource(input_uri=f"file://{tmp_path}/*.jsonl"))
    # x repeats too, but z's repeat comes first in input order
    assert str(raised.value) == (
        f"custom_id 'z' is repeated (file://{tmp_path}/a.jsonl line 3, and again file://{tmp_path}/b.jsonl "
        "line 3) (1 other id(s) repeat too): custom_ids must be unique in a job."
    )


def test_a_repeated_inline_id_is_named_by_its_indexes() -> None:
    requests = [request("a"), request("b"), request("c"), request("b")]
    with pytest.raises(BifrostConfigError) as raised:
        plan_of(RequestSource(requests=requests))
    assert str(raised.value).startswith("custom_id 'b' is repeated (requests[1], and again requests[3]):")


def test_an_id_repeated_many_times_is_one_repeat() -> None:
    requests = [request("a"), request("a"), request("a"), request("b")]
    with pytest.raises(BifrostConfigError) as raised:
        plan_of(RequestSource(requests=requests), chunk=1)
    assert "(requests[0], and again requests[1]):" in str(raised.value)
    assert "other id(s)" not in str(raised.value)


def tiny_digest(custom_id: str | bytes) -> int:
    """A digest with three values: most ids share one with another."""
    return len(custom_id) % 3


@pytest.mark.parametrize("chunk", [1, 2, 1 << 20])
def test_ids_that_share_a_digest_are_not_a_repeat(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(split_module, "digest", tiny_digest)
    monkeypatch.setattr(split_module, "digests", lambda custom_ids: map(tiny_digest, custom_ids))
    requests = [request("r" * length) for length in range(1, 30)]  # 29 different ids, 3 digests
    plan = plan_of(RequestSource(requests=requests), max_requests=7, chunk=chunk)
    assert plan.requests == 29 and len(plan.parts) == 5


@pytest.mark.parametrize("chunk", [1, 3, 1 << 20])
def test_a_real_repeat_among_shared_digests_is_the_one_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, chunk: int
) -> None:
    monkeypatch.setattr(split_module, "digest", tiny_digest)
    monkeypatch.setattr(split_module, "digests", lambda custom_ids: map(tiny_digest, custom_ids))
    ids = ["aa", "bb", "cc", "dd", "bb", "ee", "cc"]  # aa, bb, cc, dd, ee share a digest; bb repeats first
    write_lines(tmp_path / "in.jsonl", [encoded(request(i)) for i in ids])
    with pytest.raises(BifrostConfigError, match=r"custom_id 'bb' is repeated \(\S+ line 2, and again \S+ line 5\)"):
        plan_of(file_source(tmp_path / "in.jsonl"), chunk=chunk)


# -- the plan itself ------------------------------------------------------------------------------


def test_the_plan_round_trips_through_json(tmp_path: Path) -> None:
    write_lines(tmp_path / "a.jsonl", LINES[:5])
    write_lines(tmp_path / "b.jsonl", LINES[5:], newline=b"\r\n")
    plan = plan_of(RequestSource(input_uri=f"file://{tmp_path}/*.jsonl"), max_requests=3)
    again = Plan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again == plan
    assert again.fingerprint == plan.fingerprint
    assert isinstance(again.parts[1].segments[0], Segment) and isinstance(again.parts[1], PartPlan)


def test_the_fingerprint_is_the_same_for_the_same_input(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "in.jsonl", LINES)
    assert (
        plan_of(file_source(path), max_requests=4).fingerprint == plan_of(file_source(path), max_requests=4).fingerprint
    )
    inline = [request(f"r{i}") for i in range(5)]
    assert plan_of(RequestSource(requests=inline)).fingerprint == plan_of(RequestSource(requests=inline)).fingerprint


def test_the_fingerprint_is_the_same_in_another_process(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "in.jsonl", LINES)
    script = (
        "import sys\n"
        "from airflow_provider_bifrost.jobs.ids import DigestRuns\n"
        "from airflow_provider_bifrost.jobs.split import make_plan\n"
        "from airflow_provider_bifrost.jobs.source import RequestSource\n"
        "with DigestRuns() as ids:\n"
        "    plan = make_plan(RequestSource(input_uri=sys.argv[1]), max_requests=4, max_bytes=1 << 20, ids=ids)\n"
        "print(plan.fingerprint)\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", script, f"file://{path}"], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.split()[-1] == plan_of(file_source(path), max_requests=4).fingerprint


def test_the_fingerprint_changes_with_the_split(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "in.jsonl", LINES)
    assert (
        plan_of(file_source(path), max_requests=4).fingerprint != plan_of(file_source(path), max_requests=5).fingerprint
    )


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda lines: [*lines, encoded(request("r9"))], id="a request added"),
        pytest.param(lambda lines: lines[:-1], id="a request removed"),
        pytest.param(lambda lines: [lines[1], lines[0], *lines[2:]], id="two requests swapped"),
        pytest.param(lambda lines: [lines[0].replace(b'"r0"', b'"q0"'), *lines[1:]], id="an id changed, same size"),
        pytest.param(lambda lines: [*lines[:3], lines[3].replace(b"x", b"y"), *lines[4:]], id="a prompt, same size"),
    ],
)
def test_the_fingerprint_changes_when_the_input_changes(tmp_path: Path, change: Any) -> None:
    path = write_lines(tmp_path / "in.jsonl", LINES)
    before = plan_of(file_source(path), max_requests=4).fingerprint
    write_lines(path, change(list(LINES)))
    assert plan_of(file_source(path), max_requests=4).fingerprint != before


def test_the_fingerprint_changes_when_an_inline_request_changes_in_place() -> None:
    before = plan_of(RequestSource(requests=[request("a", pad=3), request("b")])).fingerprint
    after = plan_of(RequestSource(requests=[request("a", pad=3), request("c")])).fingerprint
    assert before != after


def test_line_request_decodes_the_whole_request() -> None:
    item = {"custom_id": "a", "params": {"max_tokens": 5, "messages": [{"role": "user", "content": "é"}]}}
    assert line_request(json.dumps(item).encode()) == item
    assert line_custom_id(json.dumps(item).encode()) == "a"


# -- object storage -------------------------------------------------------------------------------

AWS_CONN_ID = "aws_moto_jobs"


@pytest.fixture
def s3_bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """A fresh bucket on the moto server (S3 over loopback) and the connection leading there only; a boto3 client."""
    import boto3
    import httpx
    import s3fs
    from airflow.sdk.io.store import _STORE_CACHE

    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    extra = {"endpoint_url": moto_endpoint, "region_name": "us-east-1"}
    conn = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}", json.dumps(conn))
    httpx.post(f"{moto_endpoint}/moto-api/reset").raise_for_status()
    _STORE_CACHE.pop(f"s3-{AWS_CONN_ID}", None)
    s3fs.S3FileSystem.clear_instance_cache()
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
    client = boto3.client("s3", endpoint_url=moto_endpoint, **keys)
    client.create_bucket(Bucket="bifrost-jobs-input")
    yield client
    _STORE_CACHE.pop(f"s3-{AWS_CONN_ID}", None)
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_parts_are_read_back_from_object_storage(s3_bucket: Any, newline: bytes) -> None:
    """On S3 a file is fsspec's buffered file (not a local file object): parts read back all the same."""
    first, second = LINES[:5], LINES[5:]
    s3_bucket.put_object(Bucket="bifrost-jobs-input", Key="in/a.jsonl", Body=newline.join([*first, b""]) + newline)
    s3_bucket.put_object(Bucket="bifrost-jobs-input", Key="in/b.jsonl", Body=newline.join(second))
    source = RequestSource(input_uri="s3://bifrost-jobs-input/in/*.jsonl", conn_id=AWS_CONN_ID)
    plan = plan_of(source, max_requests=3)
    assert plan.sources == ["s3://bifrost-jobs-input/in/a.jsonl", "s3://bifrost-jobs-input/in/b.jsonl"]
    assert [p.requests for p in plan.parts] == [3, 3, 3]
    assert [line for part in read_back(source, plan) for line in part] == LINES
    folder = RequestSource(input_uri="s3://bifrost-jobs-input/in", conn_id=AWS_CONN_ID)
    assert folder.files() == plan.sources
