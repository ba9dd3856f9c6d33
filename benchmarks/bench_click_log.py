"""Time the weekly-click build on a click log as large as OULAD's studentVle (10,655,280 rows).

The real log is not redistributed with the other tables, so this writes a synthetic one: real
registrations and real id_site values of their presentation, random days and click counts. The other
tables are linked from the real data folder. The timing covers the DuckDB aggregation and the dense
array build, with the disk cache off.

    python benchmarks/bench_click_log.py --data-dir data/oulad [--rows 10655280]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

# Run as a script, only benchmarks/ is on sys.path; the package is one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dsrsd.data import load_oulad, load_tables

OFFICIAL_ROWS = 10_655_280


def write_click_log(data_dir: Path, target: Path, rows: int, seed: int = 0) -> None:
    tables = load_tables(data_dir)
    rng = np.random.default_rng(seed)
    registrations = tables.student_info[["code_module", "code_presentation", "id_student"]]
    picked = registrations.iloc[rng.integers(0, len(registrations), rows)].reset_index(drop=True)
    sites = tables.vle.groupby(["code_module", "code_presentation"])["id_site"].apply(np.array)
    id_site = np.empty(rows, dtype=np.int64)
    for (module, presentation), positions in picked.groupby(["code_module", "code_presentation"]).indices.items():
        options = sites[(module, presentation)]
        id_site[positions] = options[rng.integers(0, len(options), len(positions))]
    log = picked.assign(id_site=id_site, date=rng.integers(-25, 270, rows), sum_click=rng.geometric(0.3, rows))
    log.to_csv(target / "studentVle.csv", index=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="real OULAD folder (the six tables)")
    parser.add_argument("--rows", type=int, default=OFFICIAL_ROWS, help="rows of the synthetic log (default: %(default)s)")
    parser.add_argument("--cutoff", default="end", help="cutoff to build (default: end)")
    args = parser.parse_args()
    data_dir = Path(args.data_dir).resolve()

    with tempfile.TemporaryDirectory(prefix="dsrsd-clicks-") as folder:
        target = Path(folder)
        for name in ("studentInfo", "studentRegistration", "courses", "assessments", "studentAssessment", "vle"):
            source = next(data_dir.glob(f"{name}.csv*"))
            os.symlink(source, target / source.name)
        started = time.perf_counter()
        write_click_log(data_dir, target, args.rows)
        written = time.perf_counter() - started
        size_mb = (target / "studentVle.csv").stat().st_size / 1e6

        started = time.perf_counter()
        raw = load_oulad(target, args.cutoff, use_cache=False)
        seconds = time.perf_counter() - started

    print(json.dumps({
        "rows": args.rows, "csv_mb": round(size_mb, 1), "write_seconds": round(written, 1),
        "build_seconds": round(seconds, 1), "cutoff": args.cutoff, "form": raw.engagement.form,
        "engagement_shape": list(raw.engagement.values.shape),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
