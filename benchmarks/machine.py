"""The machine and the build a run measured: CPU, threads, BLAS, versions, git revision."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Dict, Optional

import peak as peak_probe
import peers

HERE = Path(__file__).resolve().parent
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def cpu_steal() -> Optional[tuple]:
    """(steal, total) jiffies from /proc/stat, to report how much the hypervisor took."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return fields[7], sum(fields)
    except (OSError, IndexError, ValueError):
        return None


def git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(HERE), "status", "--porcelain"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return rev + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def chainrule_build() -> str:
    """Identity of the installed extension module (others may reinstall it during a run)."""
    import hashlib

    import chainrule._core

    path = Path(chainrule._core.__file__)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    stamp = datetime.datetime.fromtimestamp(path.stat().st_mtime).isoformat(timespec="seconds")
    return f"{path.name} sha256 {digest}, built {stamp}"


def machine_info(threads: int) -> Dict[str, Any]:
    from gemm import blas_info

    import chainrule

    return dict(
        cpu=peak_probe.cpu_model(),
        logical_cpus=os.cpu_count(),
        threads=threads,
        chainrule_threads=peers.chainrule_threads(),
        chainrule_get_num_threads=hasattr(chainrule, "get_num_threads"),
        avx512f="avx512f" in peak_probe.cpu_flags(),
        python=platform.python_version(),
        chainrule_path=str(Path(chainrule.__file__).parent),
        git=git_revision(),
        chainrule_build=chainrule_build(),
        blas=blas_info(),
        openblas_env={v: os.environ.get(v) for v in OPENBLAS_VARS},
        date=datetime.datetime.now().isoformat(timespec="seconds"),
    )
