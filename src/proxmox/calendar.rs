//! Calendar events as the node reads them (proxmox-time, which pve-common's
//! PVE::CalendarEvent calls): where it stopped reading a refused one, and what it makes of an
//! accepted one whose text shows an hour it reads as minutes. pxdeploy does not judge
//! schedules itself: the node's verdict is passed on, these only put it in words.

/// Where Proxmox stopped reading a calendar event: `<rest>` of its `unable to parse calendar
/// event at '<rest>' - …` (proxmox-time parse_helpers.rs parse_complete_line).
pub(crate) fn stuck_at(reason: &str) -> Option<&str> {
    let (_, rest) = reason.split_once("unable to parse calendar event at '")?;
    rest.split_once("' - ").map(|(at, _)| at)
}

/// The time of a schedule as the node reads it, when that is minutes where the text looks
/// like an hour (see [`reading`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reading {
    /// The time as written (`25:00`, `22`).
    pub time: String,
    /// What the node takes as the minute(s) (`25`, `8,30`).
    pub minutes: String,
    /// What it takes as the second(s), when given and not 0.
    pub second: Option<String>,
}

impl Reading {
    /// `every hour at minute 25` (`, second 30`).
    pub(crate) fn words(&self) -> String {
        let what = match self.minutes.parse::<u32>() {
            Ok(n) => format!("minute {n}"),
            Err(_) => format!("minutes {}", self.minutes),
        };
        let second = match &self.second {
            Some(s) => match s.parse::<u32>() {
                Ok(n) => format!(", second {n}"),
                Err(_) => format!(", seconds {s}"),
            },
            None => String::new(),
        };
        format!("every hour at {what}{second}")
    }

    /// The warning after a schedule was set: what the node reads and why.
    pub(crate) fn warning(&self) -> String {
        if self.time.contains(':') {
            format!(
                "Proxmox reads `{}` as {} of every hour, not as a time of day (hours go from 0 to 23): the job runs {}",
                self.time,
                self.words().trim_start_matches("every hour at "),
                self.words()
            )
        } else {
            format!(
                "Proxmox reads `{}` as {} of every hour: a value without `:` is a minute (`{}:00` would be a time of day)",
                self.time,
                self.words().trim_start_matches("every hour at "),
                self.minutes
            )
        }
    }
}

/// How proxmox-time reads the time of an accepted schedule, when it reads minutes where the
/// text looks like an hour: the value before `:` is the hour only when every value in it is
/// below 24, otherwise the parser starts again and takes it as the minute (`25:00` is minute
/// 25, second 0, of every hour: calendar_event.rs parse_time_spec); a time without `:` is a
/// minute too (`mon..fri 22`). None when the hour is read as written, for keywords and
/// dates, and for minutes written as `*` or repetitions (`*/5`: clearly minutes).
pub(crate) fn reading(schedule: &str) -> Option<Reading> {
    let s = schedule.trim();
    let s = s.strip_suffix("UTC").map_or(s, |r| r.trim_end_matches(' '));
    let token = s.split_whitespace().last()?;
    if token.starts_with(|c: char| c.is_ascii_alphabetic()) || token.contains('-') {
        return None; // a keyword, weekdays or a date: no time of its own
    }
    if comp_list(token, 24).is_some_and(|rest| rest.starts_with(':')) {
        return None; // the hour is read as written
    }
    let rest = comp_list(token, 60)?;
    let minutes = &token[..token.len() - rest.len()];
    if minutes.contains(['*', '/']) {
        return None;
    }
    let second = match rest.strip_prefix(':') {
        None if rest.is_empty() => None,
        Some(after) => {
            let end = comp_list(after, 60)?;
            if !end.is_empty() {
                return None; // the node refuses it: nothing to explain
            }
            Some(after.to_string()).filter(|v| v.parse::<u32>() != Ok(0))
        }
        None => return None,
    };
    Some(Reading {
        time: token.to_string(),
        minutes: minutes.to_string(),
        second,
    })
}

/// parse_date_time_comp_list: `*`, `*/N`, or a comma list of `N`, `A..B`, `N/R`, `A..B/R`,
/// each value below `max`; the text after it.
fn comp_list(i: &str, max: u32) -> Option<&str> {
    if let Some(rest) = i.strip_prefix('*') {
        if let Some(after) = rest.strip_prefix('/') {
            if let Some((n, r)) = number(after, max) {
                if n > 0 {
                    return Some(r);
                }
            }
        }
        return Some(rest);
    }
    let mut rest = comp(i, max)?;
    while let Some(next) = rest.strip_prefix(',').and_then(|r| comp(r, max)) {
        rest = next;
    }
    Some(rest)
}

fn comp(i: &str, max: u32) -> Option<&str> {
    let (start, mut rest) = number(i, max)?;
    if let Some((end, r)) = rest.strip_prefix("..").and_then(|r| number(r, max)) {
        if start > end {
            return None;
        }
        rest = r;
    }
    match rest.strip_prefix('/') {
        Some(r) => number(r, max).map(|(_, r)| r),
        None => Some(rest),
    }
}

fn number(i: &str, max: u32) -> Option<(u32, &str)> {
    let end = i.find(|c: char| !c.is_ascii_digit()).unwrap_or(i.len());
    let n: u32 = i[..end].parse().ok()?;
    (n < max).then_some((n, &i[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_the_node_stopped() {
        assert_eq!(
            stuck_at("invalid calendar event 'sat 12:60' - unable to parse calendar event at '12:60' - Nom(Eof)"),
            Some("12:60")
        );
        assert_eq!(
            stuck_at("unable to parse calendar event - event is empty"),
            None
        );
    }

    #[test]
    fn hours_the_node_reads_as_minutes_in_words() {
        let r = reading("25:00").unwrap();
        assert_eq!(r.words(), "every hour at minute 25");
        assert_eq!(
            r.warning(),
            "Proxmox reads `25:00` as minute 25 of every hour, not as a time of day (hours go from 0 to 23): the job runs every hour at minute 25"
        );
        assert_eq!(
            reading("mon..fri 30:00 UTC").unwrap().words(),
            "every hour at minute 30"
        );
        assert_eq!(
            reading("24:30").unwrap().words(),
            "every hour at minute 24, second 30"
        );
        assert_eq!(
            reading("8,30:00").unwrap().words(),
            "every hour at minutes 8,30"
        );
        let bare = reading("mon..fri 22").unwrap();
        assert_eq!(bare.words(), "every hour at minute 22");
        assert_eq!(
            bare.warning(),
            "Proxmox reads `22` as minute 22 of every hour: a value without `:` is a minute (`22:00` would be a time of day)"
        );
        // read as written, or clearly minutes, or no time at all: nothing to say
        for s in [
            "02:00",
            "23:59",
            "sat 03:00",
            "mon..fri 22:30",
            "*/6:00",
            "*:25",
            "*/5",
            "mon..wed 30/10",
            "daily",
            "sat",
            "sat *-1..7 15:00",
            "2026-12-25",
            "25:61",
        ] {
            assert_eq!(reading(s), None, "{s}");
        }
    }
}
