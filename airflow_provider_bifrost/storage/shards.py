"""
Write JSONL lines into numbered shard files, which appear under their final names only when all are complete.

Every shard is written to a hidden temporary name beside its final one; :meth:`ShardWriter.finish`
renames them all once the last is written, so readers never see a half-written ``part-NNNNN.jsonl``
nor the first shards of an export that then failed. Temporaries left by a killed earlier attempt are
removed first, and final shards an earlier attempt wrote beyond this attempt's count are removed at the
end, so a retry leaves exactly its own files.
"""

from __future__ import annotations

import contextlib
import gzip
import re
import uuid
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Literal, Protocol

from airflow_provider_bifrost.storage.paths import list_folder, open_to_write, plain_uri, prepare_folder

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

Compression = Literal["gzip"]
SHARD_PATTERN = re.compile(r"^part-\d{5}\.jsonl(\.gz)?$")
TEMP_PATTERN = re.compile(r"^\.part-\d{5}\.jsonl(\.gz)?\.[0-9a-f]+\.tmp$")
#: Lines are gathered and written in blocks of about this size.
WRITE_BLOCK = 1024 * 1024
#: A block of lines at least this big is written as it is (a results page arrives in pieces of ~64 KB).
DIRECT_WRITE = 48 * 1024
GZIP_LEVEL = 6


class LineBlock(Protocol):
    """Lines to write: how many, all of them ``\n``-joined, and a split into the first ``index`` and the rest."""

    def __len__(self) -> int: ...

    @property
    def jsonl(self) -> bytes: ...

    def split(self, index: int) -> tuple[LineBlock, LineBlock]: ...


@dataclass(frozen=True)
class Shard:
    """A complete shard file: where it is, how many items, how many bytes stored."""

    uri: str
    items: int
    bytes: int


def shard_name(index: int, compression: Compression | None) -> str:
    """The file name of shard ``index``: ``part-00000.jsonl`` or ``part-00000.jsonl.gz``."""
    return f"part-{index:05d}.jsonl" + (".gz" if compression == "gzip" else "")


class ShardWriter:
    """
    JSONL shards under ``folder``, ``items_per_file`` lines each (all in one file when None).

    :param folder: where the shards go (created if missing).
    :param items_per_file: lines per shard, or None for a single shard.
    :param compression: ``"gzip"`` or None.
    """

    def __init__(
        self, folder: ObjectStoragePath, *, items_per_file: int | None, compression: Compression | None
    ) -> None:
        self.folder = folder
        self.items_per_file = items_per_file
        self.compression = compression
        self.shards: list[Shard] = []
        self._written: list[tuple[ObjectStoragePath, ObjectStoragePath]] = []  # (temporary, final) per shard
        self._attempt = uuid.uuid4().hex[:12]
        self._temp: ObjectStoragePath | None = None
        self._raw: IO[bytes] | None = None
        self._sink: IO[bytes] | None = None
        self._block = bytearray()
        self._items = 0
        prepare_folder(folder)
        for stale in list_folder(folder):
            if TEMP_PATTERN.match(stale.name):
                stale.unlink()

    def write_block(self, block: LineBlock) -> None:
        """
        Add a block of lines, in order, starting new shards as they fill (the block is split where needed).

        :param block: the lines, as one ``\n``-joined string with a count.
        """
        while len(block):
            if self._sink is None:
                self._open()
            if self.items_per_file is not None and len(block) > (room := self.items_per_file - self._items):
                head, block = block.split(room)
                self._add(head)
            else:
                self._add(block)
                return

    def _add(self, lines: LineBlock) -> None:
        """Write lines that fit in the open shard; complete the shard when they fill it."""
        assert self._sink is not None
        data = lines.jsonl
        if len(data) >= DIRECT_WRITE:  # big enough to write as it is, without copying it into the buffer
            self._flush()
            self._sink.write(data)
            self._block += b"\n"  # written ahead of whatever comes next: one write call per block
        else:
            self._block += data
            self._block += b"\n"
        self._items += len(lines)
        if len(self._block) >= WRITE_BLOCK:
            self._flush()
        if self.items_per_file is not None and self._items >= self.items_per_file:
            self._commit()

    @property
    def shard_index(self) -> int:
        """The index of the shard the next line goes to (the open one, or the next to open)."""
        return len(self.shards)

    @property
    def writing(self) -> bool:
        """A shard is open and has lines in it."""
        return self._sink is not None

    def finish(self) -> list[Shard]:
        """Complete the last shard, give every shard its final name, remove shards an earlier attempt left
        beyond ours; return ours."""
        if self._sink is not None:
            self._commit()
        for temp, final in self._written:
            temp.rename(final)
        self._written.clear()
        ours = {shard_name(i, self.compression) for i in range(len(self.shards))}
        for leftover in list_folder(self.folder):
            if SHARD_PATTERN.match(leftover.name) and leftover.name not in ours:
                leftover.unlink()
        return self.shards

    def abort(self) -> None:
        """Drop everything this attempt wrote (all temporary files): a failed export leaves no shard behind."""
        for stream in (self._sink, self._raw):
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()
        self._sink = self._raw = None
        temps = [temp for temp, _ in self._written] + ([self._temp] if self._temp is not None else [])
        for temp in temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        self._written.clear()
        self._temp = None

    def _open(self) -> None:
        name = shard_name(len(self.shards), self.compression)
        self._temp = self.folder / f".{name}.{self._attempt}.tmp"
        self._raw = open_to_write(self._temp)
        if self.compression == "gzip":  # the header names the final file, so every attempt writes the same bytes
            original = name.removesuffix(".gz")
            self._sink = gzip.GzipFile(original, "wb", GZIP_LEVEL, self._raw, mtime=0)  # type: ignore[assignment]
        else:
            self._sink = self._raw
        self._items = 0

    def _flush(self) -> None:
        assert self._sink is not None
        if self._block:
            self._sink.write(self._block)
            self._block.clear()

    def _commit(self) -> None:
        assert self._sink is not None
        assert self._raw is not None
        assert self._temp is not None
        self._flush()
        if self._sink is not self._raw:
            self._sink.close()
        size = self._raw.tell()
        self._raw.close()
        final = self.folder / shard_name(len(self.shards), self.compression)
        self._written.append((self._temp, final))
        self.shards.append(Shard(uri=plain_uri(final), items=self._items, bytes=size))
        self._sink = self._raw = self._temp = None
