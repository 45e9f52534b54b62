//! The manifest of a release: one line per entry of the pushed tree, sorted by path, so that
//! a parent comes before its children:
//!
//! ```text
//! d 0755 - - api
//! f 0644 16 <sha256 hex> api/Dockerfile
//! l 0777 10 <sha256 hex of the target> api/link
//! ```
//!
//! kind, permission bits (octal), size, content hash, then the path to the end of the line
//! (names with a line break are refused by the walk). It is all a release holds of the tree:
//! contents live once under their hash in the store.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::push::{self, Kind};

/// One entry of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub kind: EntryKind,
    /// Permission bits (`& 0o7777`).
    pub mode: u32,
    /// Bytes of a file, or of a link's target; 0 for a folder.
    pub size: u64,
    /// SHA-256 (hex) of a file's content or a link's target; empty for a folder.
    pub hash: String,
    /// Relative, `/`-separated.
    pub path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryKind {
    Dir,
    File,
    Link,
}

impl EntryKind {
    fn letter(self) -> char {
        match self {
            EntryKind::Dir => 'd',
            EntryKind::File => 'f',
            EntryKind::Link => 'l',
        }
    }
}

/// The pushed tree, sorted by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub entries: Vec<Entry>,
}

/// A manifest read from the app folder, with where each entry's content is read from.
#[derive(Debug, Default)]
pub(crate) struct Local {
    pub manifest: Manifest,
    /// path in the manifest → the local file or link.
    pub sources: BTreeMap<String, PathBuf>,
}

/// Walks `source` (the push's ignore rules) and hashes every file and link target.
pub(crate) fn read_local(source: &Path) -> Result<Local> {
    let (entries, _) = push::walk(source)?;
    let mut local = Local::default();
    for e in entries {
        let failed = |err: std::io::Error| {
            Error::unexpected(format!("cannot read {}", e.path.display())).cause(err.to_string())
        };
        let meta = std::fs::symlink_metadata(&e.path).map_err(failed)?;
        let mode = meta.permissions().mode() & 0o7777;
        let (kind, size, hash) = match e.kind {
            Kind::Dir => (EntryKind::Dir, 0, String::new()),
            Kind::Symlink => {
                let target = std::fs::read_link(&e.path).map_err(failed)?;
                let bytes = target.as_os_str().as_encoded_bytes();
                (EntryKind::Link, bytes.len() as u64, hex(bytes))
            }
            Kind::File => {
                let (size, hash) = hash_file(&e.path).map_err(failed)?;
                (EntryKind::File, size, hash)
            }
        };
        local.sources.insert(e.name.clone(), e.path.clone());
        local.manifest.entries.push(Entry {
            kind,
            mode,
            size,
            hash,
            path: e.name,
        });
    }
    Ok(local)
}

fn hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((size, format!("{:x}", hasher.finalize())))
}

impl Manifest {
    /// The text stored in the container (see the module docs).
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        for e in &self.entries {
            let (size, hash) = match e.kind {
                EntryKind::Dir => ("-".to_string(), "-"),
                _ => (e.size.to_string(), e.hash.as_str()),
            };
            out.push_str(&format!(
                "{} {:04o} {size} {hash} {}\n",
                e.kind.letter(),
                e.mode,
                e.path
            ));
        }
        out
    }

    /// Reads [`Manifest::render`]'s text; `Err` names the first bad line.
    pub(crate) fn parse(text: &str) -> std::result::Result<Manifest, String> {
        let mut entries = Vec::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            entries.push(parse_line(line).ok_or_else(|| format!("bad manifest line {line:?}"))?);
        }
        Ok(Manifest { entries })
    }

    /// SHA-256 of the rendered manifest: the tree's identity (content, modes, names).
    pub(crate) fn digest(&self) -> String {
        format!("sha256:{}", hex(self.render().as_bytes()))
    }

    /// Files and links (not folders), and their total size.
    pub(crate) fn totals(&self) -> (u64, u64) {
        self.entries
            .iter()
            .filter(|e| e.kind != EntryKind::Dir)
            .fold((0, 0), |(n, b), e| (n + 1, b + e.size))
    }
}

