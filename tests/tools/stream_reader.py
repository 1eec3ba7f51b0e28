#!/usr/bin/env python3
"""stream_reader.py - an independent reader of the dm tensor stream.

Written from man/man5/dm-stream.5 alone (not from lib/io/stream.c), to prove
that the page is a sufficient specification.  Python 3 standard library
only.

    stream_reader.py [FILE]            list metadata, frames and tensors
    stream_reader.py --raw NAME [FILE] write the decoded bytes of tensor NAME
                                       of every frame, concatenated, to stdout
    stream_reader.py --sum NAME [FILE] print element count and sum (as f64) of
                                       tensor NAME over all frames

FILE defaults to stdin.  On a malformed stream prints one line
"stream_reader.py: NAME: byte N: what" on stderr and exits 1.
"""
import hashlib
import struct
import sys
import zlib

MAGIC = b"\x89DMS\r\n\x1a\n"
MAX_KV = 1048576
MAX_TENSORS = 4096
MAX_RANK = 8
MAX_DIM = 1 << 40
MAX_BYTES = 1 << 34
# code: (name, element size, struct format or None)
DTYPES = {
    1: ("f32", 4, "f"), 2: ("f64", 8, "d"), 3: ("f16", 2, "e"),
    4: ("bf16", 2, None), 5: ("u8", 1, "B"), 6: ("i8", 1, "b"),
    7: ("i32", 4, "i"), 8: ("i64", 8, "q"),
}
KEY_CHARS = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


class StreamError(Exception):
    pass


