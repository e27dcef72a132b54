"""
the core's GEMM kernels, for tests and benchmarks
"""
from __future__ import annotations
import numpy
import numpy.typing
import typing
__all__: list[str] = ['active_level', 'cpu_description', 'matmul', 'set_kernel_level', 'supported_levels']
def active_level() -> str:
    ...
def cpu_description() -> str:
    ...
@typing.overload
def matmul(A: numpy.typing.NDArray[numpy.float32], B: numpy.typing.NDArray[numpy.float32], trans_a: bool = False, trans_b: bool = False) -> numpy.typing.NDArray[numpy.float32]:
    ...
@typing.overload
def matmul(A: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], B: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], trans_a: bool = False, trans_b: bool = False) -> numpy.typing.NDArray[numpy.float64]:
    ...
def set_kernel_level(level: str) -> None:
    """
    Force 'portable', 'avx2' or 'avx512' (for tests and benchmarks).
    """
def supported_levels() -> list[str]:
    ...
