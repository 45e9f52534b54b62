//! Pushing the app folder: walk `app.source` (honouring `.gitignore` and `.pxdeployignore`,
//! even outside a git repository; never `.git`, never a local `.env`), and stream it as a tar
//! archive through the SSH channel into `tar -x` inside the container. The archive is written
//! on a thread into a small bounded pipe, so memory stays flat whatever the folder's size.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::proxmox::pct::exec as pct_exec;

/// The per-folder ignore file of pxdeploy (same syntax as `.gitignore`).
pub const IGNORE_FILE: &str = ".pxdeployignore";

/// What gets pushed: the files in archive order.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Regular files and symbolic links.
    pub files: u64,
    /// Total size of the regular files.
    pub bytes: u64,
}

/// One entry of the archive.
#[derive(Debug, Clone)]
struct Entry {
    path: PathBuf,
    /// Relative, with `/` separators.
    name: String,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    Symlink,
}

/// The files of `source` that are pushed, sorted, with their totals.
fn walk(source: &Path) -> Result<(Vec<Entry>, Stats)> {
    let meta = std::fs::metadata(source).map_err(|e| {
        Error::config(format!("cannot read the app folder {}", source.display()))
            .cause(e.to_string())
            .hint("check `[app] source` in pxdeploy.toml")
    })?;
    if !meta.is_dir() {
        return Err(Error::config(format!(
            "the app source {} is not a folder",
            source.display()
        ))
        .hint("`[app] source` names the folder to push"));
    }
    let walker = ignore::WalkBuilder::new(source)
        .hidden(false)
        .ignore(false)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(true)
        .require_git(false)
        .parents(true)
        .follow_links(false)
        .add_custom_ignore_filename(IGNORE_FILE)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(|e| {
            let name = e.file_name();
            let is_dir = e.file_type().is_some_and(|t| t.is_dir());
            !(name == ".git" || (name == ".env" && !is_dir))
        })
        .build();
    let mut entries = Vec::new();
    let mut stats = Stats::default();
    for item in walker {
        let item = item.map_err(|e| {
            Error::unexpected(format!("cannot read the app folder {}", source.display()))
                .cause(e.to_string())
        })?;
        if item.depth() == 0 {
            continue;
        }
        let Ok(rel) = item.path().strip_prefix(source) else {
            continue;
        };
        let name = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let Some(ft) = item.file_type() else { continue };
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_file() {
            Kind::File
        } else {
            // sockets, fifos, devices: not part of an app
            continue;
        };
        if kind == Kind::File {
            let len = item
                .metadata()
                .map_err(|e| {
                    Error::unexpected(format!("cannot read {}", item.path().display()))
                        .cause(e.to_string())
                })?
                .len();
            stats.bytes += len;
        }
        if kind != Kind::Dir {
            stats.files += 1;
        }
        entries.push(Entry {
            path: item.path().to_path_buf(),
            name,
            kind,
        });
    }
    Ok((entries, stats))
}

/// `pct exec <vmid> -- sh -c 'mkdir -p -- "$1" && exec tar -x -f - -C "$1"' sh <dir>`
pub fn extract_command(vmid: u32, dir: &str) -> String {
    pct_exec(
        vmid,
        &[
            "sh",
            "-c",
            "mkdir -p -- \"$1\" && exec tar -x -f - -C \"$1\"",
            "sh",
            dir,
        ],
    )
}

const CHUNK: usize = 64 * 1024;
/// Chunks in flight between the archive thread and the SSH channel: memory ≈ 4 × 64 KiB.
const DEPTH: usize = 4;

/// A tar archive of the app folder, produced on a thread while it is read.
pub struct Archive {
    rx: Receiver<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    thread: Option<JoinHandle<Result<String>>>,
    pub stats: Stats,
}

impl Archive {
    /// Walks `source` now (so ignore rules and totals are known before anything is sent),
    /// then starts writing the archive on a thread.
    pub fn new(source: &Path) -> Result<Archive> {
        let (entries, stats) = walk(source)?;
        let (tx, rx) = sync_channel::<Vec<u8>>(DEPTH);
        let thread = std::thread::Builder::new()
            .name("pxdeploy-tar".into())
            .spawn(move || write_archive(entries, tx))
            .map_err(|e| Error::unexpected(format!("cannot start the archive thread: {e}")))?;
        Ok(Archive {
            rx,
            current: Vec::new(),
            pos: 0,
            thread: Some(thread),
            stats,
        })
    }

    /// After the upload: the digest of what was sent (see [`digest`]), or the archive
    /// thread's own error (a file that vanished or could not be read). Call after the
    /// remote side finished.
    pub fn finish(mut self) -> Result<String> {
        // Unblock the thread if the reader stopped early.
        drop(std::mem::replace(&mut self.rx, sync_channel(1).1));
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(Error::unexpected("the archive thread panicked")),
            None => Err(Error::unexpected("the archive was finished twice")),
        }
    }
}

