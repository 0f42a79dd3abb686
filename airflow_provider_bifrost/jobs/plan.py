"""
A job's requests, read as a stream, split into parts within the provider's limits.

The requests come inline (a list, e.g. an XCom) or from one or many JSONL files on any object storage
(``input_uri``, a glob allowed: ``s3://bucket/requests/*.jsonl``). One pass over them makes the
:class:`Plan`: each part's requests as index ranges (inline) or byte ranges of the files, at most
``max_requests`` requests and ``max_bytes`` bytes each, and checks every ``custom_id`` (present, unique
across the whole job) with digests kept on local disk (:mod:`.ids`), never the whole input in memory. A
part is materialized only when it is submitted: its lines written to a temporary file, or decoded for a
provider that takes inline requests only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import IO, TYPE_CHECKING, Any

import msgspec

from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.jobs.ids import DigestRuns, digest, digests, repeated
from airflow_provider_bifrost.storage.errors import storage_errors
from airflow_provider_bifrost.storage.paths import plain_uri, storage_path

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from airflow.sdk import ObjectStoragePath

GLOB_CHARACTERS = frozenset("*?[")
#: Bytes read from a file at a time while planning.
READ_BLOCK = 1 << 20


class _Line(msgspec.Struct):
    """What planning needs of a request line: its ``custom_id`` (msgspec skips the rest at C speed)."""

    custom_id: Any = None


_decode_line = msgspec.json.Decoder(_Line).decode
_decode_lines = msgspec.json.Decoder(_Line).decode_lines
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class Segment:
    """Bytes ``[start, end)`` of source file ``source``: whole lines."""

    source: int
    start: int
    end: int


@dataclass(frozen=True)
class PartPlan:
    """
    One part of a job: the requests one batch holds.

    :param index: its number, from 0.
    :param requests: how many requests.
    :param bytes: their JSONL size, newlines included.
    :param first: inline input: the index of its first request.
    :param segments: file input: where its lines are.
    """

    index: int
    requests: int
    bytes: int
    first: int = 0
    segments: tuple[Segment, ...] = ()


@dataclass
class Plan:
    """
    How a job's requests are split into parts.

    :param sources: the input files' URIs, in order (empty for inline requests).
    :param parts: the parts, in order.
    :param requests: every request of the job.
    """

    sources: list[str]
    parts: list[PartPlan] = field(default_factory=list)
    requests: int = 0

    @property
    def fingerprint(self) -> str:
        """What identifies the plan: two tries that make the same one split the same input the same way."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (lists, not tuples), for the job's state."""
        data: dict[str, Any] = json.loads(json.dumps(asdict(self)))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        """
        The plan :meth:`to_dict` gave.

        :param data: its dict.
        """
        parts = [
            PartPlan(**{**part, "segments": tuple(Segment(**segment) for segment in part["segments"])})
            for part in data["parts"]
        ]
        return cls(sources=list(data["sources"]), parts=parts, requests=data["requests"])


