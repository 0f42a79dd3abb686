"""
A job's requests where they are: inline, or JSONL files on any object storage (a glob allowed), read as
lines, a part's lines read again or written out for upload, and a line's ``custom_id`` or whole request.

Reading never holds the whole input: files are read in blocks (:data:`READ_BLOCK`), a part's byte ranges
are copied block by block, and a line is decoded only as far as asked (msgspec skips the rest at C speed).
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

import msgspec

from airflow_provider_bifrost.exceptions import BifrostConfigError
from airflow_provider_bifrost.storage.errors import storage_errors
from airflow_provider_bifrost.storage.paths import plain_uri, storage_path

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from airflow.sdk import ObjectStoragePath

    from airflow_provider_bifrost.jobs.plan import PartPlan, Plan

GLOB_CHARACTERS = frozenset("*?[")
#: Bytes read from a file at a time while planning.
READ_BLOCK = 1 << 20


class _Line(msgspec.Struct):
    """What planning needs of a request line: its ``custom_id`` (msgspec skips the rest at C speed)."""

    custom_id: Any = None


_decode_line = msgspec.json.Decoder(_Line).decode
_decode_lines = msgspec.json.Decoder(_Line).decode_lines
_encode = msgspec.json.Encoder().encode


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
                    if not found:
                        raise BifrostConfigError(f"input_uri {plain_uri(path)} is a folder with no *.jsonl file.")
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
                left = segment.end - segment.start  # its last line may end 1 byte short (CRLF), or 1 past EOF
                while left > 0:
                    raw = stream.readline()  # no size: fsspec's buffered files (S3, GCS, Azure) take none
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


def checked_custom_id(line: bytes, where: str) -> str:
    """
    The ``custom_id`` of a request line being planned: refused, naming ``where``, unless the line is a JSON
    object with a non-empty string ``custom_id``.

    :param line: one request's JSON.
    :param where: where it stands, for the message (``<file> line <n>``, ``request <i>``).
    """
    try:
        custom_id = _decode_line(line).custom_id
    except (msgspec.DecodeError, msgspec.ValidationError):
        if line.startswith(b"\xef\xbb\xbf"):
            raise BifrostConfigError(
                f"{where} starts with a UTF-8 byte order mark, which JSON does not allow: save the file as UTF-8 "
                "without a BOM (e.g. encoding='utf-8', not 'utf-8-sig')."
            ) from None
        raise BifrostConfigError(f"{where} is not a JSON object: each request is one JSON object per line.") from None
    if not isinstance(custom_id, str) or not custom_id:
        raise BifrostConfigError(f"{where} has no custom_id (a non-empty string): every request needs one.")
    return custom_id
