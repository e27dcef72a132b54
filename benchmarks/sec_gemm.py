"""GEMM: chainrule's kernels against numpy.matmul on the same operands, under each OpenBLAS
kernel this machine offers (each NumPy variant in a process of its own, gemm.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict

import peak as peak_probe
import peers
from gemm import mlp_cases, square_cases
from harness import QUIET, Config, guarded, log
from machine import OPENBLAS_VARS

HERE = Path(__file__).resolve().parent
AVX512_KERNELS = {"skylakex", "cooperlake", "sapphirerapids"}  # OpenBLAS core names


def numpy_gemm_variant(label: str, env: Dict[str, str], cases, threads: int, budget: float) -> Dict:
    cmd = [
        sys.executable,
        str(HERE / "gemm.py"),
        "numpy",
        "--threads",
        str(threads),
        "--budget",
        str(budget),
    ]
    cmd += ["--max-wait", str(QUIET["max_wait"])]  # it waits for a quiet machine per case
    proc = guarded(
        f"GEMM numpy ({label})",
        lambda: subprocess.run(
            cmd, input=json.dumps(cases), capture_output=True, text=True, env=env
        ),
        attempts=1,
    )
    if proc.returncode != 0:
        return dict(label=label, error=proc.stderr.strip()[-300:])
    out = json.loads(proc.stdout)
    blas = out["blas"][0] if out["blas"] else {}
    return dict(
        label=label, kernel=blas.get("architecture") or "unknown", blas=blas, results=out["results"]
    )


def run_gemm(cfg: Config, threads: int) -> Dict:
    cases = square_cases(cfg.gemm_sizes) + mlp_cases(cfg.gemm_batch, cfg.gemm_layers)
    for batch, n_in, n_out in cfg.gemm_outputs:
        cases += mlp_cases(batch, (n_in, n_out))
    from gemm import WAKE_SECONDS, measure

    # the vCPUs' round trip before and after each system's pass: the passes run minutes apart,
    # and a pass with the vCPUs on two dies is not comparable with one on one die
    placement: Dict[str, list] = {}

    def placed(label: str, run):
        before = peak_probe.core_round_trip()
        out = run()
        placement[label] = [before, peak_probe.core_round_trip()]
        return out

    log(f"    chainrule: {len(cases)} cases")
    chainrule_results = placed(
        "chainrule",
        lambda: guarded(
            "GEMM chainrule",
            lambda: measure("chainrule", cases, cfg.gemm_budget, QUIET["max_wait"]),
            attempts=1,
        ),
    )
    baseline_results = None
    if peers.HAS_BASELINE:
        log(f"    {peers.BASELINE}: {len(cases)} cases")
        baseline_results = placed(
            peers.BASELINE,
            lambda: guarded(
                f"GEMM {peers.BASELINE}",
                lambda: measure(peers.BASELINE, cases, cfg.gemm_budget, QUIET["max_wait"]),
                attempts=1,
            ),
        )

    base = dict(os.environ)
    variants = [("environment as is", base)]
    if any(v in base for v in OPENBLAS_VARS):
        variants.append(
            (
                f"{' and '.join(OPENBLAS_VARS)} unset",
                {k: v for k, v in base.items() if k not in OPENBLAS_VARS},
            )
        )
    measured = []
    for label, env in variants:
        log(f"    numpy ({label})")
        measured.append(
            placed(
                f"NumPy ({label})",
                lambda: numpy_gemm_variant(label, env, cases, threads, cfg.gemm_budget),
            )
        )
    has_avx512 = lambda v: v.get("kernel", "").lower() in AVX512_KERNELS
    if "avx512f" in peak_probe.cpu_flags() and not has_avx512(measured[-1]):
        env = {k: v for k, v in base.items() if k not in OPENBLAS_VARS}
        env["OPENBLAS_CORETYPE"] = "SkylakeX"
        log("    numpy (OPENBLAS_CORETYPE=SkylakeX)")
        measured.append(
            placed(
                "NumPy (OPENBLAS_CORETYPE=SkylakeX)",
                lambda: numpy_gemm_variant(
                    "OPENBLAS_CORETYPE=SkylakeX", env, cases, threads, cfg.gemm_budget
                ),
            )
        )
    usable = [v for v in measured if "results" in v]
    reference = next((v for v in usable if has_avx512(v)), usable[-1] if usable else None)
    return dict(
        cases=cases,
        chainrule=chainrule_results,
        chainrule_base=baseline_results,
        numpy=measured,
        reference=None if reference is None else reference["label"],
        reference_is_avx512=reference is not None and has_avx512(reference),
        chainrule_threads=peers.chainrule_threads(),
        wake_seconds=WAKE_SECONDS,
        placement=placement,
    )
