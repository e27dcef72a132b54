"""
the core's GEMM kernels, for tests and benchmarks
"""
from __future__ import annotations
import typing
__all__: list[str] = ['active_level', 'cpu_description', 'matmul', 'set_kernel_level', 'set_small_step_enabled', 'small_step_enabled', 'supported_levels']
def active_level() -> str:
    ...
def cpu_description() -> str:
    ...
def matmul(A: typing.Any, B: typing.Any, trans_a: bool = False, trans_b: bool = False) -> typing.Any:
    ...
def set_kernel_level(level: str) -> None:
    """
    Force 'portable', 'avx2' or 'avx512' (for tests and benchmarks).
    """
def set_small_step_enabled(enabled: bool) -> None:
    """
    Allow (True) or forbid (False) the fused small-network training step.
    """
def small_step_enabled() -> bool:
    ...
def supported_levels() -> list[str]:
    ...
