"""Small server-rendered SVG charts for the console (no script, no build step, no CDN).

Each chart is an ``<svg role="img">`` with an accessible label and a ``<title>`` per bar,
so a screen reader and a hover both say the figure.
"""

from __future__ import annotations

import typing as t

from markupsafe import Markup
from markupsafe import escape

BAR = 22
GAP = 8
LABEL = 140
WIDTH = 560


def _number(value: float) -> str:
    return f"{value:g}" if value < 1000 else f"{value:,.0f}"


def duration(seconds: float | None) -> str:
    """``95`` -> ``1 min 35 s``; None -> ``–``."""
    if seconds is None:
        return "–"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def horizontal_bars(title: str, rows: t.Sequence[tuple[str, float | None]], *,
                    unit: t.Callable[[float | None], str] = lambda v: _number(v or 0),
                    empty: str = "No handovers in this period") -> Markup:
    """One bar per row (label, value), longest value full width."""
    height = max(1, len(rows)) * (BAR + GAP) + GAP
    top = max([v for _, v in rows if v] or [1])
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {height}" '
             f'width="100%" preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title>']
    for index, (label, value) in enumerate(rows):
        y = GAP + index * (BAR + GAP)
        length = 0 if not value else max(2, (WIDTH - LABEL - 90) * value / top)
        parts.append(
            f'<g><title>{escape(label)}: {escape(unit(value))}</title>'
            f'<text x="{LABEL - 8}" y="{y + BAR * 0.7:.1f}" text-anchor="end" class="chart-label">{escape(label)}</text>'
            f'<rect x="{LABEL}" y="{y}" width="{length:.1f}" height="{BAR}" rx="3" class="chart-bar"></rect>'
            f'<text x="{LABEL + length + 6:.1f}" y="{y + BAR * 0.7:.1f}" class="chart-value">{escape(unit(value))}</text></g>')
    if not rows:
        parts.append(f'<text x="8" y="{BAR}" class="chart-label">{escape(empty)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def columns(title: str, rows: t.Sequence[tuple[str, float]]) -> Markup:
    """Vertical bars over time (label under each, value above)."""
    height = 180
    top = max([v for _, v in rows] or [1]) or 1
    slot = (WIDTH - 20) / max(1, len(rows))
    width = max(2.0, min(36.0, slot - 4))
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {height + 40}" '
             f'width="100%" preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title>']
    for index, (label, value) in enumerate(rows):
        x = 10 + index * slot + (slot - width) / 2
        bar = height * value / top
        parts.append(
            f'<g><title>{escape(label)}: {escape(_number(value))}</title>'
            f'<rect x="{x:.1f}" y="{height - bar + 10:.1f}" width="{width:.1f}" height="{bar:.1f}" rx="2" class="chart-bar"></rect>'
            + (f'<text x="{x + width / 2:.1f}" y="{height - bar + 6:.1f}" text-anchor="middle" class="chart-value">'
               f'{escape(_number(value))}</text>' if value else "")
            + (f'<text x="{x + width / 2:.1f}" y="{height + 26}" text-anchor="middle" class="chart-label">{escape(label[5:])}</text>'
               if len(rows) <= 16 or index % max(1, len(rows) // 8) == 0 else "")
            + '</g>')
    if not rows:
        parts.append(f'<text x="8" y="{height / 2}" class="chart-label">No handovers in this period</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