class Reader:
    def __init__(self, f, name):
        self.f = f
        self.name = name
        self.off = 0          # bytes consumed from the input
        self.crc = 0          # running CRC-32 of the current record
        self.meta = None
        self.frames = 0       # frames since the current header

    def fail(self, off, msg):
        raise StreamError("%s: byte %d: %s" % (self.name, off, msg))

    def read(self, n, eof_ok=False):
        """Exactly n bytes (in pieces, so a lying size costs only what is
        present); None on a clean EOF before the first byte if eof_ok."""
        parts, got = [], 0
        while got < n:
            b = self.f.read(min(n - got, 1 << 24))
            if not b:
                break
            parts.append(b)
            got += len(b)
        data = b"".join(parts)
        if len(data) < n:
            if not data and eof_ok:
                return None
            self.fail(self.off + len(data), "stream truncated")
        self.crc = zlib.crc32(data, self.crc)
        self.off += n
        return data

    def u(self, fmt, n):
        return struct.unpack("<" + fmt, self.read(n))[0]

    def check_crc(self, what):
        want = self.crc
        at = self.off
        got = self.u("I", 4)
        if got != want:
            self.fail(at, "%s CRC mismatch (stored %08x, computed %08x)" % (what, got, want))

    def kv(self, data, at):
        out = {}
        i = 0
        while i < len(data):
            if len(out) >= 4096:
                self.fail(at, "more than 4096 keys")
            nl = data.find(b"\n", i)
            if nl < 0:
                self.fail(at, "key=value line without its newline")
            line = data[i:nl]
            eq = line.find(b"=")
            if eq < 0:
                self.fail(at, "key=value line without '='")
            key, val = line[:eq], line[eq + 1:]
            if not 1 <= len(key) <= 64 or any(c not in KEY_CHARS for c in key):
                self.fail(at, "bad key %r" % key)
            if b"\0" in val:
                self.fail(at, "NUL in a value")
            out[key.decode()] = val.decode("utf-8", "replace")
            i = nl + 1
        return out

    def header(self, eof_ok, after_end=False):
        start = self.off
        if after_end:
            magic = self.f.read(8)
            if not magic:
                return False
            if magic != MAGIC:
                self.fail(start, "%d stray bytes after the end record" % len(magic)
                          if len(magic) < 8 else "stray bytes after the end record (bad magic)")
            self.off += 8
        else:
            magic = self.read(8, eof_ok)
            if magic is None:
                return False
        if magic != MAGIC:
            self.fail(start, "bad magic")
        self.crc = 0
        major = self.u("H", 2)
        minor = self.u("H", 2)
        if major != 1:
            self.fail(start + 8, "unsupported version %d.%d" % (major, minor))
        mlen = self.u("I", 4)
        if mlen > MAX_KV:
            self.fail(start + 12, "metadata length %d over the limit" % mlen)
        meta = self.kv(self.read(mlen), start + 16)
        self.check_crc("header")
        if self.meta is None:
            self.meta = meta
        self.frames = 0
        return True

    def tensor(self):
        start = self.off
        nlen = self.u("B", 1)
        if nlen == 0:
            self.fail(start, "empty tensor name")
        raw = self.read(nlen)
        if any(c < 0x20 or c == 0x7F for c in raw):
            self.fail(start + 1, "control character in a tensor name")
        name = raw.decode("utf-8", "replace")
        foff = self.off
        dtype, rank, comp, reserved = struct.unpack("<BBBB", self.read(4))
        if dtype not in DTYPES:
            self.fail(foff, "unknown dtype code %d" % dtype)
        if rank > MAX_RANK:
            self.fail(foff + 1, "rank %d over the limit" % rank)
        if comp > 1:
            self.fail(foff + 2, "unknown compression code %d" % comp)
        if reserved != 0:
            self.fail(foff + 3, "reserved byte is %d" % reserved)
        dims = []
        for i in range(rank):
            at = self.off
            d = self.u("Q", 8)
            if d > MAX_DIM:
                self.fail(at, "dimension %d is %d" % (i, d))
            dims.append(d)
        size = DTYPES[dtype][1]
        n = 0 if 0 in dims else 1
        for d in dims:
            if n == 0:
                break
            n *= d
            if n * size > MAX_BYTES:
                self.fail(foff, "tensor larger than 16 GiB")
        nbytes = n * size
        if nbytes > MAX_BYTES:
            self.fail(foff, "tensor larger than 16 GiB")
        at = self.off
        stored = self.u("Q", 8)
        if comp == 0 and stored != nbytes:
            self.fail(at, "stored length %d, shape needs %d" % (stored, nbytes))
        if comp == 1 and (stored > nbytes + nbytes // 500 + 64 or nbytes // 1032 > stored):
            self.fail(at, "compressed length %d impossible for %d bytes" % (stored, nbytes))
        poff = self.off
        payload = self.read(stored)
        if comp == 1:
            try:
                d = zlib.decompressobj()
                data = d.decompress(payload, nbytes + 1)
                ok = d.eof and len(data) == nbytes and not d.unused_data
            except zlib.error:
                ok = False
            if not ok:
                self.fail(poff, "zlib payload does not inflate to %d bytes" % nbytes)
            payload = data
        return name, DTYPES[dtype][0], tuple(dims), comp, payload, start

    def next(self):
        """The next frame as (tags, [tensors]), or None at a clean end."""
        while True:
            start = self.off
            self.crc = 0
            typ = self.read(4, eof_ok=True)
            if typ is None:
                self.fail(start, "stream truncated: no end record")
            if typ == b"DEND":
                count = self.u("Q", 8)
                self.check_crc("end record")
                if count != self.frames:
                    self.fail(start + 4, "end record counts %d frames, read %d" % (count, self.frames))
                if not self.header(eof_ok=True, after_end=True):
                    return None
                continue
            if typ != b"FRAM":
                self.fail(start, "unknown record type %r" % typ)
            tlen = self.u("I", 4)
            if tlen > MAX_KV:
                self.fail(start + 4, "tags length %d over the limit" % tlen)
            nt = self.u("I", 4)
            if nt > MAX_TENSORS:
                self.fail(start + 8, "%d tensors over the limit" % nt)
            tags = self.kv(self.read(tlen), start + 12)
            tensors, names = [], set()
            for _ in range(nt):
                t = self.tensor()
                if t[0] in names:
                    self.fail(t[5], "tensor %r appears twice" % t[0])
                names.add(t[0])
                tensors.append(t)
            self.check_crc("frame")
            self.frames += 1
            return tags, tensors


def values(dtype, data):
    """Decoded elements as Python numbers."""
    if dtype == "bf16":
        n = len(data) // 2
        return [struct.unpack("<f", struct.pack("<I", h << 16))[0]
                for h in struct.unpack("<%dH" % n, data)]
    fmt = [v for v in DTYPES.values() if v[0] == dtype][0]
    n = len(data) // fmt[1]
    return struct.unpack("<%d%s" % (n, fmt[2]), data)


def main(argv):
    mode, want, path = "list", None, "-"
    args = argv[1:]
    while args:
        a = args.pop(0)
        if a in ("--raw", "--sum"):
            mode, want = a[2:], args.pop(0)
        elif a in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        else:
            path = a
    f = sys.stdin.buffer if path == "-" else open(path, "rb")
    r = Reader(f, "stdin" if path == "-" else path)
    out = sys.stdout
    count, total, nframes = 0, 0.0, 0
    try:
        if not r.header(eof_ok=True):
            raise StreamError("%s: empty input" % r.name)
        if mode == "list":
            for k, v in r.meta.items():
                out.write("meta %s=%s\n" % (k, v))
        while True:
            fr = r.next()
            if fr is None:
                break
            tags, tensors = fr
            if mode == "list":
                out.write("frame %d: %s\n" % (nframes, " ".join("%s=%s" % kv for kv in tags.items())))
            for name, dtype, dims, comp, data, _ in tensors:
                if mode == "list":
                    out.write("  %s %s %s%s sha256=%s\n" % (
                        name, dtype, "x".join(map(str, dims)) or "scalar",
                        " zlib" if comp else "", hashlib.sha256(data).hexdigest()[:16]))
                elif name == want and mode == "raw":
                    sys.stdout.buffer.write(data)
                elif name == want:
                    vals = values(dtype, data)
                    count += len(vals)
                    total += sum(float(v) for v in vals)
            nframes += 1
    except StreamError as e:
        sys.stdout.flush()
        sys.stderr.write("stream_reader.py: %s\n" % e)
        return 1
    if mode == "list":
        out.write("total: %d frames\n" % nframes)
    elif mode == "sum":
        out.write("%s: %d elements, sum %.6f\n" % (want, count, total))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
