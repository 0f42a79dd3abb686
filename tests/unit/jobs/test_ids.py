"""Id digests in sorted runs on disk: every digest comes back sorted, repeats are found, an export is compared."""

from __future__ import annotations

import os
import random

import pytest

from airflow_provider_bifrost.jobs import ids
from airflow_provider_bifrost.jobs.ids import DigestRuns, compare, digest, repeated


def test_a_digest_is_8_bytes_stable_and_the_same_for_str_and_its_utf8() -> None:
    assert digest("r1") == digest(b"r1") == digest("r1")
    assert digest("r1") != digest("r2")
    assert 0 <= digest("é" * 100) < 2**64
    assert digest("é") == digest("é".encode())


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1000])
def test_every_digest_comes_back_sorted_whatever_the_chunk(chunk: int) -> None:
    values = [random.Random(chunk).randrange(2**64) for _ in range(200)] + [5, 5, 0, 2**64 - 1]
    with DigestRuns(chunk=chunk) as runs:
        for value in values:
            runs.add(value)
        assert runs.count == len(values)
        assert list(runs.sorted()) == sorted(values)
        assert list(runs.sorted()) == sorted(values), "reading again gives the same"


def test_runs_longer_than_one_read_block_are_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "READ", 3)  # a run of 10 is read in blocks of 3, 3, 3 and a short one of 1
    values = list(range(30, 0, -1))
    with DigestRuns(chunk=10) as runs:
        for value in values:
            runs.add(value)
        assert list(runs.sorted()) == sorted(values)


def test_a_run_exactly_a_multiple_of_the_read_block_loses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "READ", 5)
    with DigestRuns(chunk=10) as runs:
        for value in range(20):
            runs.add(value)
        assert list(runs.sorted()) == list(range(20))


def test_nothing_added_reads_back_nothing() -> None:
    with DigestRuns(chunk=4) as runs:
        assert list(runs.sorted()) == []
        assert runs.count == 0


def test_the_runs_live_on_disk_until_closed() -> None:
    runs = DigestRuns(chunk=2)
    for value in (3, 1, 2):
        runs.add(value)
    assert list(runs.sorted()) == [1, 2, 3]
    folder = runs._folder
    assert folder is not None and len(os.listdir(folder.name)) == 2  # a full chunk of 2, then the rest
    runs.close()
    assert not os.path.exists(folder.name)
    assert list(runs.sorted()) == []


def test_the_context_manager_removes_the_runs_after_an_error() -> None:
    folders: list[str] = []
    with pytest.raises(RuntimeError), DigestRuns(chunk=1) as runs:
        runs.add(1)
        runs.add(2)
        assert runs._folder is not None
        folders.append(runs._folder.name)
        raise RuntimeError("boom")
    assert folders and not os.path.exists(folders[0])


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], []),
        ([1], []),
        ([1, 2, 3], []),
        ([1, 1], [1]),
        ([1, 1, 1, 1], [1]),
        ([0, 0, 2, 3, 3, 3, 4, 5, 5], [0, 3, 5]),
    ],
)
def test_repeated_names_each_repeated_digest_once(values: list[int], expected: list[int]) -> None:
    assert list(repeated(iter(values))) == expected


def test_repeated_finds_repeats_spread_over_many_runs() -> None:
    """A repeat whose two copies land in different runs (chunk=1: every digest a run of its own)."""
    with DigestRuns(chunk=1) as runs:
        for value in (9, 4, 7, 4, 1, 9, 9):
            runs.add(value)
        assert list(repeated(runs.sorted())) == [4, 9]


@pytest.mark.parametrize(
    ("expected", "seen", "counts"),
    [
        ([], [], (0, 0, 0)),
        ([1, 2, 3], [1, 2, 3], (0, 0, 0)),
        ([1, 2, 3], [], (3, 0, 0)),
        ([], [1, 2], (0, 2, 0)),
        ([1, 2, 3], [2], (2, 0, 0)),  # missing on both sides of what was seen
        ([1, 3], [1, 2, 3], (0, 1, 0)),
        ([1, 2, 3], [1, 1, 1, 2, 3], (0, 0, 2)),
        ([2, 4], [1, 1, 3, 5, 5], (2, 3, 2)),  # a repeated unexpected id: one unexpected, then one repeat
        ([1, 2, 3, 4, 5], [0, 2, 2, 4, 6], (3, 2, 1)),
    ],
)
def test_compare_counts_missing_unexpected_and_duplicated(
    expected: list[int], seen: list[int], counts: tuple[int, int, int]
) -> None:
    assert compare(iter(expected), iter(seen)) == counts


def test_compare_agrees_with_sets_on_random_streams() -> None:
    rng = random.Random(14)
    for _ in range(200):
        expected = sorted(set(rng.sample(range(60), rng.randrange(0, 40))))
        seen = sorted(rng.choice(range(60)) for _ in range(rng.randrange(0, 50)))
        missing = len(set(expected) - set(seen))
        unexpected = len(set(seen) - set(expected))
        duplicated = len(seen) - len(set(seen))
        assert compare(iter(expected), iter(seen)) == (missing, unexpected, duplicated), (expected, seen)
