"""The robustness benchmark runs end to end on its tiny ``--quick`` sizes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench" / "watermark_robustness.py"


@pytest.mark.slow
def test_quick_benchmark_prints_its_tables() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "| jpeg75 |" in result.stdout
    assert "false id recoveries: 0" in result.stdout
    assert "| ours (tiled-ss), marked |" in result.stdout
