//! known_hosts, read by us rather than by libssh2 (which compares names case-sensitively,
//! ignores `@revoked`, stops at the first long or odd line and reports "no key of this type"
//! as a mismatch). Plain and hashed (`|1|salt|hash`) names, `*`/`?`/`!` patterns,
//! `[host]:port` names, `@revoked`; raw key blobs are compared. Writing only ever appends one
//! line.
//!
//! The verdict follows OpenSSH (`hostfile.c`, `check_hostkeys_by_key_or_type`): the presented
//! key is known when an entry for the host has exactly it; when no entry has it but the host
//! has entries of ANY type, the key has changed (a server that really had the recorded key
//! would have offered it: its type is asked for first); unknown only when nothing is recorded.
//! What each verdict leads to is [`super::host_key`]'s business.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use ssh_key::sha2::{Digest, Sha256};

/// What known_hosts says about the key a server presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyStatus {
    /// An entry for this host has exactly this key.
    Known,
    /// No entry for this host at all (apart from `@revoked` ones).
    Unknown,
    /// Entries for this host exist, none with this key.
    Changed {
        /// The recorded keys of the presented key's type; when there are none, every
        /// recorded key (then `other_type` is true).
        recorded: Vec<Recorded>,
        /// No key of the presented type is on record, only keys of other types.
        other_type: bool,
    },
    /// The key is marked `@revoked`.
    Revoked { line: String },
}

/// One recorded key, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub key_type: String,
    /// `SHA256:…`
    pub fingerprint: String,
    /// `file:line`
    pub line: String,
}

#[derive(Debug, Clone)]
enum Names {
    Patterns(Vec<String>),
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
}

#[derive(Debug, Clone)]
struct Record {
    file: PathBuf,
    line: usize,
    revoked: bool,
    names: Names,
    blob: Vec<u8>,
}

/// Every usable line of one or more known_hosts files.
#[derive(Debug, Default, Clone)]
pub struct KnownHosts {
    records: Vec<Record>,
}

impl KnownHosts {
    /// Reads the files that exist; a missing file is empty, a line we cannot parse
    /// (`@cert-authority`, a damaged key) is skipped and never stops the rest.
    pub fn load(files: &[PathBuf]) -> KnownHosts {
        let mut db = KnownHosts::default();
        for file in files {
            let Ok(text) = fs::read(file) else { continue };
            db.add(&String::from_utf8_lossy(&text), file);
        }
        db
    }

    /// Reads the lines of `text` (the content of `file`, which names it in messages).
    pub fn parse(text: &str, file: &Path) -> KnownHosts {
        let mut db = KnownHosts::default();
        db.add(text, file);
        db
    }

    fn add(&mut self, text: &str, file: &Path) {
        for (i, line) in text.lines().enumerate() {
            match parse_line(line) {
                Some((revoked, names, blob)) => self.records.push(Record {
                    file: file.to_path_buf(),
                    line: i + 1,
                    revoked,
                    names,
                    blob,
                }),
                None => {
                    let trimmed = line.trim();
                    if !trimmed.is_empty() && !trimmed.starts_with('#') {
                        tracing::debug!(file = %file.display(), line = i + 1, "skipping known_hosts line");
                    }
                }
            }
        }
    }

    /// The keys recorded for exactly `name` (a plain entry listing it literally, or a
    /// hashed one of it; never a wildcard, and not on a line that negates it), split into
    /// usable and `@revoked` ones: what a record that vouches for one host may say.
    pub fn keys_named(&self, name: &str) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let name = name.to_ascii_lowercase();
        let (mut keys, mut revoked) = (Vec::new(), Vec::new());
        for r in &self.records {
            let named = match &r.names {
                Names::Patterns(p) => {
                    p.contains(&name)
                        && !p
                            .iter()
                            .any(|p| p.strip_prefix('!').is_some_and(|n| glob(n, &name)))
                }
                hashed => names_match(hashed, &name),
            };
            if named {
                if r.revoked { &mut revoked } else { &mut keys }.push(r.blob.clone());
            }
        }
        (keys, revoked)
    }

    /// The key types (`ssh-ed25519`, `ssh-rsa`, …) on record for `name`, in file order.
    pub fn key_types(&self, name: &str) -> Vec<String> {
        let mut types = Vec::new();
        for r in self.matching(name) {
            if r.revoked {
                continue;
            }
            if let Some(t) = key_type(&r.blob) {
                if !types.contains(&t) {
                    types.push(t);
                }
            }
        }
        types
    }

    /// Checks the key `blob` presented for `name` (as made by [`lookup_name`]).
    pub fn check(&self, name: &str, blob: &[u8]) -> HostKeyStatus {
        let matching: Vec<&Record> = self.matching(name).collect();
        if let Some(r) = matching.iter().find(|r| r.revoked && r.blob == blob) {
            return HostKeyStatus::Revoked {
                line: format!("{}:{}", r.file.display(), r.line),
            };
        }
        if matching.iter().any(|r| !r.revoked && r.blob == blob) {
            return HostKeyStatus::Known;
        }
        let recorded: Vec<&&Record> = matching.iter().filter(|r| !r.revoked).collect();
        if recorded.is_empty() {
            return HostKeyStatus::Unknown;
        }
        let wanted = key_type(blob);
        let same_type: Vec<&&Record> = recorded
            .iter()
            .copied()
            .filter(|r| key_type(&r.blob) == wanted)
            .collect();
        let other_type = same_type.is_empty();
        let shown = if other_type { recorded } else { same_type };
        HostKeyStatus::Changed {
            recorded: shown
                .iter()
                .map(|r| Recorded {
                    key_type: key_type(&r.blob).unwrap_or_else(|| "unknown".into()),
                    fingerprint: fingerprint(&r.blob),
                    line: format!("{}:{}", r.file.display(), r.line),
                })
                .collect(),
            other_type,
        }
    }

    fn matching<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Record> + 'a {
        let name = name.to_ascii_lowercase();
        self.records
            .iter()
            .filter(move |r| names_match(&r.names, &name))
    }
}

