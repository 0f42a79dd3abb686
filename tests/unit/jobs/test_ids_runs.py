"""Digests in sorted runs on disk: every digest read back in order, in runs merged level by level."""

from __future__ import annotations

import os
import random

from airflow_provider_bifrost.jobs.ids import DigestRuns, compare, digest, digests, repeated


def test_every_digest_comes_back_sorted_through_merged_levels() -> None:
    rng = random.Random(7)
    values = [rng.getrandbits(64) for _ in range(5_000)] + [12, 12, 12]
    with DigestRuns(chunk=10, fan_in=3) as runs:
        for value in values:
            runs.add(value)
        assert list(runs.sorted()) == sorted(values)
        assert list(runs.sorted()) == sorted(values), "sorted() can be read again"
        # 501 runs of 10: every level keeps fewer than fan_in runs, so few files are open while merging
        levels = runs._levels
        assert len(levels) == 6 and all(len(level) < 3 for level in levels)
        assert folder_files(runs) == sum(len(level) for level in levels)
        assert runs.count == len(values)
    assert runs._folder is None


def test_extend_adds_what_add_adds() -> None:
    ids: list[str | bytes] = [f"r{i}" for i in range(95)]
    ids += [b"raw", "ü"]
    assert list(digests(ids)) == [digest(custom_id) for custom_id in ids]
    with DigestRuns(chunk=10, fan_in=3) as one_by_one, DigestRuns(chunk=10, fan_in=3) as extended:
        for value in digests(ids):
            one_by_one.add(value)
        extended.extend(digests(ids[:40]))
        extended.extend([])
        extended.extend(digests(ids[40:]))
        assert extended.count == one_by_one.count == len(ids)
        assert list(extended.sorted()) == list(one_by_one.sorted()) == sorted(digests(ids))
        assert folder_files(extended) == folder_files(one_by_one)


def test_a_job_smaller_than_a_chunk_writes_one_run() -> None:
    with DigestRuns() as runs:
        for value in (3, 1, 2):
            runs.add(value)
        assert list(runs.sorted()) == [1, 2, 3] and folder_files(runs) == 1


def test_repeats_and_the_export_check() -> None:
    expected = sorted({digest(f"r{i}") for i in range(10)})
    seen = sorted([digest(f"r{i}") for i in range(2, 10)] + [digest("r5"), digest("other")])
    assert list(repeated(iter(seen))) == [digest("r5")]
    assert compare(iter(expected), iter(seen)) == (2, 1, 1)  # r0, r1 missing; "other" unexpected; r5 twice


def folder_files(runs: DigestRuns) -> int:
    assert runs._folder is not None
    return len(os.listdir(runs._folder.name))
