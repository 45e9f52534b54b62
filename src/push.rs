//! Pushing the app folder: walk `app.source` (honouring `.gitignore` and `.pxdeployignore`,
//! even outside a git repository; never `.git`, never a local `.env`, never a top-level
//! `.pxdeploy`, the container's release store), and stream what the
//! container lacks as a tar archive of objects (`objects/ab/cdef…`, named by content hash)
//! through the SSH channel into the release store (`release::store`). The archive is written
//! on a thread into a small bounded pipe, so memory stays flat whatever the folder's size.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

mod gzip;
#[cfg(test)]
mod stream_tests;

/// The release store's folder in `remote_dir` (`release::store`): never pushed from the
/// source, whatever it holds.
pub(crate) const STORE: &str = ".pxdeploy";

/// The per-folder ignore file of pxdeploy (same syntax as `.gitignore`).
pub(crate) const IGNORE_FILE: &str = ".pxdeployignore";

/// What a push did (for a walk: the files found and their size).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Stats {
    /// Regular files and symbolic links written.
    pub files: u64,
    /// Bytes of content sent.
    pub bytes: u64,
    /// Files and links left as they were (same content and mode).
    pub unchanged: u64,
    /// Files and links pushed before and gone from the source, deleted.
    pub deleted: u64,
}

/// One entry of the app folder.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub path: PathBuf,
    /// Relative, with `/` separators.
    pub name: String,
    pub kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir,
    File,
    Symlink,
}

/// The files of `source` that are pushed, sorted, with their totals.
pub(crate) fn walk(source: &Path) -> Result<(Vec<Entry>, Stats)> {
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
            // `.pxdeploy` at the top is where the container keeps its release store.
            !(name == ".git" || (name == ".env" && !is_dir) || (name == STORE && e.depth() == 1))
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
        if name.contains('\n') {
            return Err(Error::config(format!(
                "cannot push {}: its name holds a line break",
                item.path().display()
            ))
            .hint(format!("rename it, or list it in {IGNORE_FILE}")));
        }
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

const CHUNK: usize = 256 * 1024;
/// Chunks in flight between the archive thread and the SSH channel: memory ≈ 4 × 256 KiB.
const DEPTH: usize = 4;

/// Below this share of the bytes worth compressing (1 / `PLAIN_BELOW`), the archive goes as
/// a plain tar: gzip would save under 1 % of the bytes on a slow link, and on a fast one its
/// stored blocks cost the guest a `gzip -d` pass over every byte (1.2 s of CPU per 200 MB
/// here; docs/performance.md, 2026-12-07, third section).
const PLAIN_BELOW: u64 = 100;

/// What one archive member holds.
#[derive(Debug, Clone)]
pub(crate) enum Payload {
    /// A local file whose content must hash to this SHA-256 (hex) when it is read.
    File(PathBuf, String),
    /// The target of a local symbolic link, as bytes.
    Link(PathBuf),
    /// Bytes made here (a manifest, facts, `.env`).
    Bytes(Vec<u8>),
    /// A hard link to the earlier member of this name (no data: `tar -x` links it to that
    /// member's file, a second name for the staged file inside the staging folder).
    HardLink(String),
}

/// One member of the archive: a regular file named `name` with permission bits `mode`.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub name: String,
    pub mode: u32,
    pub payload: Payload,
}

/// The items of an archive, each with its class (compressed or stored) where it was judged
/// already, and whether the archive is worth a gzip stream: what [`Archive::start`] writes,
/// and what the guest's `tar` must be told (`-z` or not) before the first byte.
pub(crate) struct Packed {
    /// `None`: judged by the archive's thread when it comes to it, while the stream leaves.
    items: Vec<(Item, Option<gzip::Class>)>,
    /// A gzip stream (else a plain tar).
    pub(crate) gzip: bool,
    /// Items judged before the stream starts (in the `-vv` log; the tests read it here).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) judged: usize,
}

/// Judges the items (a file by its name, else its first block; see [`gzip::class_of`]) until
/// the stream's kind is settled: a gzip stream once 1 / [`PLAIN_BELOW`] of all the bytes would
/// shrink (the rest are judged on the archive's thread as the stream goes, not before its
/// first byte: on a slow link the thread waits for the link anyway), else a plain tar (every
/// item judged).
///
/// A hard link goes with the member it links to (it must come after it: the stored files
/// follow the compressed ones).
pub(crate) fn pack(items: Vec<Item>) -> Packed {
    let started = std::time::Instant::now();
    let mut classes = Classes::default();
    let sizes: Vec<u64> = items.iter().map(size_of).collect();
    let total: u64 = sizes.iter().sum();
    let (mut shrinks, mut judged) = (0u64, 0usize);
    let items = items
        .into_iter()
        .zip(sizes)
        .map(|(item, size)| {
            if shrinks * PLAIN_BELOW >= total {
                return (item, None);
            }
            let class = classes.judge(&item);
            judged += 1;
            if class == gzip::Class::Compress {
                shrinks += size;
            }
            (item, Some(class))
        })
        .collect::<Vec<_>>();
    let gzip = shrinks * PLAIN_BELOW >= total;
    tracing::debug!(
        gzip,
        judged,
        items = items.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "judged before the stream"
    );
    Packed {
        gzip,
        judged,
        items,
    }
}

