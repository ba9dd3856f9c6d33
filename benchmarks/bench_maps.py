"""Time the stored UMAP maps: placing a perturbed cohort in them, and the Representations page from a cold server.

    DSRSD_DATA_DIR=data python benchmarks/bench_maps.py

The shipped checkpoint's maps must be stored first (`python -m dsrsd.project`). Placing is timed
warm, after one untimed call has compiled umap-learn's numba kernels, as the app's start-up thread
does. The browser part needs the `playwright` package and Debian's Chromium; it is skipped without.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

# Run as a script: the repository (for dsrsd) and this folder (for bench_app) go on the import path.
sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]
from bench_app import browser_available, launch_chromium, start_server, wait_healthy  # noqa: E402

from dsrsd.app.maps import PLACEMENT_EPOCHS  # noqa: E402
from dsrsd.checkpoint import load_checkpoint  # noqa: E402
from dsrsd.cohorts import build_cohorts, course_rows  # noqa: E402
from dsrsd.inference import predict  # noqa: E402
from dsrsd.map_store import load_maps, stored_sample  # noqa: E402
from dsrsd.perturb import Perturbation  # noqa: E402
from dsrsd.projection import place_in_maps  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CHECKPOINT = REPO / "checkpoints" / "oulad-final-outcome"
COHORT = "* 2014J"
LEARNERS = 2000


def placement_seconds(data_dir: Path, repeats: int = 5) -> dict:
    """Place the codes of 2,000 learners with noise on one or every modality in the stored maps of COHORT.

    As on the Representations page, only codes that the noise changes are placed (in both maps), with
    the page's number of layout epochs.
    """
    checkpoint = load_checkpoint(CHECKPOINT)
    cohorts = build_cohorts(checkpoint, data_dir)
    rows = course_rows(cohorts, COHORT)
    sample = stored_sample(CHECKPOINT, COHORT)
    if sample is None:
        raise SystemExit(f"no stored map of {COHORT!r}; run python -m dsrsd.project --checkpoint {CHECKPOINT} first")
    fitted = cohorts.encoded.subset(rows[sample])
    maps = load_maps(CHECKPOINT, COHORT, ("aligned", "private"), predict(checkpoint.model, fitted, keep_codes=True),
                     fitted.keys)
    chosen = rows[np.random.default_rng(1).choice(len(rows), LEARNERS, replace=False)]
    clean = predict(checkpoint.model, cohorts.encoded.subset(chosen), keep_codes=True)
    results = {}
    for name, noisy in (("engagement", ("engagement",)), ("every modality", tuple(checkpoint.modalities))):
        perturbation = Perturbation(noise={m: 0.5 for m in noisy})
        perturbed = predict(checkpoint.model, cohorts.encoded.subset(chosen), perturbation, keep_codes=True)
        place_in_maps(maps, perturbed, reference=clean, epochs=PLACEMENT_EPOCHS)   # compiles numba kernels on the first pass
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            placed = place_in_maps(maps, perturbed, reference=clean, epochs=PLACEMENT_EPOCHS)
            times.append(time.perf_counter() - started)
        results[f"noise on {name}"] = {"learners": LEARNERS, "codes_placed": len(placed),
                                       "median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3)}
    return results


def browser_representations_seconds(chromium: str = "/usr/bin/chromium") -> dict | None:
    """Seconds until Chromium draws both maps of the Representations page, from the server's health check."""
    if not browser_available(chromium):
        return None
    from playwright.sync_api import sync_playwright

    server, port, started = start_server()
    try:
        healthy = wait_healthy(port, started)
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright, chromium)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            opened = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/Representations")
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=120_000)
            drawn = time.perf_counter()
            browser.close()
        return {"server_healthy_s": round(healthy, 2), "maps_drawn_after_server_start_s": round(drawn - opened, 2),
                "maps_drawn_after_streamlit_run_s": round(drawn - started, 2)}
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> int:
    if not os.environ.get("DSRSD_DATA_DIR"):
        print("error: DSRSD_DATA_DIR is not set; set it to the folder that contains oulad/", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    results = {"placement": placement_seconds(Path(os.environ["DSRSD_DATA_DIR"]) / "oulad"),
               "browser": browser_representations_seconds(),
               "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"}
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