class RequestSource:
    """
    Where a job's requests come from: inline, or JSONL files on object storage.

    :param requests: inline requests (dicts with a ``custom_id``).
    :param input_uri: a JSONL file, a folder's files, or a glob, on any ``ObjectStoragePath`` scheme.
    :param conn_id: the storage connection of ``input_uri``.
    """

    def __init__(
        self,
        *,
        requests: Sequence[dict[str, Any]] | None = None,
        input_uri: str | None = None,
        conn_id: str | None = None,
    ) -> None:
        if (requests is None) == (input_uri is None):
            raise BifrostConfigError("give exactly one of requests or input_uri.")
        self.requests = requests
        self.input_uri = input_uri
        self.conn_id = conn_id

    @property
    def inline(self) -> bool:
        """The requests are inline."""
        return self.requests is not None

    def files(self) -> list[str]:
        """The input files' plain URIs, sorted: the glob's matches, a folder's ``*.jsonl`` files, or the file."""
        assert self.input_uri is not None
        if GLOB_CHARACTERS.isdisjoint(self.input_uri):
            path = storage_path(self.input_uri, self.conn_id, name="input_uri")
            with storage_errors("input_uri", plain_uri(path), "input_conn_id", path.fs):
                kind = path.fs.info(path.path).get("type") if path.fs.exists(path.path) else None
                if kind == "directory":
                    found = sorted(p for p in path.fs.glob(path.path.rstrip("/") + "/*.jsonl"))
                    return [f"{path.protocol}://{p}" for p in found]
            if kind != "file":
                raise BifrostConfigError(f"input_uri {plain_uri(path)} is not a file or a folder of JSONL files.")
            return [plain_uri(path)]
        scheme = self.input_uri.split("://", 1)[0]
        pattern = storage_path(self.input_uri, self.conn_id, name="input_uri")
        with storage_errors("input_uri", self.input_uri, "input_conn_id", pattern.fs):
            found = sorted(pattern.fs.glob(pattern.path))
        if not found:
            raise BifrostConfigError(f"input_uri {self.input_uri} matches no file.")
        return [f"{scheme}://{p}" for p in found]

    def path(self, uri: str) -> ObjectStoragePath:
        """
        The storage path of one input file.

        :param uri: one of :meth:`files`.
        """
        return storage_path(uri, self.conn_id, name="input_uri")

    def lines(self, plan: Plan) -> Iterator[tuple[int, int, bytes, str]]:
        """
        Every request as ``(source, offset, line, where)``: its file (or -1 inline), its byte offset there (its
        index inline), its JSON without the newline, and where it is, for messages.

        :param plan: the plan whose ``sources`` name the files.
        """
        if self.requests is not None:
            for index, request in enumerate(self.requests):
                if not isinstance(request, dict):
                    raise BifrostConfigError(f"requests[{index}] is a {type(request).__name__}, not a dict.")
                yield -1, index, _encode(request), f"requests[{index}]"
            return
        for source, uri in enumerate(plan.sources):
            path = self.path(uri)
            with storage_errors("input_uri", uri, "input_conn_id", path.fs), path.open("rb") as stream:
                offset = 0
                for number, raw in enumerate(stream, start=1):
                    start, offset = offset, offset + len(raw)
                    line = raw.rstrip(b"\r\n")
                    if line.strip():
                        yield source, start, line, f"{uri} line {number}"

    def custom_ids(self, plan: Plan) -> Iterator[Any]:
        """
        Every request's ``custom_id``, in the order of :meth:`lines`; from files, a block of lines decoded at a
        time (the plan found each non-blank line to be one JSON object).

        :param plan: the plan whose ``sources`` name the files.
        """
        if self.requests is not None:
            yield from (line_custom_id(line) for _, _, line, _ in self.lines(plan))
            return
        for uri in plan.sources:
            path = self.path(uri)
            with storage_errors("input_uri", uri, "input_conn_id", path.fs), path.open("rb") as stream:
                pending = b""
                while block := stream.read(READ_BLOCK):
                    lines, _, pending = (pending + block).rpartition(b"\n")
                    for request in _decode_lines(lines):
                        yield request.custom_id
                for request in _decode_lines(pending):
                    yield request.custom_id

    def write_part(self, plan: Plan, part: PartPlan, sink: IO[bytes]) -> None:
        """
        Write a part's requests as JSONL to ``sink``: the lines :meth:`part_lines` gives, each ended by ``\n``;
        from files, copied in blocks of ``READ_BLOCK`` bytes (line by line only where a block holds blank lines
        or ``\r\n`` breaks).

        :param plan: the job's plan.
        :param part: the part.
        :param sink: a binary file.
        """
        if self.requests is not None:
            for line in self.part_lines(plan, part):
                sink.write(line)
                sink.write(b"\n")
            return
        for segment in part.segments:  # the lines part_lines yields, copied in blocks
            path = self.path(plan.sources[segment.source])
            with path.open("rb") as stream:
                stream.seek(segment.start)
                left, pending = segment.end - segment.start, b""
                while left > 0:
                    block = stream.read(min(left, READ_BLOCK))
                    if not block:
                        break
                    left -= len(block)
                    lines, _, pending = (pending + block).rpartition(b"\n")
                    _write_lines(lines, sink)
                if pending.strip():  # the segment's last line, its line break outside the segment or missing
                    sink.write(pending.rstrip(b"\r\n"))
                    sink.write(b"\n")

    def part_lines(self, plan: Plan, part: PartPlan) -> Iterator[bytes]:
        """
        A part's requests, one JSON line each, read from their place only.

        :param plan: the job's plan.
        :param part: the part.
        """
        if self.requests is not None:
            for request in self.requests[part.first : part.first + part.requests]:
                yield _encode(request)
            return
        for segment in part.segments:
            path = self.path(plan.sources[segment.source])
            with path.open("rb") as stream:
                stream.seek(segment.start)
                left = segment.end - segment.start
                while left > 0:
                    raw = stream.readline(left)
                    if not raw:
                        break
                    left -= len(raw)
                    if raw.strip():
                        yield raw.rstrip(b"\r\n")


def _write_lines(lines: bytes, sink: IO[bytes]) -> None:
    """
    Write whole lines (``\n``-separated, the last one's break cut off) as :meth:`RequestSource.part_lines`
    gives them, each ended by ``\n``: blank lines left out, ``\r`` before a line break dropped. Lines that
    all start with ``{`` and hold no ``\r`` (what a JSONL writer writes) are copied as they are.
    """
    if b"\r" in lines or not lines.startswith(b"{") or lines.count(b"\n") != lines.count(b"\n{"):
        lines = b"\n".join(line.rstrip(b"\r") for line in lines.split(b"\n") if line.strip())
    if lines:
        sink.write(lines)
        sink.write(b"\n")


