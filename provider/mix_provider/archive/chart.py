"""The cost chart: one stacked bar per day, one colour per model, with a legend naming the models.

Drawn with matplotlib, behind the ``chart`` extra (``pip install 'airflow-provider-mix[chart]'``):
a chart someone reads needs text (model names, dates, amounts), and a plotting library lays out
ticks, labels and a legend that a hand-drawn bitmap cannot. Only matplotlib's object API is used
(a ``Figure`` on the Agg canvas): no ``pyplot`` global state and no GUI backend, so it is safe in a
worker, in threads and in parallel tasks. Without the extra, :func:`figure` raises
:class:`~mix_provider.errors.MixMissingExtraError` and :data:`HAS_CHART` is False.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from mix_provider.errors import MixMissingExtraError

try:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    HAS_CHART = True
except ImportError:  # the provider works without the extra; the chart says what is missing
    HAS_CHART = False

#: The extra that installs matplotlib.
EXTRA = "chart"
#: Dots per inch of the PNG: 1000 x 500 pixels at the default size.
DPI = 100


def stacked_bars(
    days: Sequence[str],
    series: Sequence[str],
    values: Mapping[tuple[str, str], float],
    **labels: str,
) -> bytes:
    """A PNG of :func:`figure` (``labels``: its ``title`` and ``unit``).

    :raises MixMissingExtraError: matplotlib (the ``chart`` extra) is not installed.
    """
    out = io.BytesIO()
    figure(days, series, values, **labels).savefig(out, format="png")
    return out.getvalue()


def figure(
    days: Sequence[str],
    series: Sequence[str],
    values: Mapping[tuple[str, str], float],
    *,
    title: str = "Mix cost per day and model",
    unit: str = "cost (USD)",
) -> Any:
    """One bar per day, stacked by ``series`` (``values[(day, name)]``), with a legend of ``series``: a ``Figure``.

    :raises MixMissingExtraError: matplotlib (the ``chart`` extra) is not installed.
    """
    if not HAS_CHART:
        raise MixMissingExtraError("the cost chart", EXTRA, "matplotlib")
    chart = Figure(figsize=(10, 5), dpi=DPI, layout="constrained")
    FigureCanvasAgg(chart)
    axes = chart.add_subplot()
    positions, bottoms = range(len(days)), [0.0] * len(days)
    for name in series:
        heights = [values.get((day, name), 0.0) for day in days]
        axes.bar(positions, heights, bottom=bottoms, label=name)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    axes.set_xticks(positions, labels=days)
    _label(axes, days, title, unit)
    if series:
        axes.legend(title="model", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return chart


def _label(axes: Any, days: Sequence[str], title: str, unit: str) -> None:
    axes.set_title(title)
    axes.set_ylabel(unit)
    axes.set_xlabel("day (UTC)")
    axes.tick_params(axis="x", labelrotation=45 if len(days) > 7 else 0)
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    if not days:
        axes.text(0.5, 0.5, "no archived sessions", ha="center", va="center", transform=axes.transAxes)
