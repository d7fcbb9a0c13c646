"""Small pieces the templates draw: highlighted extracts, the site map and the timeline.

Everything here returns plain data (numbers, strings, segments); the templates write it out
through Jinja2's autoescaping, so registry text never reaches the page unescaped.
SVG uses presentation attributes only (no ``style=``): the pages' Content-Security-Policy
allows no inline styles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from harvester.find.search import START, STOP
from harvester.records import Location


def segments(snippet: str) -> list[tuple[str, bool]]:
    """A highlighted extract as ``(text, highlighted)`` pieces."""
    out: list[tuple[str, bool]] = []
    bold = False
    for part in snippet.replace(STOP, START).split(START):
        if part:
            out.append((part, bold))
        bold = not bold
    return out


@dataclass(frozen=True)
class Dot:
    x: float  # longitude, the world map's x
    y: float  # minus latitude, the world map's y
    label: str


def map_dots(locations: Sequence[Location]) -> list[Dot]:
    """Sites with coordinates, on the equirectangular world of ``static/world.svg``."""
    dots = []
    for site in locations:
        if site.lat is None or site.lon is None:
            continue
        label = ", ".join(p for p in (site.facility, site.city, site.country) if p)
        dots.append(Dot(round(site.lon, 3), round(-site.lat, 3), label))
    return dots


def map_view(dots: Sequence[Dot]) -> tuple[float, float, float, float]:
    """The viewBox around the dots (the whole world when they are spread wide)."""
    if not dots:
        return (-180.0, -90.0, 360.0, 180.0)
    xs, ys = [d.x for d in dots], [d.y for d in dots]
    width = max(max(xs) - min(xs), 20.0) * 1.3
    height = max(max(ys) - min(ys), 10.0) * 1.3
    width, height = max(width, height * 2), max(height, width / 2)
    if width >= 300:
        return (-180.0, -90.0, 360.0, 180.0)
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    return (round(cx - width / 2, 2), round(cy - height / 2, 2), round(width, 2),
            round(height, 2))


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Timeline:
    """Enrollment over time as a line and status as coloured bands, in a 600×160 box."""

    width: int
    height: int
    bands: list[dict[str, Any]]
    points: list[Point]
    line: str
    ticks: list[dict[str, Any]]
    max_enrollment: int


_STATUS_COLOURS = {
    "RECRUITING": "#2e7d32", "NOT_YET_RECRUITING": "#9ccc65", "ACTIVE_NOT_RECRUITING": "#1565c0",
    "COMPLETED": "#5e35b1", "TERMINATED": "#c62828", "WITHDRAWN": "#6d4c41",
    "SUSPENDED": "#ef6c00", "ENROLLING_BY_INVITATION": "#00838f", "UNKNOWN": "#9e9e9e",
}


def status_colour(status: str | None) -> str:
    return _STATUS_COLOURS.get(status or "", "#9e9e9e")


def timeline(rows: Sequence[dict[str, Any]], width: int = 600, height: int = 160) -> Timeline:
    """The history page's chart from ``ServerContext.history`` rows."""
    days = [date.fromisoformat(r["effective_date"][:10]) for r in rows]
    first, last = (min(days), max(days)) if days else (date.today(), date.today())
    span = max((last - first).days, 1)
    left, right, top, bottom = 10, width - 10, 26, height - 40

    def x(day: date) -> float:
        return round(left + (right - left) * (day - first).days / span, 1)

    bands = []
    for i, (row, day) in enumerate(zip(rows, days, strict=True)):
        end = days[i + 1] if i + 1 < len(days) else last
        bands.append({"x": x(day), "width": max(x(end) - x(day), 3.0), "status": row["status"],
                      "colour": status_colour(row["status"]), "y": bottom + 6, "height": 10})
    counts = [r["enrollment"] for r in rows if r["enrollment"] is not None]
    top_count = max(counts) if counts else 0
    points = []
    for row, day in zip(rows, days, strict=True):
        if row["enrollment"] is None or top_count == 0:
            continue
        y = round(bottom - (bottom - top) * row["enrollment"] / top_count, 1)
        points.append(Point(x(day), y, f"version {row['version']}: {row['enrollment']} "
                                       f"on {day.isoformat()}"))
    line = " ".join(f"{p.x},{p.y}" for p in points)
    ticks = [{"x": x(first), "label": first.isoformat(), "anchor": "start"}]
    if last != first:
        ticks.append({"x": x(last), "label": last.isoformat(), "anchor": "end"})
    return Timeline(width, height, bands, points, line, ticks, top_count)