/// The digest of what would be pushed, without pushing (for `--dry-run`): every file is read.
pub fn digest(source: &Path) -> Result<(Stats, String)> {
    let mut archive = Archive::new(source)?;
    let stats = archive.stats.clone();
    io::copy(&mut archive, &mut io::sink())?;
    Ok((stats, archive.finish()?))
}

impl Read for Archive {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.current.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.current = chunk;
                    self.pos = 0;
                }
                // The thread is done (or failed: `finish` says why).
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Writes into the bounded channel in chunks of [`CHUNK`] bytes.
struct ChannelWriter {
    tx: SyncSender<Vec<u8>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the upload stopped"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// Writes the archive and returns its digest: SHA-256 over each entry's kind, name,
/// permission bits, and content (files) or target (links), in archive order. Times and
/// owners are left out, so a fresh checkout of the same tree has the same digest.
fn write_archive(entries: Vec<Entry>, tx: SyncSender<Vec<u8>>) -> Result<String> {
    let writer = ChannelWriter {
        tx,
        buf: Vec::with_capacity(CHUNK),
    };
    let mut tar = tar::Builder::new(writer);
    tar.follow_symlinks(false);
    let mut hasher = Sha256::new();
    for entry in &entries {
        append(&mut tar, entry, &mut hasher).map_err(|e| {
            Error::unexpected(format!("cannot archive {}", entry.path.display()))
                .cause(e.to_string())
        })?;
    }
    let mut writer = tar
        .into_inner()
        .map_err(|e| Error::unexpected(format!("cannot finish the archive: {e}")))?;
    writer
        .flush()
        .map_err(|e| Error::unexpected(format!("cannot finish the archive: {e}")))?;
    Ok(format!("sha256:{:x}", hasher.finalize()))
}

/// Feeds what tar reads of a file into the digest too.
struct Hashing<'a, R> {
    inner: R,
    hasher: &'a mut Sha256,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn append(
    tar: &mut tar::Builder<ChannelWriter>,
    entry: &Entry,
    hasher: &mut Sha256,
) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(&entry.path)?;
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
    let kind = match entry.kind {
        Kind::Dir => b'd',
        Kind::File => b'f',
        Kind::Symlink => b'l',
    };
    hasher.update([kind]);
    hasher.update(entry.name.as_bytes());
    hasher.update([0]);
    hasher.update((header.mode()? & 0o7777).to_le_bytes());
    // Owned by root inside the container, whoever owns them here.
    header.set_uid(0);
    header.set_gid(0);
    let _ = header.set_username("root");
    let _ = header.set_groupname("root");
    match entry.kind {
        Kind::Dir => {
            header.set_size(0);
            tar.append_data(&mut header, format!("{}/", entry.name), io::empty())
        }
        Kind::Symlink => {
            let target = std::fs::read_link(&entry.path)?;
            hasher.update(target.as_os_str().as_encoded_bytes());
            hasher.update([0]);
            header.set_size(0);
            tar.append_link(&mut header, &entry.name, target)
        }
        Kind::File => {
            let file = std::fs::File::open(&entry.path)?;
            // The size in the header must match what is read, even if the file grows meanwhile.
            let len = header.size()?;
            hasher.update(len.to_le_bytes());
            let content = Hashing {
                inner: file.take(len),
                hasher,
            };
            tar.append_data(&mut header, &entry.name, content)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts what would be pushed, without reading the files.
    fn scan(source: &Path) -> Result<Stats> {
        walk(source).map(|(_, stats)| stats)
    }

    /// The names that would be pushed, in archive order.
    fn list(source: &Path) -> Result<Vec<String>> {
        Ok(walk(source)?
            .0
            .into_iter()
            .map(|e| match e.kind {
                Kind::Dir => format!("{}/", e.name),
                _ => e.name,
            })
            .collect())
    }
    use std::fs;

    fn app() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        fs::create_dir_all(p.join(".git/objects")).unwrap();
        fs::write(p.join(".git/HEAD"), "ref").unwrap();
        fs::write(p.join(".env"), "SECRET=local").unwrap();
        fs::write(p.join(".gitignore"), "*.log\nbuild/\n").unwrap();
        fs::write(p.join(IGNORE_FILE), "notes.txt\n").unwrap();
        fs::write(p.join("docker-compose.yml"), "services: {}\n").unwrap();
        fs::write(p.join("debug.log"), "x").unwrap();
        fs::write(p.join("notes.txt"), "x").unwrap();
        fs::create_dir_all(p.join("build")).unwrap();
        fs::write(p.join("build/out.bin"), "x").unwrap();
        fs::create_dir_all(p.join("api/.git")).unwrap();
        fs::write(p.join("api/Dockerfile"), "FROM base:local\n").unwrap();
        fs::write(p.join("api/.env"), "NESTED=1").unwrap();
        fs::write(p.join("api/.gitignore"), "!keep.log\n").unwrap();
        fs::write(p.join("api/keep.log"), "kept").unwrap();
        std::os::unix::fs::symlink("Dockerfile", p.join("api/link")).unwrap();
        dir
    }

    #[test]
    fn honours_ignore_files_outside_git_and_never_sends_git_or_env() {
        let dir = app();
        assert_eq!(
            list(dir.path()).unwrap(),
            [
                ".gitignore",
                ".pxdeployignore",
                "api/",
                "api/.gitignore",
                "api/Dockerfile",
                "api/keep.log",
                "api/link",
                "docker-compose.yml",
            ]
        );
        let stats = scan(dir.path()).unwrap();
        assert_eq!(stats.files, 7);
        assert_eq!(
            stats.bytes,
            (13 + 10 + 16 + 10 + 4 + "services: {}\n".len()) as u64
        );
    }

    #[test]
    fn archive_extracts_with_a_real_tar() {
        let dir = app();
        let mut archive = Archive::new(dir.path()).unwrap();
        let dest = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("tar")
            .args(["-x", "-f", "-", "-C"])
            .arg(dest.path())
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        io::copy(&mut archive, child.stdin.as_mut().unwrap()).unwrap();
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success());
        archive.finish().unwrap();
        let d = dest.path();
        assert_eq!(fs::read_to_string(d.join("api/keep.log")).unwrap(), "kept");
        assert_eq!(
            fs::read_link(d.join("api/link")).unwrap(),
            Path::new("Dockerfile")
        );
        assert!(!d.join(".env").exists() && !d.join("api/.env").exists());
        assert!(!d.join(".git").exists() && !d.join("debug.log").exists());
    }

    #[test]
    fn long_names_survive() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a".repeat(90)).join("b".repeat(90));
        fs::create_dir_all(&deep).unwrap();
        fs::write(deep.join("c".repeat(120)), "deep").unwrap();
        let mut bytes = Vec::new();
        let mut archive = Archive::new(dir.path()).unwrap();
        archive.read_to_end(&mut bytes).unwrap();
        archive.finish().unwrap();
        let mut names = Vec::new();
        for e in tar::Archive::new(&bytes[..]).entries().unwrap() {
            names.push(e.unwrap().path().unwrap().to_string_lossy().to_string());
        }
        assert!(
            names.iter().any(|n| n.ends_with(&"c".repeat(120))),
            "{names:?}"
        );
    }

    #[test]
    fn digest_follows_content_and_modes_not_times() {
        use std::os::unix::fs::PermissionsExt;
        let a = app();
        let b = app();
        // Same tree, other times: same digest (a fresh checkout does not count as a change).
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000);
        fs::File::options()
            .write(true)
            .open(b.path().join("docker-compose.yml"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let (stats, d1) = digest(a.path()).unwrap();
        assert_eq!(stats, scan(a.path()).unwrap());
        assert!(d1.starts_with("sha256:") && d1.len() == 7 + 64, "{d1}");
        assert_eq!(digest(b.path()).unwrap().1, d1);
        // What is pushed equals what is digested.
        let mut archive = Archive::new(a.path()).unwrap();
        io::copy(&mut archive, &mut io::sink()).unwrap();
        assert_eq!(archive.finish().unwrap(), d1);
        // Content, mode and ignored files.
        fs::write(b.path().join("api/Dockerfile"), "FROM base:other\n").unwrap();
        let d2 = digest(b.path()).unwrap().1;
        assert_ne!(d2, d1);
        let f = b.path().join("docker-compose.yml");
        fs::set_permissions(&f, fs::Permissions::from_mode(0o755)).unwrap();
        let d3 = digest(b.path()).unwrap().1;
        assert_ne!(d3, d2);
        fs::write(b.path().join("debug.log"), "ignored, so no change").unwrap();
        assert_eq!(digest(b.path()).unwrap().1, d3);
    }

    #[test]
    fn missing_source_is_a_config_error() {
        let e = scan(Path::new("/nonexistent/pxdeploy-app")).unwrap_err();
        assert_eq!(e.exit_code(), 3);
    }

    #[test]
    fn extract_command_line() {
        assert_eq!(
            extract_command(210, "/opt/my app"),
            "pct exec 210 -- sh -c 'mkdir -p -- \"$1\" && exec tar -x -f - -C \"$1\"' sh '/opt/my app'"
        );
    }
}
