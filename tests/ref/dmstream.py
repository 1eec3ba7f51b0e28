"""dmstream.py - a minimal reader and writer of dm tensor streams (dm-stream(5))
for the reference tests, standard library only (numpy optional for callers).

  write_stream(f, meta, frames)   frames: list of (tags, [(name, dtype, dims, values)])
  read_stream(f) -> (meta, [(tags, {name: (dtype, dims, values)})])
dtype names: f32, f64, i32, i64.  values are flat Python lists.
"""
import struct, zlib

MAGIC = b'\x89DMS\r\n\x1a\n'
CODES = {'f32': (1, 'f'), 'f64': (2, 'd'), 'u8': (5, 'B'), 'i32': (7, 'i'), 'i64': (8, 'q')}
NAMES = {v[0]: (k, v[1]) for k, v in CODES.items()}
FRAME, END = 0x4D415246, 0x444E4544


def _kv(pairs):
    return b''.join(b'%s=%s\n' % (k.encode(), str(v).encode()) for k, v in pairs)


def _parse_kv(b):
    out = []
    for line in b.decode().split('\n'):
        if line:
            k, v = line.split('=', 1)
            out.append((k, v))
    return dict(out)


def write_stream(f, meta, frames):
    m = _kv(meta)
    body = struct.pack('<HHI', 1, 0, len(m)) + m
    f.write(MAGIC + body + struct.pack('<I', zlib.crc32(body)))
    for tags, tensors in frames:
        t = _kv(tags)
        rec = struct.pack('<III', FRAME, len(t), len(tensors)) + t
        for name, dtype, dims, values in tensors:
            code, fmt = CODES[dtype]
            payload = struct.pack('<%d%s' % (len(values), fmt), *values)
            rec += bytes([len(name)]) + name.encode() + bytes([code, len(dims), 0, 0])
            rec += b''.join(struct.pack('<Q', d) for d in dims)
            rec += struct.pack('<Q', len(payload)) + payload
        f.write(rec + struct.pack('<I', zlib.crc32(rec)))
    rec = struct.pack('<IQ', END, len(frames))
    f.write(rec + struct.pack('<I', zlib.crc32(rec)))


def read_stream(f):
    data = f.read()
    assert data[:8] == MAGIC, 'not a dm stream'
    major, minor, n = struct.unpack_from('<HHI', data, 8)
    meta = _parse_kv(data[16:16 + n])
    pos = 16 + n + 4
    frames = []
    while True:
        (magic,) = struct.unpack_from('<I', data, pos)
        if magic == END:
            return meta, frames
        assert magic == FRAME, 'bad record at %d' % pos
        start = pos
        _, ntag, nt = struct.unpack_from('<III', data, pos)
        pos += 12
        tags = _parse_kv(data[pos:pos + ntag])
        pos += ntag
        tensors = {}
        for _ in range(nt):
            ln = data[pos]
            name = data[pos + 1:pos + 1 + ln].decode()
            pos += 1 + ln
            code, rank, comp = data[pos], data[pos + 1], data[pos + 2]
            pos += 4
            dims = list(struct.unpack_from('<%dQ' % rank, data, pos))
            pos += 8 * rank
            (plen,) = struct.unpack_from('<Q', data, pos)
            pos += 8
            payload = data[pos:pos + plen]
            pos += plen
            if comp:
                payload = zlib.decompress(payload)
            dt, fmt = NAMES[code]
            cnt = len(payload) // struct.calcsize(fmt)
            tensors[name] = (dt, dims, list(struct.unpack('<%d%s' % (cnt, fmt), payload)))
        (crc,) = struct.unpack_from('<I', data, pos)
        assert crc == zlib.crc32(data[start:pos]), 'CRC mismatch in frame %d' % len(frames)
        pos += 4
        frames.append((tags, tensors))
