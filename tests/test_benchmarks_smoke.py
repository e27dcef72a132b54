"""The benchmark harness runs end to end at tiny sizes, so it cannot rot.

Timing is never asserted (docs/design.md section 5): speed lives in benchmarks/RESULTS.md."""

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_benchmark_harness_runs_end_to_end(tmp_path):
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "run.py"), "--smoke", "--output",
                           str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    for heading in ("## Machine", "## Targets", "## Workloads", "## GEMM", "## Memory",
                    "## Import time", "## Epoch overhead"):
        assert heading in text, f"{heading} missing from the smoke report"
    assert "chainrule" in text
    import os
    if len(os.sched_getaffinity(0)) >= 2 and __import__("shutil").which("g++"):
        assert "| core-to-core round trip | start " in text  # where the vCPUs sit