fn parse_line(line: &str) -> Option<Entry> {
    let mut parts = line.splitn(5, ' ');
    let kind = match parts.next()? {
        "d" => EntryKind::Dir,
        "f" => EntryKind::File,
        "l" => EntryKind::Link,
        _ => return None,
    };
    let mode = u32::from_str_radix(parts.next()?, 8).ok()?;
    let size = parts.next()?;
    let hash = parts.next()?;
    let path = parts.next()?.to_string();
    let safe = !path.is_empty()
        && !path.starts_with('/')
        && path.split('/').next() != Some(crate::push::STORE)
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    if !safe || mode > 0o7777 {
        return None;
    }
    let (size, hash) = match kind {
        EntryKind::Dir => (0, String::new()),
        _ => {
            let valid = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
            (size.parse().ok()?, valid.then(|| hash.to_string())?)
        }
    };
    Some(Entry {
        kind,
        mode,
        size,
        hash,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn app() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        fs::create_dir_all(p.join("api")).unwrap();
        fs::write(p.join("api/Dockerfile"), "FROM base:local\n").unwrap();
        fs::write(p.join("my file.txt"), "x").unwrap();
        fs::write(p.join(".env"), "SECRET=1").unwrap();
        std::os::unix::fs::symlink("Dockerfile", p.join("api/link")).unwrap();
        fs::set_permissions(p.join("api"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(p.join("my file.txt"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::set_permissions(p.join("api/Dockerfile"), fs::Permissions::from_mode(0o644)).unwrap();
        dir
    }

    #[test]
    fn renders_and_parses_back() {
        let dir = app();
        let local = read_local(dir.path()).unwrap();
        let text = local.manifest.render();
        let sha = |s: &str| hex(s.as_bytes());
        assert_eq!(
            text,
            format!(
                "d 0755 - - api\nf 0644 16 {} api/Dockerfile\nl 0777 10 {} api/link\nf 0640 1 {} my file.txt\n",
                sha("FROM base:local\n"),
                sha("Dockerfile"),
                sha("x")
            )
        );
        assert_eq!(Manifest::parse(&text).unwrap(), local.manifest);
        assert_eq!(local.manifest.totals(), (3, 27));
        assert_eq!(local.sources["api/link"], dir.path().join("api/link"));
    }

    #[test]
    fn digest_follows_content_and_modes_not_times() {
        let a = app();
        let d1 = read_local(a.path()).unwrap().manifest.digest();
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000);
        fs::File::options()
            .write(true)
            .open(a.path().join("my file.txt"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(read_local(a.path()).unwrap().manifest.digest(), d1);
        fs::set_permissions(
            a.path().join("my file.txt"),
            fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let d2 = read_local(a.path()).unwrap().manifest.digest();
        assert_ne!(d2, d1);
        fs::write(a.path().join("api/Dockerfile"), "FROM other\n").unwrap();
        assert_ne!(read_local(a.path()).unwrap().manifest.digest(), d2);
    }

    #[test]
    fn paths_that_leave_the_folder_are_refused() {
        let h = "a".repeat(64);
        for bad in [
            format!("f 0644 1 {h} ../etc/passwd"),
            format!("f 0644 1 {h} /etc/passwd"),
            format!("f 0644 1 {h} a//b"),
            format!("f 0644 1 {h} a/./b"),
            "f 0644 1 short a".to_string(),
            format!("x 0644 1 {h} a"),
            format!("f 99999 1 {h} a"),
            format!("f 0644 1 {h} .pxdeploy/current"),
            "d 0755 - - .pxdeploy".to_string(),
        ] {
            assert!(Manifest::parse(&bad).is_err(), "{bad}");
        }
        assert!(Manifest::parse(&format!("f 0644 1 {h} a b/c d")).is_ok());
        assert!(Manifest::parse(&format!("f 0644 1 {h} a/.pxdeploy/x")).is_ok());
    }
}
