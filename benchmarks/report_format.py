"""Number formatting and the Markdown pieces shared by the benchmark report's sections
(report.py, report_system.py)."""

from __future__ import annotations

from typing import List, Optional, Sequence


def fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.3g} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def fmt(x: Optional[float], digits: int = 3) -> str:
    if x is None:
        return "n/a"
    if x == 0 or 1e-3 <= abs(x) < 1e5:
        return f"{x:.{digits}g}" if abs(x) < 10**digits else f"{x:,.0f}"
    return f"{x:.{digits - 1}e}"


def ratio_text(r: Optional[float]) -> str:
    return "n/a" if r is None else f"{r:.3g}x"


def table_head(columns: Sequence[str]) -> List[str]:
    """A Markdown table's header and rule lines."""
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def section_head(title: str, intro: str, columns: Sequence[str]) -> List[str]:
    """A report section's heading, its introduction and the head of its table."""
    return [f"## {title}", "", intro, "", *table_head(columns)]
