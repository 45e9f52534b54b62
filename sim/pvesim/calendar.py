"""Proxmox calendar events (reference proxmox-more §6.5, pve-docs `calendar-events.adoc`):
`[WEEKDAY] [[YEARS-]MONTHS-DAYS] [HOURS:MINUTES[:SECONDS]] [UTC]` and the keywords. Enough of
proxmox-time's grammar to validate an event with Proxmox's error text and compute its next
run: comma lists, `a..b` ranges, `/step` repetitions, `*`, a bare value as minutes.
"""

import datetime
import re

KEYWORDS = {
    "minutely": "*-*-* *:*:00",
    "hourly": "*-*-* *:00:00",
    "daily": "*-*-* 00:00:00",
    "weekly": "mon *-*-* 00:00:00",
    "monthly": "*-*-01 00:00:00",
    "yearly": "*-01-01 00:00:00",
    "annually": "*-01-01 00:00:00",
    "quarterly": "*-01,04,07,10-01 00:00:00",
    "semiannually": "*-01,07-01 00:00:00",
    "semi-annually": "*-01,07-01 00:00:00",
}

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY_NAMES = {d: i for i, d in enumerate(DAYS)}
DAY_NAMES.update({n: i for i, n in enumerate(
    ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"])})


class CalendarError(Exception):
    """The text after `invalid calendar event '<text>' - `."""


class Fail(Exception):
    def __init__(self, rest, why):
        super().__init__(why)
        self.rest = rest
        self.why = why


def component(text, lo, hi, too_large):
    """`*`, `N`, `a..b`, `x/step` and comma lists of them → the sorted set of values in
    [lo, hi]; `None` for `*` (every value)."""
    values = set()
    for item in text.split(","):
        m = re.fullmatch(r"(\*|\d+)(?:\.\.(\d+))?(?:/(\d+))?", item)
        if not m:
            raise Fail(item, "unexpected input")
        start, end, step = m.group(1), m.group(2), m.group(3)
        if start == "*":
            if end is not None:
                raise Fail(item, "unexpected input")
            if step is None:
                if len(text.split(",")) == 1:
                    return None
                values.update(range(lo, hi + 1))
                continue
            first, last = lo, hi
        else:
            first = int(start)
            last = int(end) if end is not None else (hi if step is not None else first)
        for v in (first, last):
            if v > hi:
                raise Fail(item, too_large)
        if end is not None and first > last:
            raise Fail(item, "range start is bigger than end")
        if step is not None and int(step) == 0:
            raise Fail(item, "repetition must not be zero")
        values.update(range(first, last + 1, int(step) if step else 1))
    return sorted(values)


def weekdays(text):
    days = set()
    for item in text.split(","):
        parts = item.split("..")
        if len(parts) > 2 or any(p not in DAY_NAMES for p in parts):
            raise Fail(text, "unexpected input")
        a, b = DAY_NAMES[parts[0]], DAY_NAMES[parts[-1]]
        if a > b:
            raise Fail(item, "range start is bigger than end")
        days.update(range(a, b + 1))
    return days


def parse(text):
    """The event as {weekdays, years, months, days, hours, minutes, seconds, utc}; raises
    CalendarError with Proxmox's words."""
    event = text.strip().lower()
    if not event:
        raise CalendarError("unable to parse calendar event - event is empty")
    try:
        return parse_spec(KEYWORDS.get(event, event))
    except Fail as f:
        raise CalendarError(f"unable to parse calendar event at '{f.rest}' - {f.why}")


def parse_spec(event):
    words = event.split()
    spec = {"weekdays": None, "years": None, "months": None, "days": None, "hours": None,
            "minutes": None, "seconds": [0], "utc": False}
    if words and words[-1] == "utc":
        spec["utc"] = True
        words.pop()
    if not words:
        raise Fail(event, "unexpected input")
    if words[0][0].isalpha():
        spec["weekdays"] = weekdays(words.pop(0))
    date_given = False
    if words and "-" in words[0]:
        parts = words.pop(0).split("-")
        if len(parts) == 2:
            parts.insert(0, "*")
        if len(parts) != 3:
            raise Fail("-".join(parts), "unexpected input")
        spec["years"] = component(parts[0], 1970, 9999, "date value too large")
        spec["months"] = component(parts[1], 1, 12, "date value too large")
        spec["days"] = component(parts[2], 1, 31, "date value too large")
        date_given = True
    if words:
        t = words.pop(0)
        parts = t.split(":")
        if len(parts) == 1:
            spec["minutes"] = component(parts[0], 0, 59, "time value too large")
        elif len(parts) in (2, 3):
            spec["hours"] = component(parts[0], 0, 23, "time value too large")
            spec["minutes"] = component(parts[1], 0, 59, "time value too large")
            if len(parts) == 3:
                spec["seconds"] = component(parts[2], 0, 59, "time value too large")
        else:
            raise Fail(t, "unexpected input")
    elif date_given or spec["weekdays"] is not None:
        spec["hours"], spec["minutes"] = [0], [0]
    if words:
        raise Fail(" ".join(words), "unexpected input")
    return spec


def next_run(spec, after):
    """The first time (epoch seconds) strictly after `after` that the event matches."""
    tz = datetime.timezone.utc if spec["utc"] else None
    start = datetime.datetime.fromtimestamp(int(after) + 1, tz)
    hours = spec["hours"] if spec["hours"] is not None else range(24)
    minutes = spec["minutes"] if spec["minutes"] is not None else range(60)
    seconds = spec["seconds"] if spec["seconds"] is not None else range(60)
    day = start.date()
    for _ in range(366 * 10):
        if matches_day(spec, day):
            for h in hours:
                for m in minutes:
                    for s in seconds:
                        t = datetime.datetime(day.year, day.month, day.day, h, m, s, tzinfo=tz)
                        if t >= start:
                            return int(t.timestamp())
        day += datetime.timedelta(days=1)
    return None


def matches_day(spec, day):
    return ((spec["weekdays"] is None or day.weekday() in spec["weekdays"])
            and (spec["years"] is None or day.year in spec["years"])
            and (spec["months"] is None or day.month in spec["months"])
            and (spec["days"] is None or day.day in spec["days"]))