/// The bytes of content an item adds to the archive (as its file is now).
fn size_of(item: &Item) -> u64 {
    match &item.payload {
        Payload::File(path, _) => std::fs::metadata(path).map_or(0, |m| m.len()),
        Payload::Link(_) | Payload::HardLink(_) => 0,
        Payload::Bytes(b) => b.len() as u64,
    }
}

/// Whether each item is compressed or stored, remembered by name: a hard link has the class
/// of the member it links to.
#[derive(Default)]
struct Classes(std::collections::HashMap<String, gzip::Class>);

impl Classes {
    /// Judges `item` (or takes its target's class, for a hard link) and remembers it.
    fn judge(&mut self, item: &Item) -> gzip::Class {
        let class = match &item.payload {
            Payload::File(path, _) => gzip::class_of_file(path),
            Payload::HardLink(target) => self.0.get(target).copied().unwrap_or(gzip::Class::Store),
            Payload::Link(_) | Payload::Bytes(_) => gzip::Class::Compress,
        };
        self.remember(item, class)
    }

    fn remember(&mut self, item: &Item, class: gzip::Class) -> gzip::Class {
        self.0.insert(item.name.clone(), class);
        class
    }
}

/// A tar archive of items, produced on a thread while it is read.
pub(crate) struct Archive {
    rx: Receiver<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    thread: Option<JoinHandle<Result<()>>>,
}

impl Archive {
    /// Starts writing the archive of `items` on a thread (a plain tar: the tests read it).
    #[cfg(test)]
    pub(crate) fn new(items: Vec<Item>) -> Result<Archive> {
        Archive::start_plain(items)
    }

    /// Starts writing the archive of `items` on a thread, as a gzip stream (`tar -xz`
    /// unpacks it): what shrinks compressed, what is compressed already stored (see
    /// [`gzip`]).
    #[cfg(test)]
    pub(crate) fn gzip(items: Vec<Item>) -> Result<Archive> {
        let mut packed = pack(items);
        packed.gzip = true;
        Archive::packed(packed)
    }

    /// Starts writing the archive of `packed` on a thread: a gzip stream or a plain tar, as
    /// `packed.gzip` says.
    pub(crate) fn packed(packed: Packed) -> Result<Archive> {
        Archive::start(packed.items, packed.gzip)
    }

    #[cfg(test)]
    fn start_plain(items: Vec<Item>) -> Result<Archive> {
        let items = items
            .into_iter()
            .map(|i| (i, Some(gzip::Class::Compress)))
            .collect();
        Archive::start(items, false)
    }

    fn start(items: Vec<(Item, Option<gzip::Class>)>, gzip: bool) -> Result<Archive> {
        let (tx, rx) = sync_channel::<Vec<u8>>(DEPTH);
        let thread = std::thread::Builder::new()
            .name("pxdeploy-tar".into())
            .spawn(move || match gzip {
                true => write_gzip_archive(items, tx),
                false => write_archive(items, tx),
            })
            .map_err(|e| Error::unexpected(format!("cannot start the archive thread: {e}")))?;
        Ok(Archive {
            rx,
            current: Vec::new(),
            pos: 0,
            thread: Some(thread),
        })
    }

    /// After the upload: the archive thread's own error, if any (a file that vanished,
    /// could not be read, or changed since it was hashed). Call after the remote side finished.
    pub(crate) fn finish(mut self) -> Result<()> {
        // Unblock the thread if the reader stopped early.
        drop(std::mem::replace(&mut self.rx, sync_channel(1).1));
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(Error::unexpected("the archive thread panicked")),
            None => Err(Error::unexpected("the archive was finished twice")),
        }
    }
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

fn write_archive(items: Vec<(Item, Option<gzip::Class>)>, tx: SyncSender<Vec<u8>>) -> Result<()> {
    let writer = ChannelWriter {
        tx,
        buf: Vec::with_capacity(CHUNK),
    };
    let mut tar = tar::Builder::new(writer);
    for (item, _) in &items {
        append(&mut tar, item)?;
    }
    let mut writer = tar
        .into_inner()
        .map_err(|e| Error::unexpected(format!("cannot finish the archive: {e}")))?;
    writer
        .flush()
        .map_err(|e| Error::unexpected(format!("cannot finish the archive: {e}")))
}

fn archive_failed(e: io::Error) -> Error {
    Error::unexpected(format!("cannot write the archive: {e}"))
}

