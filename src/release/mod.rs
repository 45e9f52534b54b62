//! Releases: what a deploy that ran `up` leaves in the container, so that a later deploy
//! sends only what changed and a rollback needs nothing from the laptop. A release is a
//! manifest (path, kind, mode, SHA-256) over contents stored once by hash, plus the `.env`
//! as written and a few facts (git's object store, OSTree's commits).
//!
//! [`manifest`]: the tree and its text; [`store`]: the remote scripts; [`plan`]: what to
//! send, what to change, what to keep, and which release to go back to. All pure.

pub(crate) mod activate;
pub(crate) mod command;
pub(crate) mod drift;
pub(crate) mod inspect;
pub(crate) mod manifest;
pub(crate) mod plan;
pub(crate) mod rollback;
pub(crate) mod rollback_env;
pub(crate) mod store;
pub(crate) mod store_calls;

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

pub(crate) use manifest::Manifest;

/// A release as the store lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Release {
    pub id: String,
    /// `healthy`, `failed`, `rolled-back`, or `pending` (interrupted before its health wait
    /// ended).
    pub result: String,
    /// UTC, RFC 3339.
    pub deployed: String,
    /// user@machine
    pub by: String,
    pub version: String,
    pub fingerprint: String,
}

/// The store's state as one read found it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum State {
    /// No `.pxdeploy` folder yet.
    #[default]
    None,
    Ok,
    /// A symbolic link at or inside `.pxdeploy`: this path.
    Unsafe(String),
}

/// What [`store::READ_FN`] printed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Store {
    pub state: State,
    /// The release the tree holds (the journal's target while a switch is unfinished).
    pub current: Option<String>,
    /// Sorted by id, that is by time.
    pub releases: Vec<Release>,
    pub manifests: BTreeMap<String, Manifest>,
    /// Stored object hashes (read mode `objects` only).
    pub objects: BTreeSet<String>,
}

impl Store {
    pub(crate) fn release(&self, id: &str) -> Option<&Release> {
        self.releases.iter().find(|r| r.id == id)
    }
    pub(crate) fn current_manifest(&self) -> Option<&Manifest> {
        self.current.as_ref().and_then(|c| self.manifests.get(c))
    }
    pub(crate) fn ids(&self) -> Vec<String> {
        self.releases.iter().map(|r| r.id.clone()).collect()
    }
}

/// A new release id: UTC time to the second, then 8 random hex digits
/// (`20261129T191501Z-3fa9c2d1`), so ids sort by time.
pub(crate) fn new_id(now: SystemTime) -> String {
    let stamp: String = crate::timestamp::rfc3339(now)
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    format!("{stamp}-{:08x}", rand::random::<u32>())
}

/// Ids are used in paths and command lines: only what [`new_id`] makes.
pub(crate) fn valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 25
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[16] == b'-'
        && b.iter().enumerate().all(|(i, c)| match i {
            0..=7 | 9..=14 => c.is_ascii_digit(),
            17.. => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
            _ => true,
        })
}

/// The facts file of a release (`key=value` lines).
pub(crate) fn render_facts(r: &Release) -> String {
    format!(
        "id={}\ntime={}\nby={}\nversion={}\nfingerprint={}\n",
        r.id, r.deployed, r.by, r.version, r.fingerprint
    )
}

fn parse_facts(id: &str, result: &str, text: &str) -> Release {
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| crate::output::sanitize(v.trim()))
            .unwrap_or_default()
    };
    Release {
        id: id.to_string(),
        result: crate::output::sanitize(result),
        deployed: get("time"),
        by: get("by"),
        version: get("version"),
        fingerprint: get("fingerprint"),
    }
}

