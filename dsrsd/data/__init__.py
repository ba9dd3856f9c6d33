"""Data loading: OULAD tables, the synthetic course, a spec table or the ASSISTments file -> raw modality
arrays -> encoded model inputs."""

from __future__ import annotations

import logging
from pathlib import Path

from dsrsd.data.assistments import AssistmentsRaw, load_assistments
from dsrsd.data.cache import cache_key, load_raw, save_raw
from dsrsd.data.encoding import Encoded, OuladEncoder
from dsrsd.data.engagement import engagement_form
from dsrsd.data.oulad import (
    AT_RISK_CLASSES, MODALITIES, OUTCOME_CLASSES, OuladRaw, build_oulad, default_split, parse_cutoff,
)
from dsrsd.data.next_step import BEFORE_DUE, build_next_step
from dsrsd.data.tables import DataError, OuladTables, load_tables, source_hashes
from dsrsd.data.spec import Spec, SpecError, read_spec
from dsrsd.data.spec_table import SpecRaw, load_spec_table
from dsrsd.data.synthetic import SyntheticCourse, synthetic_course
from dsrsd.settings import cache_dir

__all__ = [
    "AT_RISK_CLASSES", "AssistmentsRaw", "BEFORE_DUE", "MODALITIES", "OUTCOME_CLASSES", "DataError", "Encoded",
    "OuladEncoder", "OuladRaw", "load_assistments",
    "OuladTables", "Spec", "SpecError", "SpecRaw", "SyntheticCourse", "build_oulad", "default_split",
    "engagement_form", "load_oulad", "load_spec_table", "load_tables", "parse_cutoff", "read_spec", "synthetic_course",
]

log = logging.getLogger(__name__)


def load_oulad(data_dir: str | Path, cutoff: str | int = "end", use_cache: bool = True) -> OuladRaw:
    """Load the OULAD tables in `data_dir` and build the raw modalities, through the disk cache.

    `cutoff` is "end" or a course day for one row per registration (final outcome), or `BEFORE_DUE`
    for one row per registration and assessment (next step, `dsrsd.data.next_step`).

    The cache entry is keyed on the SHA-256 of every source file and on the cutoff, so an edited
    file is rebuilt. The cache lives in `dsrsd.settings.cache_dir()`, never beside the data.
    """
    cutoff = cutoff if cutoff == BEFORE_DUE else parse_cutoff(cutoff)
    # Hashing the files is enough to find a cache entry. The tables are parsed and checked only to
    # build one, so their warnings show when an entry is built, not on every load.
    path = cache_dir() / f"oulad-{cache_key(source_hashes(data_dir), cutoff)}.npz"
    if use_cache and path.is_file():
        try:
            return load_raw(path)
        except (OSError, ValueError, KeyError) as error:
            log.warning("ignoring unreadable cache entry %s (%s); rebuilding", path, error)
    tables = load_tables(data_dir)
    raw = build_next_step(tables) if cutoff == BEFORE_DUE else build_oulad(tables, cutoff)
    if use_cache:
        try:
            save_raw(raw, path)
        except OSError as error:
            log.warning("cannot write the cache entry %s (%s); continuing without it", path, error)
    return raw
