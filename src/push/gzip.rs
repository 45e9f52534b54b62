//! The push as a gzip stream: what is worth compressing is compressed, what is already
//! compressed (images, archives, fonts, media) is stored as it is, in the same stream that
//! every guest unpacks with `tar -xz` (GNU tar calls `gzip`; BusyBox has it built in).
//!
//! The archive's members are written in two runs: first everything worth compressing (at
//! [`LEVEL`]), then, as a second gzip member (`gzip -d` reads concatenated members as one
//! stream), the files stored as they are (level 0: deflate's stored blocks, no CPU spent
//! on bytes that would not shrink). The order of the members does not matter to the store:
//! it unpacks the whole archive before it looks at any file.
//!
//! Chosen by measurement (docs/performance.md, 2026-12-07): through a 10 Mbit/s, 50 ms link
//! this stream sent 19.5 MB of the bench's 41 MB tree where libssh2's own transport
//! compression (zlib level 1 on every packet, the images too) sent 28.7 MB, and the first
//! deploy was 5 s faster; files that do not compress cost no deflate CPU on a fast link.

use std::io::{self, Read, Write};
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;

/// The level of what is compressed. On the compressible part of the bench's tree (25.5 MB
/// of code, docs and data) gzip's 6 wrote 6.97 MB, 1 wrote 9.01 MB (23 % more to send) at
/// 17 against 51 MB/s on one core of this loaded machine: 6 is still 14 times a 10 Mbit/s
/// uplink. Level 9 (measured again as one 30.9 MB tar, docs/performance.md, fourth run)
/// wrote 1.4 % less than 6 (8.42 against 8.54 MB) for 2.4 times the CPU: not worth it.
pub(crate) const LEVEL: u32 = 6;

/// How much of a file is looked at to decide: the first block.
pub(crate) const HEAD: usize = 64 * 1024;

/// A file whose first block does not shrink below this share of its size is stored.
const WORTH: f64 = 0.9;

/// At or above this many bits per byte (of at most 8), a first block of at least
/// [`RANDOM_MIN`] bytes is stored without a deflate trial (see [`looks_random`]).
const ENTROPY: f64 = 7.9;

/// The smallest first block that [`looks_random`] judges: below it the estimate of a
/// random block's entropy falls short of 8 bits (too few bytes for 256 values).
const RANDOM_MIN: usize = 16 * 1024;

/// Name endings of formats that are compressed already: never worth a second try.
const COMPRESSED: &[&str] = &[
    "7z", "apk", "avif", "br", "bz2", "deb", "docx", "epub", "flac", "gif", "gz", "heic", "jar",
    "jpeg", "jpg", "lz", "lz4", "lzma", "m4a", "mkv", "mov", "mp3", "mp4", "odt", "ogg", "opus",
    "png", "pptx", "rar", "rpm", "tbz2", "tgz", "txz", "war", "webm", "webp", "whl", "woff",
    "woff2", "xlsx", "xz", "zip", "zst",
];

/// Whether a file is sent compressed or stored as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Compress,
    Store,
}

/// By the name's ending when it names a compressed format, else by a trial: the first
/// block (`head`, at most [`HEAD`] bytes) compressed at level 1 must shrink by a tenth.
pub(crate) fn class_of(path: &Path, head: &[u8]) -> Class {
    if compressed_by_name(path) {
        return Class::Store;
    }
    // Small files go with the rest: their tar header alone is 512 bytes of zeros.
    if head.len() < 512 {
        return Class::Compress;
    }
    if looks_random(head) {
        return Class::Store;
    }
    let mut trial = flate2::write::DeflateEncoder::new(Counted::default(), Compression::fast());
    let size = trial
        .write_all(head)
        .and_then(|()| trial.finish())
        .map(|c| c.0)
        .unwrap_or(0);
    if (size as f64) < WORTH * head.len() as f64 {
        Class::Compress
    } else {
        Class::Store
    }
}

