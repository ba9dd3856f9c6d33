"""Measure the app's resident memory over many reruns that each change one sidebar or page widget.

The Students page runs in this process through Streamlit's AppTest, so the process's RSS is the
memory a server would hold for one session. Each rerun changes one sidebar widget, in turn: a
knockout toggle, a noise slider (cycling through 31 levels) or the course (one of four). Each
rerun also explains the selected student. RSS is read from /proc/self/status (Linux only) after
every rerun.

    DSRSD_DATA_DIR=data python benchmarks/bench_memory.py --reruns 200
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOISE_LEVELS = [round(0.1 * step, 1) for step in range(31)]


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS is missing from /proc/self/status")


def release_memory() -> None:
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)


def change_widget(app, step: int) -> str:
    """Change one sidebar widget of the Students page for rerun `step`; return what changed."""
    kind = step % 3
    if kind == 0:
        toggle = app.sidebar.toggle[(step // 3) % 3]
        toggle.set_value(not toggle.value)
        return "knockout"
    if kind == 1:
        app.sidebar.slider[(step // 3) % 3].set_value(NOISE_LEVELS[(step * 7) % len(NOISE_LEVELS)])
        return "noise"
    course = app.sidebar.selectbox[2]
    course.set_value(course.options[(step // 3) % 4])
    return "course"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reruns", type=int, default=200, help="number of reruns, each after one widget change")
    parser.add_argument("--trim", action="store_true",
                        help="run gc.collect() and glibc's malloc_trim(0) before each RSS reading, so it counts live "
                             "memory rather than memory the allocator keeps for reuse")
    args = parser.parse_args()
    if not os.environ.get("DSRSD_DATA_DIR"):
        print("error: DSRSD_DATA_DIR is not set; set it to the folder that contains oulad/", file=sys.stderr)
        return 2

    sys.path.insert(0, str(REPO))  # the pages import dsrsd from the repository
    import torch
    from streamlit.testing.v1 import AppTest

    torch.set_num_threads(1)
    started = time.perf_counter()
    app = AppTest.from_file(str(REPO / "pages/1_Students.py"), default_timeout=300).run()
    assert not app.exception, [item.value for item in app.exception]
    release = release_memory if args.trim else (lambda: None)
    release()
    samples = [rss_mib()]
    for step in range(args.reruns):
        change_widget(app, step)
        app.run()
        assert not app.exception, [item.value for item in app.exception]
        release()
        samples.append(rss_mib())

    half = args.reruns // 2
    result = {
        "reruns": args.reruns,
        "rss_after_first_run_mib": round(samples[0], 1),
        "rss_by_rerun_mib": {str(step): round(samples[step], 1) for step in sorted({10, 25, 50, 75, 100, 125, 150, 175, half, args.reruns})
                             if step <= args.reruns},
        "growth_over_last_half_mib": round(samples[-1] - samples[half], 1),
        "max_rss_mib": round(max(samples), 1),
        "python_objects_tracked_by_gc": len(gc.get_objects()),
        "trimmed": args.trim,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
