"""A report's chart drawn as a PNG (matplotlib's object API, off the event loop: no shared pyplot state)."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from bot.services.reports import Chart


def render_chart(chart: Chart) -> bytes:
    """The chart as a PNG, drawn for a phone's screen. CPU-bound: call it through asyncio.to_thread."""
    # Matplotlib keeps a font cache in its config folder; on a read-only home it must go elsewhere.
    os.environ.setdefault("MPLCONFIGDIR", str(Path(tempfile.gettempdir()) / "medfeedback-matplotlib"))
    import matplotlib

    matplotlib.use("Agg")  # no display, no GUI toolkit
    from matplotlib.figure import Figure  # the object API: no pyplot state shared between threads
    from matplotlib.ticker import MaxNLocator

    font = "DejaVu Sans"  # ships with matplotlib and has Cyrillic and the Kazakh letters: nothing is downloaded
    weeks = len(chart.weeks)
    positions = list(range(weeks))
    figure = Figure(figsize=(8, 7), dpi=150, layout="constrained")
    axes = figure.subplots()
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    bottom = [0] * weeks
    for index, (label, counts) in enumerate(chart.series):
        axes.bar(positions, counts, bottom=bottom, width=0.7, label=label, color=colours[index % len(colours)])
        bottom = [below + count for below, count in zip(bottom, counts, strict=True)]
    if len(chart.series) > 1:
        axes.plot(positions, chart.totals, color="#222222", marker="o", linewidth=2.5, markersize=7,
                  label=chart.total_label)
    if weeks > 1:
        axes.plot(positions, chart.trend, color="#d62728", linestyle="--", linewidth=2.5, label=chart.trend_label)
    axes.set_title(chart.title, fontfamily=font, fontsize=17, loc="left", pad=12)
    axes.set_ylabel(chart.y_label, fontfamily=font, fontsize=14)
    axes.set_xticks(positions, chart.weeks, fontfamily=font, fontsize=13, rotation=45 if weeks > 10 else 0)
    axes.tick_params(axis="y", labelsize=13)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(0, max(max(chart.totals, default=0), max(chart.trend, default=0), 1) * 1.15)
    axes.grid(axis="y", alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    if not any(chart.totals):
        axes.text(0.5, 0.5, chart.empty_note, transform=axes.transAxes, ha="center", va="center",
                  fontfamily=font, fontsize=15, color="#666666")
    if axes.get_legend_handles_labels()[0]:
        figure.legend(loc="outside lower center", ncols=3, frameon=False, prop={"family": font, "size": 13})
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
