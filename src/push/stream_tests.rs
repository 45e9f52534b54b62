//! The stream's start: what is judged before the first byte leaves, and what on the way.

use std::io::Read;
use std::path::Path;

use rand::RngCore;

use super::{pack, Archive, Item, Payload};

fn text(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0usize;
    while out.len() < n {
        i += 1;
        out.extend_from_slice(
            format!("let value_{} = handler(request, {});\n", i % 97, i).as_bytes(),
        );
    }
    out
}

fn file(dir: &Path, name: &str, bytes: &[u8]) -> Item {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let hash = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(bytes));
    Item {
        name: name.into(),
        mode: 0o644,
        payload: Payload::File(path, hash),
    }
}

/// The names in a gzip stream of a tar, in order (`gzip -dc | tar -t`).
fn listed(stream: &[u8]) -> Vec<String> {
    let mut plain = Vec::new();
    flate2::read::MultiGzDecoder::new(stream)
        .read_to_end(&mut plain)
        .unwrap();
    let mut tar = tar::Archive::new(&plain[..]);
    tar.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// A tree whose first file settles it (text: a gzip stream) starts to stream without
/// judging the other files first: on a slow link the push's first byte no longer waits for
/// a trial compression of every file. The files judged on the way still go where their
/// class says: the text before the stored member, the random bytes in it.
#[test]
fn the_stream_starts_once_its_kind_is_settled_and_judges_the_rest_on_the_way() {
    let dir = tempfile::tempdir().unwrap();
    let mut items = vec![file(dir.path(), "a.txt", &text(200_000))];
    for i in 0..40 {
        let mut noise = vec![0u8; 64 * 1024];
        rand::rng().fill_bytes(&mut noise);
        items.push(file(dir.path(), &format!("r{i:02}.bin"), &noise));
    }
    items.push(file(dir.path(), "z.txt", &text(100_000)));
    let packed = pack(items);
    assert!(packed.gzip);
    assert_eq!(packed.judged, 1, "files judged before the stream started");
    let mut archive = Archive::packed(packed).unwrap();
    let mut stream = Vec::new();
    archive.read_to_end(&mut stream).unwrap();
    archive.finish().unwrap();
    let names = listed(&stream);
    assert_eq!(names.len(), 42);
    assert_eq!(names[..2], ["a.txt", "z.txt"], "the text first, compressed");
    assert!(names[2..].iter().all(|n| n.ends_with(".bin")), "{names:?}");
    // The random bytes were stored, not deflated: the stream is bigger than they are.
    assert!(stream.len() > 40 * 64 * 1024, "{}", stream.len());
}

/// A hard link judged on the way takes the class of the file it links to, so it lands in
/// the same member, after that file: `tar -x` of the stream makes the second name (a link
/// to a stored file put in the compressed member would come before its target and fail).
#[test]
fn a_hard_link_judged_on_the_way_follows_its_target_into_the_stored_member() {
    let dir = tempfile::tempdir().unwrap();
    let mut noise = vec![0u8; 64 * 1024];
    rand::rng().fill_bytes(&mut noise);
    let items = vec![
        file(dir.path(), "a.txt", &text(200_000)),
        file(dir.path(), "r.bin", &noise),
        Item {
            name: "t/r.bin".into(),
            mode: 0o644,
            payload: Payload::HardLink("r.bin".into()),
        },
        file(dir.path(), "z.txt", &text(1_000)),
    ];
    let packed = pack(items);
    assert!(packed.gzip);
    assert_eq!(
        packed.judged, 1,
        "the link and its target are judged on the way"
    );
    let mut archive = Archive::packed(packed).unwrap();
    let mut stream = Vec::new();
    archive.read_to_end(&mut stream).unwrap();
    archive.finish().unwrap();
    assert_eq!(listed(&stream), ["a.txt", "z.txt", "r.bin", "t/r.bin"]);
    let out = tempfile::tempdir().unwrap();
    let mut tar = std::process::Command::new("tar")
        .args(["-xzf", "-", "-C"])
        .arg(out.path())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(tar.stdin.as_mut().unwrap(), &stream).unwrap();
    assert!(tar.wait().unwrap().success());
    assert_eq!(std::fs::read(out.path().join("t/r.bin")).unwrap(), noise);
}