/// The name OpenSSH looks up: `HostKeyAlias` if set, else `host` for port 22 and
/// `[host]:port` for any other port; lower-cased.
pub fn lookup_name(hostname: &str, port: u16, alias: Option<&str>) -> String {
    let name = match alias {
        Some(alias) => alias.to_string(),
        None if port == 22 => hostname.to_string(),
        None => format!("[{hostname}]:{port}"),
    };
    name.to_ascii_lowercase()
}

/// `SHA256:…` (base64 without padding), as OpenSSH prints fingerprints.
pub fn fingerprint(blob: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(blob)))
}

/// The key type written at the start of a key blob (`ssh-ed25519`, `ssh-rsa`, …).
pub fn key_type(blob: &[u8]) -> Option<String> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let name = blob.get(4..4 + len)?;
    String::from_utf8(name.to_vec()).ok()
}

/// Can `name` (`host` or `[host]:port`) be written as a known_hosts name? Never a
/// pattern or a list: OpenSSH's own test (`sshconnect.c`, "invalid hostname ... will not
/// record": `@?*#[]|'"\\`) plus `,`, `!`, whitespace and control characters.
pub fn recordable(name: &str) -> bool {
    let host = match name.strip_prefix('[').and_then(|r| r.rsplit_once("]:")) {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => name,
    };
    !host.is_empty()
        && !host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "@?*#[]|'\"\\,!".contains(c))
}

/// Appends ONE line for `name` to `path` (creating the file 0600 and its folder 0700 when
/// missing), never rewriting what is there. Returns the line written. A name that is not
/// [`recordable`] is refused and nothing is written.
pub fn append(path: &Path, name: &str, blob: &[u8], hashed: bool) -> std::io::Result<String> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if !recordable(name) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{name:?} is not a host name that can be recorded (a pattern, a list or a control character)"),
        ));
    }
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
    }
    let key_type = key_type(blob).unwrap_or_else(|| "unknown".into());
    let host = if hashed {
        hash_name(name, &rand::random::<[u8; 20]>())
    } else {
        name.to_string()
    };
    let line = format!("{host} {key_type} {}", STANDARD.encode(blob));
    let needs_newline = match fs::read(path) {
        Ok(bytes) => !bytes.is_empty() && !bytes.ends_with(b"\n"),
        Err(_) => false,
    };
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let mut text = String::new();
    if needs_newline {
        text.push('\n');
    }
    text.push_str(&line);
    text.push('\n');
    file.write_all(text.as_bytes())?;
    Ok(line)
}

/// `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`, as `ssh-keygen -H` writes.
pub fn hash_name(name: &str, salt: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(salt).expect("HMAC accepts any key length");
    mac.update(name.as_bytes());
    let hash = mac.finalize().into_bytes();
    format!("|1|{}|{}", STANDARD.encode(salt), STANDARD.encode(hash))
}

/// One line: `[@marker] names keytype base64 [comment]`. `None` for blanks, comments,
/// `@cert-authority` (not supported) and damaged lines.
fn parse_line(line: &str) -> Option<(bool, Names, Vec<u8>)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let mut first = fields.next()?;
    let mut revoked = false;
    if first.starts_with('@') {
        match first {
            "@revoked" => revoked = true,
            _ => return None,
        }
        first = fields.next()?;
    }
    let names = parse_names(first)?;
    let key_type_field = fields.next()?;
    let blob = STANDARD.decode(fields.next()?).ok()?;
    if key_type(&blob).as_deref() != Some(key_type_field) {
        return None;
    }
    Some((revoked, names, blob))
}

fn parse_names(field: &str) -> Option<Names> {
    if let Some(rest) = field.strip_prefix("|1|") {
        let (salt, hash) = rest.split_once('|')?;
        return Some(Names::Hashed {
            salt: STANDARD.decode(salt).ok()?,
            hash: STANDARD.decode(hash).ok()?,
        });
    }
    Some(Names::Patterns(
        field
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| p.to_ascii_lowercase())
            .collect(),
    ))
}

fn names_match(names: &Names, name: &str) -> bool {
    match names {
        Names::Hashed { salt, hash } => {
            let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(salt) else {
                return false;
            };
            mac.update(name.as_bytes());
            mac.verify_slice(hash).is_ok()
        }
        Names::Patterns(patterns) => {
            let mut matched = false;
            for p in patterns {
                if let Some(neg) = p.strip_prefix('!') {
                    if glob(neg, name) {
                        return false;
                    }
                } else if glob(p, name) {
                    matched = true;
                }
            }
            matched
        }
    }
}

/// `*` and `?` wildcards, as OpenSSH's match_pattern.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests;