/// Reads [`store::READ_FN`]'s output from the front of `rest`, up to and with its `end`
/// line; `rest` is left after it. `Err` says what was not as expected.
pub(crate) fn parse_read(rest: &mut &[u8]) -> Result<Store, String> {
    let mut store = Store::default();
    loop {
        let line = take_line(rest).ok_or("the release store listing ends early")?;
        let words: Vec<&str> = line.splitn(4, ' ').collect();
        match words[..] {
            ["end"] => break,
            ["store", "ok"] => store.state = State::Ok,
            ["store", "none"] => store.state = State::None,
            ["store", "unsafe", path] => store.state = State::Unsafe(path.to_string()),
            ["current", id] => store.current = Some(id.to_string()).filter(|i| valid_id(i)),
            ["o", hash] => {
                store.objects.insert(hash.to_string());
            }
            ["release", id, result, len] => {
                let body = take(rest, len).ok_or_else(|| format!("bad release line {line:?}"))?;
                if valid_id(id) {
                    store.releases.push(parse_facts(id, result, &body));
                }
            }
            ["manifest", id, len] => {
                let body = take(rest, len).ok_or_else(|| format!("bad manifest line {line:?}"))?;
                let manifest = Manifest::parse(&body).map_err(|e| format!("release {id}: {e}"))?;
                store.manifests.insert(id.to_string(), manifest);
            }
            _ => {
                return Err(format!(
                    "unexpected line {line:?} in the release store listing"
                ))
            }
        }
    }
    store.releases.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(store)
}

fn take_line(rest: &mut &[u8]) -> Option<String> {
    let nl = rest.iter().position(|&b| b == b'\n')?;
    let line = String::from_utf8_lossy(&rest[..nl]).into_owned();
    *rest = &rest[nl + 1..];
    Some(line)
}

fn take(rest: &mut &[u8], len: &str) -> Option<String> {
    let len: usize = len.trim().parse().ok()?;
    if rest.len() < len {
        return None;
    }
    let body = String::from_utf8_lossy(&rest[..len]).into_owned();
    *rest = &rest[len..];
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_are_checked() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_979_701);
        let id = new_id(t);
        assert!(id.starts_with("20261129T191501Z-"), "{id}");
        assert!(valid_id(&id), "{id}");
        assert!(valid_id("20261129T191501Z-3fa9c2d1"));
        for bad in [
            "../../etc",
            "20261129T191501Z-3fa9c2d",
            "20261129T191501Z-3FA9C2D1",
            "20261129T191501Z-3fa9c2d1 x",
            "2026112xT191501Z-3fa9c2d1",
        ] {
            assert!(!valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn parses_a_listing_and_leaves_what_follows() {
        let a = "20261129T191501Z-3fa9c2d1";
        let b = "20261130T080000Z-00000001";
        let facts = format!(
            "id={a}\ntime=2026-11-29T19:15:01Z\nby=al@lap\nversion=0.1.0\nfingerprint=sha256:f\n"
        );
        let manifest = format!("f 0644 1 {} x\n", "a".repeat(64));
        let text = format!(
            "store ok\ncurrent {a}\nrelease {b} failed 3\nid=release {a} healthy {}\n{facts}manifest {a} {}\n{manifest}o {}\nend\nversion 0 5\n",
            facts.len(),
            manifest.len(),
            "b".repeat(64)
        );
        let mut rest = text.as_bytes();
        let s = parse_read(&mut rest).unwrap();
        assert_eq!(rest, b"version 0 5\n");
        assert_eq!(s.state, State::Ok);
        assert_eq!(s.current.as_deref(), Some(a));
        assert_eq!(s.ids(), [a, b]);
        let r = s.release(a).unwrap();
        assert_eq!((r.result.as_str(), r.by.as_str()), ("healthy", "al@lap"));
        assert_eq!(r.deployed, "2026-11-29T19:15:01Z");
        assert_eq!(s.current_manifest().unwrap().entries[0].path, "x");
        assert!(s.objects.contains(&"b".repeat(64)));
        let mut none = &b"store unsafe /opt/app/.pxdeploy/objects\nend\n"[..];
        assert_eq!(
            parse_read(&mut none).unwrap().state,
            State::Unsafe("/opt/app/.pxdeploy/objects".into())
        );
        assert!(parse_read(&mut &b"store ok\ncurrent -\n"[..]).is_err());
    }
}
