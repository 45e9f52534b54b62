"""Cloud images without a network (reference vm §1): small valid qcow2 files (header,
refcount table and block, an empty L1 table; `qemu-img check` finds no error) and the
distributions' checksum lists for the catalogue URLs that pxdeploy knows. The sim answers
those URLs itself (download-url, and the node's curl/wget stand-ins in sim/bin) and never
touches the internet.
"""

import hashlib
import re
import struct

CLUSTER = 65536
GiB = 1024 ** 3

# directory URL → (checksum list name, algorithm, {image file: virtual size})
CATALOGUE = {
    "https://cloud.debian.org/images/cloud/bookworm/latest/":
        ("SHA512SUMS", "sha512", {"debian-12-genericcloud-amd64.qcow2": 3 * GiB,
                                  "debian-12-generic-amd64.qcow2": 3 * GiB}),
    "https://cloud.debian.org/images/cloud/trixie/latest/":
        ("SHA512SUMS", "sha512", {"debian-13-genericcloud-amd64.qcow2": 3 * GiB,
                                  "debian-13-generic-amd64.qcow2": 3 * GiB}),
    "https://cloud-images.ubuntu.com/noble/current/":
        ("SHA256SUMS", "sha256", {"noble-server-cloudimg-amd64.img": 3758096384}),
}


def qcow2(size, tag=""):
    """A qcow2 v3 image of `size` virtual bytes, no data clusters (tag: unused bytes)."""
    l2_cover = CLUSTER * (CLUSTER // 8)
    l1_size = max(1, -(-size // l2_cover))
    head = struct.pack(">IIQIIQIIQQIIQ", 0x514649FB, 3, 0, 0, 16, size, 0, l1_size,
                       3 * CLUSTER, CLUSTER, 1, 0, 0)
    head += struct.pack(">QQQII", 0, 0, 0, 4, 104) + struct.pack(">II", 0, 0)
    c0 = head.ljust(CLUSTER, b"\0")
    c1 = struct.pack(">Q", 2 * CLUSTER).ljust(CLUSTER, b"\0")
    c2 = struct.pack(">HHHH", 1, 1, 1, 1).ljust(CLUSTER, b"\0")
    c3 = (b"\0" * (8 * l1_size) + f"pxsim image {tag}".encode()).ljust(CLUSTER, b"\0")
    return c0 + c1 + c2 + c3


def lookup(url):
    """(kind, bytes) for a catalogue URL: ("image", data) or ("sums", text); else None."""
    for base, (sums, algo, files) in CATALOGUE.items():
        if not url.startswith(base):
            continue
        name = url[len(base):]
        if name == sums:
            lines = []
            for fn in sorted(files):
                h = hashlib.new(algo, qcow2(files[fn], fn)).hexdigest()
                lines.append(f"{h}  {fn}" if algo == "sha512" else f"{h} *{fn}")
            return "sums", ("\n".join(lines) + "\n").encode()
        if name in files:
            return "image", qcow2(files[name], name)
    return None


def is_catalogue_host(url):
    return bool(re.match(r"https?://(cloud\.debian\.org|cloud-images\.ubuntu\.com)/", url))
