"""Proxmox calendar events, ported from proxmox-time (proxmox-rs 214dbdf9a5a8,
proxmox-time/src/calendar_event.rs, parse_helpers.rs, date_time_value.rs, week_days.rs,
tm_editor.rs), which pve-common's PVE::CalendarEvent calls (src/PVE/CalendarEvent.pm:28-49:
the text trimmed, an empty one refused, else Proxmox::RS::CalendarEvent->new).

The grammar is nom's, with its backtracking: `opt(p)` forgets any error of `p`, and
`separated_list1` stops before a separator whose element fails. So `25:00` is not refused:
the hour list (values below 24) fails on `25`, the time spec starts again and reads `25` as
the minute and `00` as the second, i.e. every hour at minute 25. Errors are
`unable to parse calendar event at '<rest>' - <kind>`, <kind> being the Debug form of nom's
`VerboseErrorKind`: `Context("...")` or `Nom(Eof)` (parse_helpers.rs, parse_complete_line).
"""

import datetime
import re
import time

DAYS = {"monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "wednesday": 2, "wed": 2,
        "thursday": 3, "thu": 3, "friday": 4, "fri": 4, "saturday": 5, "sat": 5,
        "sunday": 6, "sun": 6}


class CalendarError(Exception):
    """The text after `invalid calendar event '<text>' - `."""


class NomError(Exception):
    """nom's `Err::Error` with a VerboseError: `rest` and `kind` of its first entry."""

    def __init__(self, rest, kind):
        super().__init__(kind)
        self.rest = rest
        self.kind = kind


def context(rest, what):
    return NomError(rest, f'Context("{what}")')


# ----------------------------------------------------------------------------- values
# A value is ("single", v) | ("range", a, b) | ("repeated", start, step, end-or-None).

def contains(spec, value):
    if spec[0] == "single":
        return spec[1] == value
    if spec[0] == "range":
        return spec[1] <= value <= spec[2]
    _, start, rep, end = spec
    if value < start:
        return False
    if rep == 0:
        return start == value
    return (value - start) % rep == 0 and (end is None or value <= end)


def list_contains(specs, value):
    return any(contains(s, value) for s in specs)


