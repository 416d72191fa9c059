"""``bench/review_queue.py --quick`` runs end to end and prints its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_review_queue_benchmark_quick_run() -> None:
    completed = subprocess.run(
        [sys.executable, "bench/review_queue.py", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    rows = [line for line in completed.stdout.splitlines() if line.startswith("| queue page")]
    assert rows[0].startswith("| queue page, empty queue (baseline) | 0 |")
    assert "| queue page, first 50 | 50 |" in completed.stdout
    assert "warning" not in completed.stderr.lower()
