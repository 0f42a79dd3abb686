"""
Write JSONL lines into numbered shard files, each appearing under its final name only when complete.

A shard is written to a hidden temporary name beside its final one, then renamed: readers never see
a half-written ``part-NNNNN.jsonl``. Temporaries left by a killed earlier attempt are removed first,
and final shards an earlier attempt wrote beyond this attempt's count are removed at the end, so a
retry leaves exactly its own files.
"""

from __future__ import annotations

import contextlib
import gzip
import re
import uuid
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Literal

from airflow_provider_bifrost.storage.paths import list_folder, plain_uri, prepare_folder

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

Compression = Literal["gzip"]
COMPRESSIONS: tuple[str, ...] = ("gzip",)
SHARD_PATTERN = re.compile(r"^part-\d{5}\.jsonl(\.gz)?$")
TEMP_PATTERN = re.compile(r"^\.part-\d{5}\.jsonl(\.gz)?\.[0-9a-f]+\.tmp$")
#: Lines are gathered and written in blocks of about this size.
WRITE_BLOCK = 1024 * 1024
GZIP_LEVEL = 6


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

    def write(self, line: bytes) -> None:
        """
        Add one line (without its newline).

        :param line: one JSON document, encoded.
        """
        self.write_many([line])

    def write_many(self, lines: list[bytes]) -> None:
        """
        Add lines (each without its newline), in order, starting new shards as they fill.

        :param lines: JSON documents, encoded.
        """
        done = 0
        while done < len(lines):
            if self._sink is None:
                self._open()
            room = len(lines) - done
            if self.items_per_file is not None:
                room = min(room, self.items_per_file - self._items)
            part = lines if room == len(lines) else lines[done : done + room]
            self._block += b"\n".join(part)
            self._block += b"\n"
            self._items += room
            done += room
            if len(self._block) >= WRITE_BLOCK:
                self._flush()
            if self.items_per_file is not None and self._items >= self.items_per_file:
                self._commit()

    def finish(self) -> list[Shard]:
        """Complete the last shard, remove shards an earlier attempt left beyond ours; return ours."""
        if self._sink is not None:
            self._commit()
        ours = {shard_name(i, self.compression) for i in range(len(self.shards))}
        for leftover in list_folder(self.folder):
            if SHARD_PATTERN.match(leftover.name) and leftover.name not in ours:
                leftover.unlink()
        return self.shards

    def abort(self) -> None:
        """Drop the shard being written (its temporary file); completed shards stay."""
        for stream in (self._sink, self._raw):
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()
        self._sink = self._raw = None
        if self._temp is not None and self._temp.exists():
            self._temp.unlink()
        self._temp = None

    def _open(self) -> None:
        name = shard_name(len(self.shards), self.compression)
        self._temp = self.folder / f".{name}.{self._attempt}.tmp"
        self._raw = self._temp.open("wb")
        if self.compression == "gzip":
            self._sink = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=GZIP_LEVEL, mtime=0)  # type: ignore[assignment]
        else:
            self._sink = self._raw
        self._items = 0

    def _flush(self) -> None:
        assert self._sink is not None
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
        self._temp.rename(final)
        self.shards.append(Shard(uri=plain_uri(final), items=self._items, bytes=size))
        self._sink = self._raw = self._temp = None