def find_next(specs, value):
    """The smallest value greater than `value` that a spec names (date_time_value.rs)."""
    found = []
    for s in specs:
        if s[0] == "single":
            if s[1] > value:
                found.append(s[1])
        elif s[0] == "range":
            if value < s[1]:
                found.append(s[1])
            elif s[1] <= value + 1 <= s[2]:
                found.append(value + 1)
        else:
            _, start, rep, end = s
            if value < start:
                found.append(start)
            elif rep > 0:
                n = start + ((value - start + rep) // rep) * rep
                if end is None or n <= end:
                    found.append(n)
    return min(found) if found else None


# ----------------------------------------------------------------------------- grammar

def digits(i):
    m = re.match(r"[0-9]+", i)
    if not m:
        raise NomError(i, "Nom(Digit)")
    if int(m.group(0)) > 0xFFFFFFFF:  # str::parse::<u32> fails: map_res
        raise NomError(i, "Nom(MapRes)")
    return i[m.end():], int(m.group(0))


def time_comp(i, maximum):
    """parse_helpers.rs parse_time_comp: the error points after the number."""
    rest, v = digits(i)
    if v >= maximum:
        raise context(rest, "time value too large")
    return rest, v


def date_time_comp(i, maximum):
    i, value = time_comp(i, maximum)
    end = None
    if i.startswith(".."):
        try:
            i2, end = time_comp(i[2:], maximum)
        except NomError:
            end = None  # opt(): back to before `..`
        else:
            i = i2
    if end is not None:
        if value > end:
            raise context(i, "range start is bigger than end")
        if i.startswith("/"):
            i, rep = time_comp(i[1:], maximum)
            return i, ("repeated", value, rep, end)
        return i, ("range", value, end)
    if i.startswith("/"):
        i, rep = time_comp(i[1:], maximum)
        return i, ("repeated", value, rep, None)
    return i, ("single", value)


def separated_list1(i, element, sep=","):
    i, first = element(i)
    res = [first]
    while i.startswith(sep):
        try:
            i2, item = element(i[len(sep):])
        except NomError:
            return i, res
        res.append(item)
        i = i2
    return i, res


def comp_list(i, start, maximum):
    """parse_date_time_comp_list: `*`, `*/N` or a comma list of values."""
    if i.startswith("*"):
        rest = i[1:]
        if rest.startswith("/"):
            n, rep = time_comp(rest[1:], maximum)
            if rep > 0:
                return n, [("repeated", start, rep, None)]
        return rest, []
    return separated_list1(i, lambda x: date_time_comp(x, maximum))


def weekday(i):
    m = re.match(r"[A-Za-z]+", i)
    if not m:
        raise NomError(i, "Nom(Alpha)")
    text = m.group(0)
    if text.lower() not in DAYS:
        raise context(text, "weekday")
    return i[m.end():], DAYS[text.lower()]


def weekdays_range(i):
    i, start = weekday(i)
    if i.startswith(".."):
        try:
            i2, end = weekday(i[2:])
        except NomError:
            return i, {start}
        days = set(range(start, 7)) | set(range(0, end + 1)) if start > end \
            else set(range(start, end + 1))
        return i2, days
    return i, {start}


def date_spec(i):
    try:
        r, year = comp_list(i, 0, 2200)
        if not r.startswith("-"):
            raise NomError(r, "Nom(Tag)")
        r, month = comp_list(r[1:], 1, 13)
        if not r.startswith("-"):
            raise NomError(r, "Nom(Tag)")
        r, day = comp_list(r[1:], 1, 32)
        return r, (year, month, day)
    except NomError:
        pass
    try:
        r, month = comp_list(i, 1, 13)
        if not r.startswith("-"):
            raise NomError(r, "Nom(Tag)")
        r, day = comp_list(r[1:], 1, 32)
        return r, ([], month, day)
    except NomError:
        raise context(i, "invalid date spec")


def time_spec(i):
    hour = []
    try:  # opt(terminated(hour list, ":"))
        r, h = comp_list(i, 0, 24)
        if not r.startswith(":"):
            raise NomError(r, "Nom(Tag)")
        i, hour = r[1:], h
    except NomError:
        pass
    i, minute = comp_list(i, 0, 60)
    second = [("single", 0)]
    if i.startswith(":"):
        try:
            i, second = comp_list(i[1:], 0, 60)
        except NomError:
            pass
    return i, (hour, minute, second)


KEYWORDS = {  # (hour, minute, second, day, month, weekdays); None: not set
    "minutely": (None, None, [0], None, None, None),
    "hourly": (None, [0], [0], None, None, None),
    "daily": ([0], [0], [0], None, None, None),
    "weekly": ([0], [0], [0], None, None, {0}),
    "monthly": ([0], [0], [0], [1], None, None),
    "yearly": ([0], [0], [0], [1], [1], None),
    "annually": ([0], [0], [0], [1], [1], None),
    "quarterly": ([0], [0], [0], [1], [1, 4, 7, 10], None),
    "semiannually": ([0], [0], [0], [1], [1, 7], None),
    "semi-annually": ([0], [0], [0], [1], [1, 7], None),
}


def event_incomplete(i):
    """parse_calendar_event_incomplete: (rest, event)."""
    ev = {"utc": False, "days": set(), "second": [], "minute": [], "hour": [], "day": [],
          "month": [], "year": []}
    if i.endswith("UTC"):
        ev["utc"] = True
        i = i[:-3].rstrip(" ")
    has_day = has_time = has_date = False
    if i[:1].isascii() and i[:1].isalpha():
        if i in KEYWORDS:
            h, m, s, d, mo, wd = KEYWORDS[i]
            for key, v in (("hour", h), ("minute", m), ("second", s), ("day", d),
                           ("month", mo)):
                ev[key] = [("single", x) for x in v] if v else []
            ev["days"] = wd or set()
            return "", ev
        i, ranges = separated_list1(i, weekdays_range)
        has_day = True
        i = i.lstrip(" \t")
        for r in ranges:
            ev["days"] |= r
    try:
        n, (year, month, day) = date_spec(i)
    except NomError:
        pass
    else:
        ev["year"], ev["month"], ev["day"] = year, month, day
        has_date = True
        i = n.lstrip(" \t")
    try:
        n, (hour, minute, second) = time_spec(i)
    except NomError:
        ev["hour"] = ev["minute"] = ev["second"] = [("single", 0)]
    else:
        ev["hour"], ev["minute"], ev["second"] = hour, minute, second
        has_time = True
        i = n
    if not (has_day or has_time or has_date):
        raise context(i, "date or time specification")
    return i, ev


def parse(text):
    """The event of a calendar text (PVE trims it first); raises CalendarError with the
    words Proxmox puts after `invalid calendar event '<text>' - `."""
    event = text.strip()
    if event == "":
        raise CalendarError("unable to parse calendar event - event is empty")
    try:
        rest, ev = event_incomplete(event)
        if rest != "":  # all_consuming
            raise NomError(rest, "Nom(Eof)")
    except NomError as e:
        raise CalendarError(f"unable to parse calendar event at '{e.rest}' - {e.kind}")
    return ev


# ----------------------------------------------------------------------------- next run

class Tm:
    """tm_editor.rs TmEditor: broken-down time normalized by timegm/mktime."""

    def __init__(self, epoch, utc):
        self.utc = utc
        self.load(epoch)

    def load(self, epoch):
        t = time.gmtime(epoch) if self.utc else time.localtime(epoch)
        self.year, self.mon, self.mday = t.tm_year, t.tm_mon - 1, t.tm_mday
        self.hour, self.min, self.sec = t.tm_hour, t.tm_min, t.tm_sec
        self.wday = (t.tm_wday + 1) % 7  # C: Sunday = 0
        self.isdst = t.tm_isdst

    def epoch(self):
        year = self.year + self.mon // 12
        mon = self.mon % 12
        if self.utc:
            days = (datetime.date(year, mon + 1, 1).toordinal()
                    - datetime.date(1970, 1, 1).toordinal() + self.mday - 1)
            return days * 86400 + self.hour * 3600 + self.min * 60 + self.sec
        return int(time.mktime((year, mon + 1, self.mday, self.hour, self.min, self.sec,
                                0, 0, self.isdst)))

    def normalize(self):
        self.load(self.epoch())

    def add_years(self, n):
        if n:
            self.mon, self.mday, self.hour, self.min, self.sec = 0, 1, 0, 0, 0
            self.year += n
            self.normalize()

    def add_months(self, n):
        if n:
            self.mday, self.hour, self.min, self.sec = 1, 0, 0, 0
            self.mon += n
            self.normalize()

    def add_days(self, n):
        if n:
            self.hour, self.min, self.sec = 0, 0, 0
            self.mday += n
            self.normalize()

    def set_time(self, h, m, s):
        self.hour, self.min, self.sec = h, m, s
        self.normalize()

    def set_min_sec(self, m, s):
        self.min, self.sec = m, s
        self.normalize()

    def set_sec(self, s):
        self.sec = s
        self.normalize()


def next_run(ev, last):
    """compute_next_event: the first matching epoch strictly after `last`, or None."""
    t = Tm(int(last) + 1, ev["utc"])
    all_days = not ev["days"] or len(ev["days"]) == 7
    for _ in range(1001):
        if ev["year"] and not list_contains(ev["year"], t.year):
            n = find_next(ev["year"], t.year)
            if n is None:
                return None
            t.add_years(n - t.year)
            continue
        if ev["month"] and not list_contains(ev["month"], t.mon + 1):
            n = find_next(ev["month"], t.mon + 1)
            if n is not None:
                t.add_months(n - (t.mon + 1))
            else:
                t.add_years(1)
            continue
        if ev["day"] and not list_contains(ev["day"], t.mday):
            n = find_next(ev["day"], t.mday)
            if n is not None:
                t.add_days(n - t.mday)
            else:
                t.add_months(1)
            continue
        if not all_days:
            day_num = (t.wday + 6) % 7
            if day_num not in ev["days"]:
                later = [d for d in range(day_num + 1, 7) if d in ev["days"]]
                t.add_days((later[0] if later else 7) - day_num)
                continue
        if ev["hour"] and not list_contains(ev["hour"], t.hour):
            n = find_next(ev["hour"], t.hour)
            if n is not None:
                t.set_time(n, 0, 0)
            else:
                t.add_days(1)
            continue
        if ev["minute"] and not list_contains(ev["minute"], t.min):
            n = find_next(ev["minute"], t.min)
            if n is not None:
                t.set_min_sec(n, 0)
            else:
                t.set_time(t.hour + 1, 0, 0)
            continue
        if ev["second"] and not list_contains(ev["second"], t.sec):
            n = find_next(ev["second"], t.sec)
            if n is not None:
                t.set_sec(n)
            else:
                t.set_min_sec(t.min + 1, 0)
            continue
        return t.epoch()
    return None