/// Whether `head` (at least [`RANDOM_MIN`] bytes) looks like compressed or encrypted bytes:
/// the entropy of its byte counts is [`ENTROPY`] bits per byte or more, so no coding of
/// single bytes shrinks it by even 2 %. Counting bytes costs about a tenth of deflate's
/// trial on such data (in the bench, judging 200 random files of 1 MiB before the first
/// byte: 260 ms of deflate, docs/performance.md). Only a block made of long repeats of
/// random-looking bytes would still shrink (deflate's matches), and it is sent as it is,
/// as a plain `tar` would send it.
fn looks_random(head: &[u8]) -> bool {
    if head.len() < RANDOM_MIN {
        return false;
    }
    let mut counts = [0u32; 256];
    for &b in head {
        counts[b as usize] += 1;
    }
    let n = head.len() as f64;
    let bits: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    bits >= ENTROPY
}

fn compressed_by_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .is_some_and(|e| COMPRESSED.contains(&e.as_str()))
}

/// The class of the local file at `path` (by its name, else read from its first block; a
/// file that cannot be read is compressed: reading it again for the archive says what is
/// wrong).
pub(crate) fn class_of_file(path: &Path) -> Class {
    if compressed_by_name(path) {
        return Class::Store;
    }
    let mut head = Vec::with_capacity(HEAD);
    let read = std::fs::File::open(path).and_then(|f| f.take(HEAD as u64).read_to_end(&mut head));
    match read {
        Ok(_) => class_of(path, &head),
        Err(_) => Class::Compress,
    }
}

/// Counts what is written to it, and drops it.
#[derive(Default)]
struct Counted(u64);

impl Write for Counted {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0 += data.len() as u64;
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A gzip stream of one or two members: compressed at [`LEVEL`] until [`Members::store`],
/// stored from then on. Counts the bytes it writes to `W`.
pub(crate) struct Members<W: Write> {
    enc: Option<GzEncoder<Counting<W>>>,
    stored: bool,
}

/// `W`, counting the bytes written through it.
pub(crate) struct Counting<W> {
    inner: W,
    pub(crate) written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(data)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> Members<W> {
    pub(crate) fn new(inner: W) -> Members<W> {
        let out = Counting { inner, written: 0 };
        Members {
            enc: Some(GzEncoder::new(out, Compression::new(LEVEL))),
            stored: false,
        }
    }

    fn enc(&mut self) -> io::Result<&mut GzEncoder<Counting<W>>> {
        self.enc.as_mut().ok_or_else(finished)
    }

    /// From now on, what is written is stored (a new gzip member at level 0).
    pub(crate) fn store(&mut self) -> io::Result<()> {
        if self.stored {
            return Ok(());
        }
        let out = self.enc.take().ok_or_else(finished)?.finish()?;
        self.enc = Some(GzEncoder::new(out, Compression::none()));
        self.stored = true;
        Ok(())
    }

    /// Ends the stream; returns `W` and the bytes written to it.
    pub(crate) fn finish(mut self) -> io::Result<(W, u64)> {
        let out = self.enc.take().ok_or_else(finished)?.finish()?;
        Ok((out.inner, out.written))
    }
}

fn finished() -> io::Error {
    io::Error::other("the gzip stream is finished")
}

impl<W: Write> Write for Members<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.enc()?.write(data)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.enc()?.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    fn random(n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n];
        rand::rng().fill_bytes(&mut b);
        b
    }

    fn text(n: usize) -> Vec<u8> {
        let words = [
            "deploy",
            "container",
            "release",
            "fn",
            "let",
            "mut",
            "{",
            "}",
            "\n",
        ];
        let mut out = Vec::new();
        let mut i = 7usize;
        while out.len() < n {
            i = (i * 31 + 17) % 1009;
            out.extend_from_slice(words[i % words.len()].as_bytes());
            out.push(b' ');
        }
        out
    }

