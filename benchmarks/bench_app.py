"""Time the app: server start, first page run from cold, and redraws after a what-if change.

Each cold number comes from a fresh Python process, so no Streamlit cache or numba kernel is warm.
Page times are script runs measured with Streamlit's AppTest (what the server computes before the
browser draws). The server start is the time until `streamlit run` responds to its health check. With
the `playwright` package and Debian's Chromium installed, it also times a real browser from
`streamlit run` until the Students page shows its table.

    DSRSD_DATA_DIR=data python benchmarks/bench_app.py
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Runs in a fresh process: the cold first run of one page, then warm reruns after widget changes.
PAGE_PROBE = textwrap.dedent("""
    import json, statistics, sys, threading, time
    from streamlit.testing.v1 import AppTest

    page, repeats = sys.argv[1], int(sys.argv[2])
    started = time.perf_counter()
    app = AppTest.from_file(page, default_timeout=300).run()
    cold = time.perf_counter() - started
    assert not app.exception, [e.value for e in app.exception]
    app.run()  # a plain rerun, so the warm timings below measure the change alone
    # `streamlit run app.py` compiles UMAP's numba kernels in a background thread once the first page is
    # drawn (about 10 s here). Warm timings start once that is done, as for a user who opened the app a
    # moment ago. A page file run alone does not start the thread, so the probe starts it here.
    from dsrsd.app.state import warm_numba_in_background
    warm_numba_in_background()
    for thread in threading.enumerate():
        if thread.name == "umap-warmup":
            thread.join()

    def timed(change):
        change()
        started = time.perf_counter()
        app.run()
        assert not app.exception, [e.value for e in app.exception]
        return time.perf_counter() - started

    knockout, noise = [], []
    for index in range(repeats):
        knockout.append(timed(lambda: app.sidebar.toggle[index % 3].set_value(True)))
        knockout.append(timed(lambda: app.sidebar.toggle[index % 3].set_value(False)))
        noise.append(timed(lambda: app.sidebar.slider[index % 3].set_value(0.5 + 0.1 * index)))
    result = {"cold_first_run_s": cold}
    if repeats:
        result.update({"knockout_change_median_s": statistics.median(knockout), "knockout_change_max_s": max(knockout),
                       "noise_change_median_s": statistics.median(noise), "noise_change_max_s": max(noise)})
    print(json.dumps(result))
""")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server() -> tuple[subprocess.Popen, int, float]:
    """Start `streamlit run app.py` on a free loopback port; return it, the port and its start time."""
    port = free_port()
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return server, port, started


def wait_healthy(port: int, started: float) -> float:
    while time.perf_counter() - started < 60:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("streamlit did not answer its health check within 60 s")


def server_start_seconds() -> float:
    server, port, started = start_server()
    try:
        return wait_healthy(port, started)
    finally:
        server.terminate()
        server.wait(timeout=10)


def browser_available(chromium: str) -> bool:
    """Return whether the `playwright` package and the Chromium binary at `chromium` are both installed."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return Path(chromium).exists()


def launch_chromium(playwright, chromium: str):
    """Launch Debian's Chromium headless, without the sandbox (containers lack it) or background traffic."""
    return playwright.chromium.launch(
        executable_path=chromium,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
    )


def browser_first_page_seconds(chromium: str = "/usr/bin/chromium") -> float | None:
    """Seconds from `streamlit run` until Chromium shows the Students page's table, or None.

    Needs the `playwright` package and Debian's Chromium; returns None when either is missing.
    """
    if not browser_available(chromium):
        return None
    from playwright.sync_api import sync_playwright

    server, port, started = start_server()
    try:
        wait_healthy(port, started)
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright, chromium)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/Students")
            page.wait_for_selector("[data-testid='stDataFrame']", timeout=120_000)
            elapsed = time.perf_counter() - started
            browser.close()
        return elapsed
    finally:
        server.terminate()
        server.wait(timeout=10)


def page_times(page: str, repeats: int = 3) -> dict:
    output = subprocess.run([sys.executable, "-c", PAGE_PROBE, str(REPO / page), str(repeats)], cwd=REPO,
                            capture_output=True, text=True)
    if output.returncode:
        raise RuntimeError(f"{page} probe failed:\n{output.stderr[-3000:]}")
    return {name: round(value, 3) for name, value in json.loads(output.stdout.strip().splitlines()[-1]).items()}


def main() -> int:
    if not os.environ.get("DSRSD_DATA_DIR"):
        print("error: DSRSD_DATA_DIR is not set; set it to the folder that contains oulad/", file=sys.stderr)
        return 2
    results = {"server_start_s": round(server_start_seconds(), 2)}
    browser = browser_first_page_seconds()
    results["browser_students_table_after_start_s"] = None if browser is None else round(browser, 2)
    for page in ("app.py", "pages/1_Students.py", "pages/2_Representations.py", "pages/3_Covariance.py",
                 "pages/7_Gates.py"):
        results[page] = page_times(page, repeats=0 if page == "app.py" else 3)
    results["machine"] = f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
