"""The on-disk cache of built arrays: reuse, invalidation when a source file changes, bad entries."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

import dsrsd.data
from dsrsd.data import load_oulad, load_tables
from dsrsd.data.cache import cache_key, load_raw, save_raw
from dsrsd.data.tables import source_hashes


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A cache folder of this test only, so entries left by other tests do not count."""
    path = tmp_path / "cache"
    monkeypatch.setenv("DSRSD_CACHE_DIR", str(path))
    return path


def fail_build(*args, **kwargs):
    raise AssertionError("the tables were parsed or built, but the cache entry should have been read")


def test_second_load_reads_cache(oulad_dir, raw_end, cache_dir, monkeypatch, assert_raw_equal):
    first = load_oulad(oulad_dir, "end")
    entries = list(cache_dir.glob("oulad-*.npz"))
    assert len(entries) == 1

    monkeypatch.setattr(dsrsd.data, "build_oulad", fail_build)
    monkeypatch.setattr(dsrsd.data, "load_tables", fail_build)    # a cache hit parses no table
    second = load_oulad(oulad_dir, "end")
    assert_raw_equal(second, first)
    assert_raw_equal(second, raw_end)


def test_source_hashes_match_loaded_tables(mini_oulad_dir):
    assert source_hashes(mini_oulad_dir) == load_tables(mini_oulad_dir).file_hashes


def test_cache_not_beside_data(mini_oulad_dir, cache_dir):
    before = sorted(path.name for path in mini_oulad_dir.rglob("*"))
    load_oulad(mini_oulad_dir, 60)
    assert sorted(path.name for path in mini_oulad_dir.rglob("*")) == before
    assert len(list(cache_dir.glob("oulad-*.npz"))) == 1


def test_edit_changes_key(mini_oulad_dir, cache_dir):
    before = load_tables(mini_oulad_dir)
    first = load_oulad(mini_oulad_dir, "end")

    path = mini_oulad_dir / "studentInfo.csv"
    info = pd.read_csv(path, dtype=str, keep_default_na=False)
    info.loc[0, "studied_credits"] = str(int(info.loc[0, "studied_credits"]) + 30)
    info.to_csv(path, index=False)

    after = load_tables(mini_oulad_dir)
    assert after.file_hashes["studentInfo"] != before.file_hashes["studentInfo"]
    assert cache_key(after.file_hashes, "end") != cache_key(before.file_hashes, "end")
    second = load_oulad(mini_oulad_dir, "end")
    assert len(list(cache_dir.glob("oulad-*.npz"))) == 2
    row = int((second.keys["id_student"] == int(info.loc[0, "id_student"])).to_numpy().argmax())
    assert second.profile_numeric[row, 1] == first.profile_numeric[row, 1] + 30


def test_key_depends_on_cutoff():
    hashes = {"studentInfo": "a" * 64, "courses": "b" * 64}
    assert cache_key(hashes, "end") == cache_key(dict(hashes), "end")
    assert cache_key(hashes, "end") != cache_key(hashes, 60)
    assert cache_key(hashes, 60) != cache_key(hashes, 61)


def test_unreadable_entry_rebuilt(mini_oulad_dir, cache_dir, caplog, assert_raw_equal):
    expected = load_oulad(mini_oulad_dir, 60)
    entry = next(cache_dir.glob("oulad-*.npz"))
    entry.write_bytes(b"not an npz archive")

    with caplog.at_level(logging.WARNING, logger="dsrsd.data"):
        rebuilt = load_oulad(mini_oulad_dir, 60)
    assert_raw_equal(rebuilt, expected)
    assert f"ignoring unreadable cache entry {entry}" in caplog.text
    assert_raw_equal(load_raw(entry), expected)


def test_use_cache_false(mini_oulad_dir, cache_dir):
    load_oulad(mini_oulad_dir, 60, use_cache=False)
    assert not list(cache_dir.glob("*.npz"))


def test_round_trip_weekly(toy_raw, tmp_path, assert_raw_equal):
    path = tmp_path / "entry.npz"
    save_raw(toy_raw, path)
    assert_raw_equal(load_raw(path), toy_raw)
    assert not list(tmp_path.glob("*.partial"))


def test_bad_table_leaves_no_entry(mini_oulad_dir, cache_dir):
    lines = (mini_oulad_dir / "studentAssessment.csv").read_text().splitlines()
    lines[-1] = lines[-1] + ",1"
    (mini_oulad_dir / "studentAssessment.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(dsrsd.data.DataError, match="studentAssessment.csv: 1 row"):
        load_oulad(mini_oulad_dir, "end")
    assert not cache_dir.exists() or not list(cache_dir.iterdir())


def test_failed_build_leaves_no_entry(mini_oulad_dir, cache_dir):
    # The tables pass their own checks, and building the modalities fails on an unknown outcome.
    path = mini_oulad_dir / "studentInfo.csv"
    info = pd.read_csv(path, dtype=str, keep_default_na=False)
    info.loc[10, "final_result"] = "Deferred"
    info.to_csv(path, index=False)
    with pytest.raises(dsrsd.data.DataError, match="final_result .*'Deferred'"):
        load_oulad(mini_oulad_dir, "end")
    assert not cache_dir.exists() or not list(cache_dir.iterdir())


def test_interrupted_write_leaves_no_entry(toy_raw, tmp_path, monkeypatch):
    def write_half(stream, **arrays):
        stream.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", write_half)
    with pytest.raises(KeyboardInterrupt):
        save_raw(toy_raw, tmp_path / "entry.npz")
    assert list(tmp_path.iterdir()) == []