#: Repeated digests looked up by name in the second pass (the first repeat in input order is named).
REPEATS_NAMED = 1000
#: Request ids digested at a time while planning.
ID_BATCH = 4096


def make_plan(source: RequestSource, *, max_requests: int, max_bytes: int, ids: DigestRuns) -> Plan:
    """
    Read every request once and split them into parts; check each has a ``custom_id``, unique in the job.

    :param source: where the requests are.
    :param max_requests: the most requests in one part.
    :param max_bytes: the largest part, in JSONL bytes.
    :param ids: receives each request's id digest (for the duplicate check, and the export's check).
    :raises BifrostConfigError: a request without a ``custom_id``, too big for a part, or a repeated id.
    """
    plan = Plan(sources=[] if source.inline else source.files())
    count = size = first = 0
    segments: list[Segment] = []
    open_segment: list[int] | None = None  # [source, start, end] of the segment being extended

    def close_part() -> None:
        nonlocal count, size, segments, open_segment
        if open_segment is not None:
            segments.append(Segment(*open_segment))
            open_segment = None
        if count:
            plan.parts.append(PartPlan(len(plan.parts), count, size, first, tuple(segments)))
        count = size = 0
        segments = []

    pending_ids: list[str] = []  # digested a batch at a time (ids.extend: no call per id)
    for file_index, offset, line, where in source.lines(plan):
        pending_ids.append(_custom_id(line, where))
        if len(pending_ids) >= ID_BATCH:
            ids.extend(digests(pending_ids))
            pending_ids.clear()
        line_bytes = len(line) + 1
        if line_bytes > max_bytes:
            raise BifrostConfigError(
                f"{where} is {line_bytes:,} bytes, more than max_bytes_per_batch={max_bytes:,}: no part can hold it."
            )
        if count and (count + 1 > max_requests or size + line_bytes > max_bytes):
            close_part()
        if not count:
            first = plan.requests
        if file_index >= 0:
            end = offset + line_bytes  # the line and its newline (a missing last newline is added when written)
            if open_segment is not None and open_segment[0] == file_index:
                open_segment[2] = max(open_segment[2], end)
            else:
                if open_segment is not None:
                    segments.append(Segment(*open_segment))
                open_segment = [file_index, offset, end]
        count += 1
        size += line_bytes
        plan.requests += 1
    close_part()
    ids.extend(digests(pending_ids))
    if not plan.requests:
        raise BifrostConfigError("the job has no requests: give a non-empty list, or input files with requests.")
    shared: set[int] = set()
    repeats = 0
    for value in repeated(ids.sorted()):  # a digest two requests share: the same id, or (rarely) a collision
        repeats += 1
        if len(shared) < REPEATS_NAMED:
            shared.add(value)
    if shared and (message := _duplicate_message(source, plan, shared, repeats)) is not None:
        raise BifrostConfigError(message)
    return plan


def line_custom_id(line: bytes) -> Any:
    """
    The ``custom_id`` of a request line the plan already checked.

    :param line: one request's JSON.
    """
    return _decode_line(line).custom_id


def line_request(line: bytes) -> dict[str, Any]:
    """
    A request line decoded whole, for a provider that takes inline requests only.

    :param line: one request's JSON.
    """
    request: dict[str, Any] = msgspec.json.decode(line)
    return request


def _custom_id(line: bytes, where: str) -> str:
    try:
        custom_id = _decode_line(line).custom_id
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise BifrostConfigError(f"{where} is not a JSON object: each request is one JSON object per line.") from None
    if not isinstance(custom_id, str) or not custom_id:
        raise BifrostConfigError(f"{where} has no custom_id (a non-empty string): every request needs one.")
    return custom_id


def _duplicate_message(source: RequestSource, plan: Plan, shared: set[int], count: int) -> str | None:
    """
    Name the first repeated ``custom_id`` in input order among those with a digest in ``shared``, and where it
    stands (a second pass, only when there is a repeat); None when requests share digests but not ids.
    """
    seen: dict[str, str] = {}
    for _, _, line, where in source.lines(plan):
        custom_id = line_custom_id(line)
        if digest(custom_id) in shared:
            if custom_id in seen:
                more = f" ({count - 1:,} other id(s) repeat too)" if count > 1 else ""
                return (
                    f"custom_id {custom_id!r} is repeated ({seen[custom_id]}, and again {where}){more}: custom_ids "
                    "must be unique in a job."
                )
            seen[custom_id] = where
    return None
