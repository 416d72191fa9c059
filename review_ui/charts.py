"""Small server-rendered SVG charts for the lead's page: no script, no CDN, prints well.

    bar_chart([("< 1 min", 12), ("1–5 min", 30)], title="Time to decision")
    line_chart([("09:00", 4), ("10:00", 7)], title="Open tasks")

Every label and title is escaped; the result is markup a template inserts as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

__all__ = ["bar_chart", "line_chart"]

_WIDTH, _HEIGHT = 640, 220
_LEFT, _BOTTOM, _TOP = 40, 40, 24  # room for the value axis, the labels and the title


def bar_chart(bars: Sequence[tuple[str, int]], *, title: str) -> Markup:
    """One bar per (label, value), the value written over each bar."""
    peak = max((value for _, value in bars), default=0) or 1
    slot = (_WIDTH - _LEFT) / max(1, len(bars))
    parts = []
    for index, (label, value) in enumerate(bars):
        height = (_HEIGHT - _BOTTOM - _TOP) * value / peak
        x = _LEFT + index * slot + slot * 0.15
        y = _HEIGHT - _BOTTOM - height
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{height:.1f}"><title>{escape(label)}: {value}</title></rect>'
            f'<text class="value" x="{x + slot * 0.35:.1f}" y="{y - 4:.1f}">{value}</text>'
            f'<text class="label" text-anchor="middle" x="{x + slot * 0.35:.1f}" '
            f'y="{_HEIGHT - _BOTTOM + 16}">'
            f"{escape(label)}</text>"
        )
    return _svg(title, "".join(parts))


def line_chart(points: Sequence[tuple[str, int]], *, title: str) -> Markup:
    """A polyline through the values, the first, middle and last labels under it."""
    peak = max((value for _, value in points), default=0) or 1
    step = (_WIDTH - _LEFT - 10) / max(1, len(points) - 1)
    coordinates = [
        (_LEFT + index * step, _HEIGHT - _BOTTOM - (_HEIGHT - _BOTTOM - _TOP) * value / peak)
        for index, (_, value) in enumerate(points)
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates)
    labelled = sorted({0, len(points) // 2, len(points) - 1}) if points else []
    # The first and last labels hang inside the frame instead of centring off its edge.
    anchors = {0: "start", len(points) - 1: "end"}
    labels = "".join(
        f'<text class="label" text-anchor="{anchors.get(i, "middle")}" '
        f'x="{coordinates[i][0]:.1f}" y="{_HEIGHT - _BOTTOM + 16}">{escape(points[i][0])}</text>'
        for i in labelled
    )
    axis = f'<text class="value" x="{_LEFT - 6}" y="{_TOP + 4}">{peak}</text>'
    line = f'<polyline class="line" fill="none" points="{path}"/>' if points else ""
    return _svg(title, line + labels + axis)


def _svg(title: str, body: str) -> Markup:
    baseline = (
        f'<line class="axis" x1="{_LEFT}" y1="{_HEIGHT - _BOTTOM}" '
        f'x2="{_WIDTH}" y2="{_HEIGHT - _BOTTOM}"/>'
    )
    return Markup(
        f'<svg class="chart" role="img" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}">'
        f'<title>{escape(title)}</title><text class="title" x="{_LEFT}" y="16">'
        f"{escape(title)}</text>{baseline}{body}</svg>"
    )
