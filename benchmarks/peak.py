"""The machine's peak fp32/fp64 FLOP rate, measured with the FMA probe in peak.cpp.

The probe is compiled at run time with g++ -O2 and the best ISA flags the CPU advertises in
/proc/cpuinfo (AVX-512F + FMA, else AVX2 + FMA, else none), then run on the requested thread
counts. Without g++ (or on a failed build) the peak is reported as unavailable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

SOURCE = Path(__file__).with_name("peak.cpp")


def cpu_flags() -> set:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def isa_candidates(flags: set) -> List[List[str]]:
    """Compiler flag sets to try, best first."""
    candidates = []
    if {"avx512f", "fma"} <= flags:
        candidates.append(["-mavx512f", "-mfma"])
    if {"avx2", "fma"} <= flags:
        candidates.append(["-mavx2", "-mfma"])
    candidates.append([])
    return candidates


def measure(threads: Sequence[int], seconds: float = 0.2, runs: int = 2) -> Dict:
    """{"isa": ..., "flags": [...], "fp32": {threads: GFLOP/s}, "fp64": {...}}, the best of
    ``runs`` probe runs per entry, or {"unavailable": reason}."""
    compiler = shutil.which("g++")
    if compiler is None:
        return {"unavailable": "g++ not found"}
    with tempfile.TemporaryDirectory(prefix="chainrule-peak-") as tmp:
        exe = os.path.join(tmp, "peak")
        errors = []
        for flags in isa_candidates(cpu_flags()):
            cmd = [compiler, "-O2", "-std=c++17", "-pthread", *flags, str(SOURCE), "-o", exe]
            build = subprocess.run(cmd, capture_output=True, text=True)
            if build.returncode == 0:
                break
            errors.append(f"{' '.join(flags) or 'no ISA flags'}: {build.stderr.strip()[-200:]}")
        else:
            return {"unavailable": "g++ could not build peak.cpp: " + "; ".join(errors)}
        result: Dict = {"flags": flags, "fp32": {}, "fp64": {}}
        args = [exe, str(seconds), *map(str, sorted(set(threads)))]
        for _ in range(max(1, runs)):
            out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
            for line in out.splitlines():
                kind, *rest = line.split()
                if kind == "isa":
                    result["isa"], result["accumulators"] = rest[0], int(rest[1])
                else:
                    n, gflops = int(rest[0]), float(rest[1])
                    result[kind][n] = max(result[kind].get(n, 0.0), gflops)
        return result


PINGPONG = Path(__file__).with_name("pingpong.cpp")
_pingpong_exe: Dict[str, str] = {}


def core_round_trip() -> Optional[float]:
    """Round trip in ns of a cache line between CPUs 0 and 1 (pingpong.cpp), or None when it
    cannot be measured (one CPU, no g++)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None
    if len(cpus) < 2 or shutil.which("g++") is None:
        return None
    if "exe" not in _pingpong_exe:
        exe = os.path.join(tempfile.mkdtemp(prefix="chainrule-pingpong-"), "pingpong")
        cmd = ["g++", "-O2", "-std=c++17", "-pthread", str(PINGPONG), "-o", exe]
        if subprocess.run(cmd, capture_output=True).returncode != 0:
            return None
        _pingpong_exe["exe"] = exe
    try:
        out = subprocess.run(
            [_pingpong_exe["exe"], str(cpus[0]), str(cpus[1])],
            capture_output=True,
            text=True,
            timeout=20,
        )
        return float(out.stdout.strip()) if out.returncode == 0 else None
    except (subprocess.SubprocessError, ValueError):
        return None


def best_of_two(a: Dict, b: Dict) -> Dict:
    """Entry-wise maximum of two measurements (the peak is the best rate observed)."""
    if "unavailable" in a or "unavailable" in b:
        return b if "unavailable" in a else a
    merged = dict(a)
    for dtype in ("fp32", "fp64"):
        merged[dtype] = {
            n: max(a[dtype].get(n, 0.0), b[dtype].get(n, 0.0))
            for n in set(a[dtype]) | set(b[dtype])
        }
    return merged


def peak_at(peak: Dict, dtype: str, threads: int) -> Optional[float]:
    """Peak GFLOP/s for ``dtype`` ("fp32"/"fp64") at ``threads`` threads, if measured."""
    if "unavailable" in peak:
        return None
    table = peak[dtype]
    if threads in table:
        return table[threads]
    below = [n for n in table if n <= threads]
    return table[max(below)] if below else None


if __name__ == "__main__":
    print(measure([1, os.cpu_count() or 1]))
