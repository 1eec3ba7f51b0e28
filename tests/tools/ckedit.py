#!/usr/bin/env python3
"""ckedit.py - rewrite a dm stream (a checkpoint, usually) with one hostile
edit, for the shell tests: a stream that is valid as a stream but not as a
model.  Reads with stream_reader.py (the reader written from dm-stream(5))
and writes uncompressed tensors.

  ckedit.py IN OUT [--set KEY=VALUE]... [--nan KIND:TENSOR]
                   [--extra KIND] [--reshape KIND:TENSOR:DIMS] [--reshape   gives TENSOR of frame kind=KIND the shape DIMS (AxB..., same count)
--frames N]

--set       sets (or adds) a header key
--nan       makes element 0 of f32 TENSOR in the frame tagged kind=KIND NaN
--extra     adds an f32 tensor 'stray' of shape [1] to the frame kind=KIND
--frames N  keeps only the first N frames (the end record counts them)
"""
import os, struct, sys, zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stream_reader as sr

CODE = {v[0]: k for k, v in sr.DTYPES.items()}


def kv(d):
    return b''.join(b'%s=%s\n' % (k.encode(), v.encode()) for k, v in d.items())


def tensor(name, dtype, dims, data):
    out = bytes([len(name)]) + name.encode() + bytes([CODE[dtype], len(dims), 0, 0])
    out += b''.join(struct.pack('<Q', d) for d in dims)
    return out + struct.pack('<Q', len(data)) + data


def main(argv):
    src, dst, args = argv[1], argv[2], argv[3:]
    sets, nan, extra, keep, reshape = {}, None, None, None, None
    while args:
        a = args.pop(0)
        if a == '--set':
            k, v = args.pop(0).split('=', 1)
            sets[k] = v
        elif a == '--nan':
            nan = args.pop(0).split(':', 1)
        elif a == '--extra':
            extra = args.pop(0)
        elif a == '--reshape':
            reshape = args.pop(0).split(':', 2)
        elif a == '--frames':
            keep = int(args.pop(0))
        else:
            sys.exit('ckedit.py: unknown argument ' + a)
    r = sr.Reader(open(src, 'rb'), src)
    r.header(eof_ok=False)
    meta = dict(r.meta)
    meta.update(sets)
    m = kv(meta)
    body = struct.pack('<HHI', 1, 0, len(m)) + m
    out = [b'\x89DMS\r\n\x1a\n' + body + struct.pack('<I', zlib.crc32(body))]
    n = 0
    while True:
        fr = r.next()
        if fr is None or (keep is not None and n == keep):
            break
        tags, ts = fr
        parts = []
        for name, dtype, dims, comp, data, _ in ts:
            if nan and tags.get('kind') == nan[0] and name == nan[1]:
                data = struct.pack('<f', float('nan')) + data[4:]
            if reshape and tags.get('kind') == reshape[0] and name == reshape[1]:
                dims = tuple(int(d) for d in reshape[2].split('x'))
            parts.append(tensor(name, dtype, dims, data))
        if extra and tags.get('kind') == extra:
            parts.append(tensor('stray', 'f32', (1,), struct.pack('<f', 0.5)))
        t = kv(tags)
        rec = struct.pack('<III', 0x4D415246, len(t), len(parts)) + t + b''.join(parts)
        out.append(rec + struct.pack('<I', zlib.crc32(rec)))
        n += 1
    end = b'DEND' + struct.pack('<Q', n)
    out.append(end + struct.pack('<I', zlib.crc32(end)))
    with open(dst, 'wb') as f:
        f.write(b''.join(out))


if __name__ == '__main__':
    main(sys.argv)
