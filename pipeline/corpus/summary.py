"""The table printed at the end of a build: videos per split, label and method."""

from __future__ import annotations

from collections import Counter
from typing import Any


def summary_table(lines: list[dict[str, Any]], title: str) -> Any:
    from rich.table import Table

    counts = Counter((l.get("split"), l.get("label"), l.get("method") or "original", l.get("compression"),
                      l.get("variant") or "-") for l in lines)
    table = Table(title=f"corpus {title}", title_justify="left")
    for column in ("split", "label", "method", "compression", "variant", "videos", "frames"):
        table.add_column(column, justify="right" if column in ("videos", "frames") else "left")
    frames = Counter()
    for l in lines:
        frames[(l.get("split"), l.get("label"), l.get("method") or "original", l.get("compression"), l.get("variant") or "-")] += int(l.get("frames") or 0)
    for key in sorted(counts, key=lambda k: tuple(str(x) for x in k)):
        table.add_row(*(str(k) for k in key), str(counts[key]), str(frames[key]))
    table.add_row("total", "", "", "", "", str(sum(counts.values())), str(sum(frames.values())), style="bold")
    return table