/// The archive as a gzip stream: each item worth compressing as it comes, the files stored
/// as they are (already compressed) at the end, in a second member.
fn write_gzip_archive(
    items: Vec<(Item, Option<gzip::Class>)>,
    tx: SyncSender<Vec<u8>>,
) -> Result<()> {
    let writer = ChannelWriter {
        tx,
        buf: Vec::with_capacity(CHUNK),
    };
    let mut tar = tar::Builder::new(gzip::Members::new(writer));
    let mut stored = Vec::new();
    let mut classes = Classes::default();
    for (item, class) in &items {
        let class = match class {
            Some(class) => classes.remember(item, *class),
            None => classes.judge(item),
        };
        match class {
            gzip::Class::Store => stored.push(item),
            gzip::Class::Compress => append(&mut tar, item)?,
        }
    }
    tar.get_mut().store().map_err(archive_failed)?;
    for item in stored {
        append(&mut tar, item)?;
    }
    let members = tar.into_inner().map_err(archive_failed)?;
    let (mut writer, sent) = members.finish().map_err(archive_failed)?;
    writer.flush().map_err(archive_failed)?;
    tracing::debug!(sent, "the push's gzip stream");
    Ok(())
}

/// The SHA-256 (hex) of what is read through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn append<W: Write>(tar: &mut tar::Builder<W>, item: &Item) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_mode(item.mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    let failed = |path: &Path, e: io::Error| {
        Error::unexpected(format!("cannot push {}", path.display())).cause(e.to_string())
    };
    match &item.payload {
        Payload::Bytes(bytes) => {
            header.set_size(bytes.len() as u64);
            tar.append_data(&mut header, &item.name, &bytes[..])
                .map_err(|e| Error::unexpected(format!("cannot write the archive: {e}")))
        }
        Payload::Link(path) => {
            let target = std::fs::read_link(path).map_err(|e| failed(path, e))?;
            let bytes = target.as_os_str().as_encoded_bytes();
            header.set_size(bytes.len() as u64);
            tar.append_data(&mut header, &item.name, bytes)
                .map_err(|e| failed(path, e))
        }
        Payload::HardLink(target) => {
            header.set_entry_type(tar::EntryType::Link);
            header.set_size(0);
            tar.append_link(&mut header, &item.name, target)
                .map_err(|e| Error::unexpected(format!("cannot write the archive: {e}")))
        }
        Payload::File(path, hash) => {
            let file = std::fs::File::open(path).map_err(|e| failed(path, e))?;
            let len = file.metadata().map_err(|e| failed(path, e))?.len();
            header.set_size(len);
            // The size in the header must match what is read, even if the file grows meanwhile.
            let mut content = Hashing {
                inner: file.take(len),
                hasher: Sha256::new(),
            };
            tar.append_data(&mut header, &item.name, &mut content)
                .map_err(|e| failed(path, e))?;
            if format!("{:x}", content.hasher.finalize()) != *hash {
                return Err(Error::unexpected(format!(
                    "{} changed while it was pushed",
                    path.display()
                ))
                .hint("deploy again once the file stays still"));
            }
            Ok(())
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
        // A release store of the local folder (a copy of a container's, a test) would be
        // pushed over the container's own.
        fs::create_dir_all(p.join(".pxdeploy/releases")).unwrap();
        fs::write(p.join(".pxdeploy/current"), "20200101T000000Z-00000000\n").unwrap();
        dir
    }

    #[test]
    fn honours_ignore_files_outside_git_and_never_sends_git_env_or_a_release_store() {
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
    fn archive_of_items_extracts_with_a_real_tar_and_checks_hashes() {
        let dir = app();
        let p = dir.path();
        let hash = |b: &[u8]| format!("{:x}", Sha256::digest(b));
        let items = vec![
            Item {
                name: "objects/aa/1".into(),
                mode: 0o600,
                payload: Payload::File(p.join("api/keep.log"), hash(b"kept")),
            },
            Item {
                name: "objects/bb/2".into(),
                mode: 0o600,
                payload: Payload::Link(p.join("api/link")),
            },
            Item {
                name: "release/env".into(),
                mode: 0o600,
                payload: Payload::Bytes(b"A=1\n".to_vec()),
            },
        ];
        let mut archive = Archive::new(items.clone()).unwrap();
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
        assert_eq!(fs::read_to_string(d.join("objects/aa/1")).unwrap(), "kept");
        assert_eq!(
            fs::read_to_string(d.join("objects/bb/2")).unwrap(),
            "Dockerfile"
        );
        assert_eq!(fs::read_to_string(d.join("release/env")).unwrap(), "A=1\n");
        // A file that changed since it was hashed is an error, not a wrong object.
        fs::write(p.join("api/keep.log"), "changed").unwrap();
        let mut archive = Archive::new(items).unwrap();
        io::copy(&mut archive, &mut io::sink()).unwrap();
        let e = archive.finish().unwrap_err();
        assert!(e.message.contains("changed while it was pushed"), "{e:?}");
    }

    #[test]
    fn a_name_with_a_line_break_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a\nb"), "x").unwrap();
        assert_eq!(scan(dir.path()).unwrap_err().exit_code(), 3);
    }

    #[test]
    fn missing_source_is_a_config_error() {
        let e = scan(Path::new("/nonexistent/pxdeploy-app")).unwrap_err();
        assert_eq!(e.exit_code(), 3);
    }
}
