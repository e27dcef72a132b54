"""The machine's limits, measured by small C++ probes compiled at run time: the peak fp32/fp64
FLOP rate (peak.cpp), the cache-line round trip between two CPUs (pingpong.cpp) and the least
time in which the threads read a predict's weights (readrate.cpp).

The peak probe is compiled with g++ -O2 and the best ISA flags the CPU advertises in
/proc/cpuinfo (AVX-512F + FMA, else AVX2 + FMA, else none), then run on the requested thread
counts. Without g++ (or on a failed build) the peak is reported as unavailable, and the other
probes' figures as None.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

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
    exe, flags, why = _build(SOURCE, "-O2", isa=True)
    if exe is None:
        return {"unavailable": why}
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
READRATE = Path(__file__).with_name("readrate.cpp")
#: by probe: (its executable or None, the ISA flags it was built with, why it could not be)
_built: Dict[str, Tuple[Optional[str], List[str], str]] = {}
#: the folder of this process's probe executables, removed when the process exits
_folder: Optional[tempfile.TemporaryDirectory] = None


def _probe_path(stem: str) -> str:
    global _folder
    if _folder is None:
        _folder = tempfile.TemporaryDirectory(prefix="chainrule-probe-")
    return os.path.join(_folder.name, stem)


def _build(source: Path, opt: str, isa: bool = False) -> Tuple[Optional[str], List[str], str]:
    """The probe ``source`` compiled once per run with g++ at ``opt`` and, with ``isa``, the
    best ISA flags that build (isa_candidates, best first): (the executable or None, those
    flags, why it could not be built)."""
    if source.name not in _built:
        if shutil.which("g++") is None:
            _built[source.name] = (None, [], "g++ not found")
        else:
            exe = _probe_path(source.stem)
            errors = []
            for flags in isa_candidates(cpu_flags()) if isa else [[]]:
                cmd = ["g++", opt, "-std=c++17", "-pthread", *flags, str(source), "-o", exe]
                build = subprocess.run(cmd, capture_output=True, text=True)
                if build.returncode == 0:
                    _built[source.name] = (exe, flags, "")
                    break
                errors.append(f"{' '.join(flags) or 'no ISA flags'}: {build.stderr.strip()[-200:]}")
            else:
                why = f"g++ could not build {source.name}: " + "; ".join(errors)
                _built[source.name] = (None, [], why)
    return _built[source.name]


def _run_probe(exe: Optional[str], *args: object) -> Optional[List[str]]:
    """The probe's output line split in fields, or None when it failed or could not run."""
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=20)
    except subprocess.SubprocessError:
        return None
    return out.stdout.split() if out.returncode == 0 and out.stdout.strip() else None


def core_round_trip() -> Optional[float]:
    """Round trip in ns of a cache line between CPUs 0 and 1 (pingpong.cpp), or None when it
    cannot be measured (one CPU, no g++)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None
    if len(cpus) < 2:
        return None
    fields = _run_probe(_build(PINGPONG, "-O2")[0], cpus[0], cpus[1])
    try:
        return float(fields[0]) if fields else None
    except ValueError:
        return None


def read_floor(n_bytes: int, threads: int) -> Optional[Dict]:
    """{"seconds", "bytes", "threads", "pinned"}: the least time in which ``threads`` threads
    read ``n_bytes`` of float32 weights, a share each, with one FMA a weight (readrate.cpp, the
    fastest of 2,000 passes): what a one-row predict of that many weights cannot beat. None
    when it cannot be measured (no g++, not Linux)."""
    fields = _run_probe(_build(READRATE, "-O3", isa=True)[0], int(n_bytes), int(threads))
    if not fields:
        return None
    return dict(
        seconds=float(fields[0]), bytes=int(n_bytes), threads=threads, pinned=int(fields[1])
    )


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
    table = {int(n): g for n, g in peak[dtype].items()}  # (JSON's keys are strings)
    if threads in table:
        return table[threads]
    below = [n for n in table if n <= threads]
    return table[max(below)] if below else None


if __name__ == "__main__":
    print(measure([1, os.cpu_count() or 1]))
