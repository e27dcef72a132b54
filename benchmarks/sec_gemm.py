"""GEMM: chainrule's kernels against numpy.matmul on the same operands, under each OpenBLAS
kernel this machine offers (each NumPy variant in a process of its own, gemm.py), the systems
taking turns case by case."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, Optional

import peak as peak_probe
import peers
from gemm import mlp_cases, square_cases
from harness import LOAD, QUIET, Config, in_turns, log
from machine import OPENBLAS_VARS

HERE = Path(__file__).resolve().parent
AVX512_KERNELS = {"skylakex", "cooperlake", "sapphirerapids"}  # OpenBLAS core names


class Server:
    """A gemm.py process that measures NumPy under one environment, a case when asked for
    (its OpenBLAS kernel is chosen when it loads, so each environment needs a process)."""

    def __init__(self, label: str, env: Dict[str, str], threads: int, budget: float) -> None:
        self.label, self.error, self.results = label, None, []
        cmd = [sys.executable, str(HERE / "gemm.py"), "numpy", "--threads", str(threads)]
        cmd += ["--budget", str(budget), "--max-wait", str(QUIET["max_wait"])]
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env=env,
        )
        self.blas = (self.answer() or {}).get("blas") or []

    @property
    def kernel(self) -> str:
        return (self.blas[0].get("architecture") if self.blas else None) or "unknown"

    def answer(self) -> Optional[Dict]:
        line = self.proc.stdout.readline() if self.error is None else ""
        if line:
            return json.loads(line)
        if self.error is None:
            self.proc.wait()
            self.stderr.seek(0)
            self.error = self.stderr.read().strip()[-300:] or f"exit {self.proc.returncode}"
        return None

    def measure(self, case: Dict) -> Optional[Dict]:
        if self.error is None:
            try:
                self.proc.stdin.write(json.dumps(case) + "\n")
                self.proc.stdin.flush()
            except OSError:  # the process is gone: answer() says why
                pass
        return self.answer()

    def close(self) -> Dict:
        try:
            self.proc.stdin.close()  # the end of its input ends the process
        except OSError:  # it is gone, with a line unsent
            pass
        self.proc.wait()
        self.proc.stdout.close()
        self.stderr.close()
        if self.error is not None:
            return dict(label=self.label, error=self.error)
        blas = self.blas[0] if self.blas else {}
        return dict(label=self.label, kernel=self.kernel, blas=blas, results=self.results)


def run_gemm(cfg: Config, threads: int) -> Dict:
    cases = square_cases(cfg.gemm_sizes) + mlp_cases(cfg.gemm_batch, cfg.gemm_layers)
    for batch, n_in, n_out in cfg.gemm_outputs:
        cases += mlp_cases(batch, (n_in, n_out))
    from gemm import WAKE_SECONDS, caller, measure_case

    base = dict(os.environ)
    variants = [("environment as is", base)]
    if any(v in base for v in OPENBLAS_VARS):
        variants.append(
            (
                f"{' and '.join(OPENBLAS_VARS)} unset",
                {k: v for k, v in base.items() if k not in OPENBLAS_VARS},
            )
        )
    servers = [Server(label, env, threads, cfg.gemm_budget) for label, env in variants]
    has_avx512 = lambda kernel: kernel.lower() in AVX512_KERNELS
    if "avx512f" in peak_probe.cpu_flags() and not has_avx512(servers[-1].kernel):
        env = {k: v for k, v in base.items() if k not in OPENBLAS_VARS}
        env["OPENBLAS_CORETYPE"] = "SkylakeX"
        servers.append(Server("OPENBLAS_CORETYPE=SkylakeX", env, threads, cfg.gemm_budget))

    # in-process systems (chainrule, and the baseline build when installed), then the servers
    own = {"chainrule": [], **({peers.BASELINE: []} if peers.HAS_BASELINE else {})}
    served = {f"NumPy ({s.label})": s for s in servers}
    systems = [*own, *served]
    log(f"    {len(cases)} cases, {cfg.turns} turns of " + ", ".join(systems) + " each")

    def turn(name: str, case: Dict) -> Optional[Dict]:
        if name in own:
            return measure_case(caller(name), case, LOAD, cfg.gemm_budget, QUIET["max_wait"])
        return served[name].measure(case)

    # the systems take turns case by case (Config.turns): with a pass of each system, one after
    # the other, float64 products read 0.65x NumPy here where a program alternating the two
    # read about 1.0x
    before = peak_probe.core_round_trip()
    try:
        for case in cases:
            got: Dict[str, list] = {}
            for _, name in in_turns(systems, cfg.turns):
                answer = turn(name, case)
                if answer is not None:
                    got.setdefault(name, []).append(answer)
            # each system's best turn, with every turn's GFLOP/s
            best = {
                name: dict(max(runs, key=lambda x: x["gflops"]), turns=[x["gflops"] for x in runs])
                for name, runs in got.items()
            }
            for name, results in own.items():
                results.append(best[name])
            for name, server in served.items():
                if server.error is None:
                    server.results.append(best[name])
    except BaseException:
        for server in servers:
            server.proc.kill()
            server.close()
        raise
    after = peak_probe.core_round_trip()
    measured = [s.close() for s in servers]
    for name in systems:  # one entry a system for the run's account of background load
        results = own[name] if name in own else served[name].results
        shares = [x["background"] for x in results if x["background"] is not None]
        probes = [x["host_probe"] for x in results if x["host_probe"]]
        waited = sum(x["waited"] for x in results)
        worst = (max(shares) if shares else None), waited, (max(probes) if probes else None)
        QUIET["log"].append((f"GEMM {name}", *worst))

    usable = [v for v in measured if "results" in v]
    reference = next((v for v in usable if has_avx512(v["kernel"])), usable[-1] if usable else None)
    return dict(
        cases=cases,
        chainrule=own["chainrule"],
        chainrule_base=own.get(peers.BASELINE),
        numpy=measured,
        reference=None if reference is None else reference["label"],
        reference_is_avx512=reference is not None and has_avx512(reference["kernel"]),
        chainrule_threads=peers.chainrule_threads(),
        wake_seconds=WAKE_SECONDS,
        rounds=cfg.turns,
        placement={"section": [before, after]},
    )
