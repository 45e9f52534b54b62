"""Fixtures of the simulator's calendar events (sim/pvesim/calendar.py) taken from the real
source: proxmox-rs 214dbdf9a5a8 proxmox-time/src/test.rs (test_compute_next_event,
test_calendar_event_weekday), the doc examples of proxmox-time/src/calendar_event.rs
(proxmox-rs f3305009a212), pve-docs calendar-events.adoc's example table, and the audit's
`25:00` (the real-source audit, top item 4). The error texts follow
parse_helpers.rs parse_complete_line (`unable to parse {} at '{}' - {:?}` of the first
VerboseError entry) traced through the grammar.

Run: python3 sim/calendar_check.py   (exit 0 and `ok N fixtures`, else the failures)
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pvesim import calendar as cal  # noqa: E402

MIN, HOUR, DAY = 60, 3600, 86400
THU_00 = 0                      # make_test_time(0, 0, 0): epoch 0 is a Thursday
THU_15 = 15 * HOUR
JUL_31_2020 = 1596153600        # Friday, 2020-07-31 00:00:00
DEC_31_2020 = 1609372800        # Thursday, 2020-12-31 00:00:00

# test.rs test_compute_next_event: (event, last, expected next); each is parsed with " UTC".
NEXT = [
    ("0", THU_00, THU_00 + HOUR), ("*", THU_00, THU_00 + MIN),
    ("*:0", THU_00, THU_00 + HOUR), ("*:*", THU_00, THU_00 + MIN),
    ("*:*:*", THU_00, THU_00 + 1), ("*:3:5", THU_00, THU_00 + 3 * MIN + 5),
    ("mon *:*", THU_00, THU_00 + 4 * DAY), ("mon 2:*", THU_00, THU_00 + 4 * DAY + 2 * HOUR),
    ("mon 2:50", THU_00, THU_00 + 4 * DAY + 2 * HOUR + 50 * MIN),
    ("tue", THU_00, THU_00 + 5 * DAY), ("wed", THU_00, THU_00 + 6 * DAY),
    ("thu", THU_00, THU_00 + 7 * DAY), ("fri", THU_00, THU_00 + 1 * DAY),
    ("sat", THU_00, THU_00 + 2 * DAY), ("sun", THU_00, THU_00 + 3 * DAY),
    ("4..10/2:0", THU_00, THU_00 + 4 * HOUR),
    ("4..10/2:0", THU_00 + 5 * HOUR, THU_00 + 6 * HOUR),
    ("4..10/2:0", THU_00 + 11 * HOUR, THU_00 + 1 * DAY + 4 * HOUR),
    ("5,10:4,8", THU_00, THU_00 + 5 * HOUR + 4 * MIN),
    ("10,5:8,4", THU_00, THU_00 + 5 * HOUR + 4 * MIN),
    ("6,4..10:23,5/5", THU_00, THU_00 + 4 * HOUR + 5 * MIN),
    ("4..10,6:5/5,23", THU_00, THU_00 + 4 * HOUR + 5 * MIN),
    ("sat", JUL_31_2020, JUL_31_2020 + 1 * DAY), ("sun", JUL_31_2020, JUL_31_2020 + 2 * DAY),
    ("mon", JUL_31_2020, JUL_31_2020 + 3 * DAY), ("tue", JUL_31_2020, JUL_31_2020 + 4 * DAY),
    ("wed", JUL_31_2020, JUL_31_2020 + 5 * DAY), ("thu", JUL_31_2020, JUL_31_2020 + 6 * DAY),
    ("fri", JUL_31_2020, JUL_31_2020 + 7 * DAY),
    ("fri", DEC_31_2020, DEC_31_2020 + 1 * DAY), ("sat", DEC_31_2020, DEC_31_2020 + 2 * DAY),
    ("sun", DEC_31_2020, DEC_31_2020 + 3 * DAY), ("mon", DEC_31_2020, DEC_31_2020 + 4 * DAY),
    ("tue", DEC_31_2020, DEC_31_2020 + 5 * DAY), ("wed", DEC_31_2020, DEC_31_2020 + 6 * DAY),
    ("thu", DEC_31_2020, DEC_31_2020 + 7 * DAY),
    ("daily", THU_00, THU_00 + DAY), ("daily", THU_00 + 1, THU_00 + DAY),
    ("5/2:0", THU_00, THU_00 + 5 * HOUR), ("5/2:0", THU_00 + 5 * HOUR, THU_00 + 7 * HOUR),
    ("5/2:0", THU_00 + 7 * HOUR, THU_00 + 9 * HOUR),
    ("5/2:0", THU_00 + 9 * HOUR, THU_00 + 11 * HOUR),
    ("1:0", THU_15, THU_00 + DAY + HOUR),
    ("2020-07-31", 0, JUL_31_2020), ("02-28", 0, (31 + 27) * DAY),
    ("02-29", 0, 2 * 365 * DAY + (31 + 28) * DAY), ("1965/5-01-01", -1, THU_00),
    ("2020-7..9-2/2", JUL_31_2020, JUL_31_2020 + 2 * DAY),
    ("2020,2021-12-31", JUL_31_2020, DEC_31_2020),
    ("monthly", 0, 31 * DAY), ("quarterly", 0, (31 + 28 + 31) * DAY),
    ("semiannually", 0, (31 + 28 + 31 + 30 + 31 + 30) * DAY), ("yearly", 0, 365 * DAY),
    # the loops of test_compute_next_event, first and a later step
    ("*:*", THU_00 + 41 * MIN, THU_00 + 42 * MIN), ("*:0", THU_00 + 41 * HOUR, THU_00 + 42 * HOUR),
    ("1:0", THU_00 + 40 * DAY + HOUR, THU_00 + 41 * DAY + HOUR),
    # the audit (top item 4): `25:00` is minute 25 of every hour, second 0
    ("25:00", THU_00, THU_00 + 25 * MIN), ("25:00", THU_00 + 25 * MIN, THU_00 + HOUR + 25 * MIN),
    ("mon..fri 25:00", THU_00, THU_00 + 25 * MIN),
    ("30:00", THU_00 + 31 * MIN, THU_00 + HOUR + 30 * MIN),
    # pve-docs calendar-events.adoc examples, with the meaning its table gives
    ("mon..wed 30/10", THU_00, THU_00 + 4 * DAY + 30 * MIN),            # Monday 0:30
    ("fri 12..13:5/20", THU_00, THU_00 + DAY + 12 * HOUR + 5 * MIN),    # Friday 12:05
    ("fri 12..13:5/20", THU_00 + DAY + 13 * HOUR + 45 * MIN, THU_00 + 8 * DAY + 12 * HOUR + 5 * MIN),
    ("12,14,16,18,20,22:5", THU_00, THU_00 + 12 * HOUR + 5 * MIN),
    ("12/2:5", THU_00 + 12 * HOUR + 5 * MIN, THU_00 + 14 * HOUR + 5 * MIN),
    ("*/5", THU_00, THU_00 + 5 * MIN), ("*-05", THU_00, THU_00 + 4 * DAY),
    ("Sat *-1..7 15:00", JUL_31_2020, JUL_31_2020 + 1 * DAY + 15 * HOUR),
    ("mon..fri 8..17,22:0/15", THU_00 + 17 * HOUR + 50 * MIN, THU_00 + 22 * HOUR),
]

# calendar_event.rs doc examples, as written (they carry UTC themselves)
DOC = [("daily UTC", 0, 86400), ("mon..fri *:00 UTC", 0, 3600)]

NEVER = ["2021-02-29", "02-30"]  # test_never

# test_calendar_event_weekday, doc `verify_calendar_event` examples, pve-docs table
VALID = ["mon,wed..fri", "fri..mon", "mon", "MON", "monDay", "tue", "Tuesday", "wed",
         "wednesday", "thu", "thursday", "fri", "friday", "sat", "saturday", "sun", "sunday",
         "mon..fri", "mon,tue,fri", "mon,tue..wednesday,fri..sat", "daily", "mon..fri *:00",
         "mon,tue,wed,thu,fri", "sat,sun", "sat..sun", "mon,wed,fri", "12:05", "0/5",
         "mon,tue,wed 30/10", "fri 12,13:5/20", "*/1", "2015-10-21", "hourly", "minutely",
         "weekly", "annually", "semi-annually", "02:00 UTC", "  02:00  "]

# Refusals: the text after `invalid calendar event '<text>' - `.
ERRORS = [
    ("not valid!", "unable to parse calendar event at 'not' - Context(\"weekday\")"),
    ("sat 12:60", "unable to parse calendar event at '12:60' - Nom(Eof)"),
    ("12:60", "unable to parse calendar event at '12:60' - Context(\"date or time specification\")"),
    ("25:61", "unable to parse calendar event at ':61' - Nom(Eof)"),
    ("mon..xyz", "unable to parse calendar event at '..xyz' - Nom(Eof)"),
    ("daily 02:00", "unable to parse calendar event at 'daily' - Context(\"weekday\")"),
    ("Daily", "unable to parse calendar event at 'Daily' - Context(\"weekday\")"),
    ("02:00 utc", "unable to parse calendar event at ' utc' - Nom(Eof)"),
    ("", "unable to parse calendar event - event is empty"),
    ("   ", "unable to parse calendar event - event is empty"),
]


def main():
    failures = []
    count = 0
    for text, last, want in NEXT:
        count += 1
        try:
            got = cal.next_run(cal.parse(f"{text} UTC"), last)
        except cal.CalendarError as e:
            got = f"error: {e}"
        if got != want:
            failures.append(f"next '{text} UTC' after {last}: got {got}, want {want}")
    for text, last, want in DOC:
        count += 1
        got = cal.next_run(cal.parse(text), last)
        if got != want:
            failures.append(f"next '{text}' after {last}: got {got}, want {want}")
    for text in NEVER:
        count += 1
        got = cal.next_run(cal.parse(f"{text} UTC"), 0)
        if got is not None:
            failures.append(f"'{text}' should never run, got {got}")
    for text in VALID:
        count += 1
        try:
            cal.parse(text)
        except cal.CalendarError as e:
            failures.append(f"'{text}' refused: {e}")
    for text, want in ERRORS:
        count += 1
        try:
            cal.parse(text)
            got = "accepted"
        except cal.CalendarError as e:
            got = str(e)
        if got != want:
            failures.append(f"'{text}': got {got!r}, want {want!r}")
    for f in failures:
        print(f"FAIL {f}")
    print(f"{'ok' if not failures else 'failed'} {count} fixtures, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
