"""World time: integer seconds from 2025-01-01T00:00:00 in Asia/Shanghai (+08:00, no DST).

Integers keep the generator fast and exact; :func:`iso` renders them as ISO 8601 with the
``+08:00`` offset, caching the date part by day because one world writes millions of times.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

__all__ = ["DAY", "HOUR", "MINUTE", "WORLD_START", "YEAR_END", "iso", "month_of", "period_start"]

MINUTE = 60
HOUR = 3600
DAY = 86_400
#: 2025 has 365 days; card flows stay inside [0, YEAR_END).
YEAR_END = 365 * DAY

_CST = timezone(timedelta(hours=8), "Asia/Shanghai")
WORLD_START = datetime(2025, 1, 1, tzinfo=_CST)
_CACHED_HOURS = 400 * 24
#: "2025-03-14T09:" per hour of the world, and "26:53+08:00" per second of an hour.
_HOUR_PREFIX = [
    (WORLD_START + timedelta(hours=h)).strftime("%Y-%m-%dT%H:") for h in range(_CACHED_HOURS)
]
_IN_HOUR = [f"{m:02d}:{s:02d}+08:00" for m in range(60) for s in range(60)]
_MONTH_START = [
    int((datetime(2025 + m // 12, m % 12 + 1, 1, tzinfo=_CST) - WORLD_START).total_seconds())
    for m in range(13)
]


def iso(t: int) -> str:
    """ISO 8601 text of world time ``t``, e.g. ``2025-03-14T09:26:53+08:00``."""
    hour, second = divmod(t, HOUR)
    if 0 <= hour < _CACHED_HOURS:
        return _HOUR_PREFIX[hour] + _IN_HOUR[second]
    return (WORLD_START + timedelta(seconds=t)).isoformat()


def month_of(t: int) -> int:
    """Month index of a time inside 2025: 0 for January ... 11 for December."""
    for m in range(12, 0, -1):
        if t >= _MONTH_START[m - 1]:
            return m - 1
    return 0


def period_start(month: int) -> int:
    """World time of the first second of 2025's ``month`` (0-based; 12 is 2026-01-01)."""
    return _MONTH_START[month]
