"""The time zone a report shows its times in, for the people who read it.

``summary.json`` keeps every time as ISO-8601 UTC and names the zone used; the CSV, the
workbook and the terminal show times in that zone, with the offset written beside each time
(``2026-12-02T07:02:26+09:00``), so a time read out of context is still exact. IANA names
(``Asia/Tokyo``) come from the system's time zone database through ``zoneinfo``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC_NAME = "UTC"
_LOCALTIME = Path("/etc/localtime")


def resolve_zone(name: str) -> tzinfo:
    """The zone called ``name``: ``UTC``, an IANA name, or ``UTC+09:00`` (a fixed offset, as
    :func:`machine_zone_name` names a machine whose zone has no IANA name). ``ValueError``
    names what was given when no such zone is known."""
    if name in (UTC_NAME, "Z", "Etc/UTC"):
        return UTC
    if name.startswith("UTC") and len(name) == 9 and name[3] in "+-" and name[6] == ":":
        try:
            hours, minutes = int(name[4:6]), int(name[7:9])
        except ValueError:
            pass
        else:
            sign = 1 if name[3] == "+" else -1
            return timezone(sign * timedelta(hours=hours, minutes=minutes), name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"no time zone is called {name!r}: give an IANA name such as Asia/Tokyo, or UTC"
        ) from None


def machine_zone_name() -> str:
    """This machine's zone: ``$TZ`` when it names one, else where ``/etc/localtime`` points,
    else its current offset from UTC (``UTC+09:00``)."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = str(_LOCALTIME.resolve())
    except OSError:
        target = ""
    if "zoneinfo/" in target:
        candidates.append(target.split("zoneinfo/", 1)[1])
    for name in candidates:
        if name:
            try:
                zone = resolve_zone(name)
            except ValueError:
                continue
            return UTC_NAME if zone is UTC else name
    offset = datetime.now().astimezone().utcoffset() or timedelta(0)
    if not offset:
        return UTC_NAME
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def shown_time(iso_utc: str | None, zone: tzinfo) -> str | None:
    """An ISO-8601 UTC time (``…Z``) as a person in ``zone`` reads it, offset included;
    unchanged in UTC, and for text that is not such a time."""
    if iso_utc is None or zone is UTC:
        return iso_utc
    try:
        moment = datetime.fromisoformat(iso_utc.replace("Z", "+00:00"))
    except ValueError:
        return iso_utc
    if moment.tzinfo is None:
        return iso_utc
    return moment.astimezone(zone).isoformat()


def shown_epoch_ms(epoch_ms: int, zone: tzinfo) -> str:
    """Smartpay's epoch milliseconds as ``2026-11-27T08:06:50.123Z`` in UTC, or with the
    zone's offset (``2026-11-27T17:06:50.123+09:00``). Integer arithmetic for the
    milliseconds, so no float rounding can shift one."""
    seconds, millis = divmod(epoch_ms, 1000)
    moment = datetime.fromtimestamp(seconds, UTC)
    if zone is UTC:
        return f"{moment:%Y-%m-%dT%H:%M:%S}.{millis:03d}Z"
    local = moment.astimezone(zone)
    offset = local.isoformat()[19:]  # "+09:00": what isoformat writes after the seconds
    return f"{local:%Y-%m-%dT%H:%M:%S}.{millis:03d}{offset}"