    #[test]
    fn already_compressed_files_are_stored_and_text_is_compressed() {
        let t = text(HEAD);
        // Known formats by their name alone, whatever the bytes.
        for name in [
            "logo.PNG",
            "photo.jpg",
            "font.woff2",
            "bundle.tar.gz",
            "a.zip",
        ] {
            assert_eq!(class_of(Path::new(name), &t), Class::Store, "{name}");
        }
        assert_eq!(class_of(Path::new("src/main.rs"), &t), Class::Compress);
        assert_eq!(class_of(Path::new("README"), &t), Class::Compress);
        // An unknown name: the first block decides.
        assert_eq!(class_of(Path::new("data.bin"), &random(HEAD)), Class::Store);
        assert_eq!(class_of(Path::new("data.bin"), &t), Class::Compress);
        // Small files go with the compressed run, whatever they hold.
        assert_eq!(
            class_of(Path::new("key.bin"), &random(100)),
            Class::Compress
        );
    }

    #[test]
    fn random_bytes_are_told_from_text_and_binaries_by_their_byte_counts() {
        assert!(looks_random(&random(HEAD)));
        assert!(looks_random(&random(RANDOM_MIN)));
        // Too short to judge by counts: deflate's trial decides (and stores it too).
        assert!(!looks_random(&random(RANDOM_MIN - 1)));
        assert_eq!(class_of(Path::new("x.bin"), &random(4096)), Class::Store);
        assert!(!looks_random(&text(HEAD)));
        // A binary with structure (small integers, zero padding): compressed.
        let table: Vec<u8> = (0..HEAD as u32)
            .flat_map(|i| (i % 1000).to_le_bytes())
            .collect();
        assert!(!looks_random(&table[..HEAD]));
        assert_eq!(
            class_of(Path::new("table.bin"), &table[..HEAD]),
            Class::Compress
        );
        // Gzip's own output: stored without a trial.
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        let hex: String = random(2 * HEAD)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        gz.write_all(hex.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        assert!(gz.len() >= RANDOM_MIN, "{}", gz.len());
        assert_eq!(
            class_of(Path::new("blob"), &gz[..gz.len().min(HEAD)]),
            Class::Store
        );
    }

    #[test]
    fn a_file_is_judged_by_its_first_block() {
        let dir = tempfile::tempdir().unwrap();
        let noise = dir.path().join("noise");
        std::fs::write(&noise, random(3 * HEAD)).unwrap();
        let log = dir.path().join("app.log");
        std::fs::write(&log, text(3 * HEAD)).unwrap();
        assert_eq!(class_of_file(&noise), Class::Store);
        assert_eq!(class_of_file(&log), Class::Compress);
        assert_eq!(class_of_file(&dir.path().join("gone")), Class::Compress);
    }

    #[test]
    fn two_members_unpack_with_gzip_as_one_stream() {
        let t = text(200_000);
        let r = random(100_000);
        let mut m = Members::new(Vec::new());
        m.write_all(&t).unwrap();
        m.store().unwrap();
        m.write_all(&r).unwrap();
        let (bytes, written) = m.finish().unwrap();
        assert_eq!(written, bytes.len() as u64);
        // The text shrank; the random bytes were stored (a little framing only).
        assert!(
            bytes.len() < t.len() / 4 + r.len() + 1000,
            "{}",
            bytes.len()
        );
        assert!(bytes.len() > r.len(), "{}", bytes.len());
        for unzip in [&["gzip", "-dc"][..], &["busybox", "gzip", "-dc"]] {
            let mut child = std::process::Command::new(unzip[0])
                .args(&unzip[1..])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let input = bytes.clone();
            let writer = std::thread::spawn(move || stdin.write_all(&input));
            let out = child.wait_with_output().unwrap();
            writer.join().unwrap().unwrap();
            assert!(out.status.success(), "{unzip:?}");
            assert_eq!(out.stdout.len(), t.len() + r.len(), "{unzip:?}");
            assert!(out.stdout[..t.len()] == t[..] && out.stdout[t.len()..] == r[..]);
        }
    }
}
