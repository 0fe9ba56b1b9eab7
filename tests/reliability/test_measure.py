"""The memory figures of the hostile-input tests belong to the child they measure: a child of a
large test process must not report the test process's peak as its own."""

from __future__ import annotations

import os
import sys

from .conftest import run_measured


def test_a_small_child_of_a_large_process_measures_small() -> None:
    ballast = bytearray(250 * 1024 * 1024)
    for i in range(0, len(ballast), 4096):  # touch every page: resident, not just reserved
        ballast[i] = 1
    run = run_measured([sys.executable, "-c", "pass"], dict(os.environ))
    assert run.returncode == 0
    assert run.peak_rss_mb < 100, f"the child reported {run.peak_rss_mb:.0f} MB"
    del ballast


def test_the_child_peak_and_exit_code_are_its_own() -> None:
    grow = (
        "b = bytearray(120 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); raise SystemExit(3)"
    )
    run = run_measured([sys.executable, "-c", grow], dict(os.environ))
    assert run.returncode == 3
    assert 120 < run.peak_rss_mb < 250
