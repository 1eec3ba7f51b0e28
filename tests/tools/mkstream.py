#!/usr/bin/env python3
"""mkstream.py - write a small dm tensor stream to stdout, independently of
libdm (an independent writer of the format in dm-stream(5)), for the shell
tests of the tools.

  mkstream.py [--frames F] [--shape 4x1x8x8] [--dtype f32|u8|i32|f16]
              [--meta k=v]... [--name x] [--extra] [--no-end] [--t0 K]

Element i of frame f holds byte b = (i*7 + f*13) % 256, stored as
b/255*2-1 for float dtypes (exactly what an 8-bit PNG loads as) and as b
for integer dtypes.  Frame f has tags t=F-1-f+K (K from --t0, default 0)
and step=f.  --extra adds an
i32 tensor 'label' of shape N.  --no-end leaves out the end record
(a truncated stream).
"""
import os, struct, sys, zlib

MAGIC = b'\x89DMS\r\n\x1a\n'
CODES = {'f32': (1, 'f'), 'f16': (3, 'e'), 'u8': (5, 'B'), 'i32': (7, 'i')}

def kv(pairs):
    return b''.join(b'%s=%s\n' % (k.encode(), v.encode()) for k, v in pairs)

def tensor(name, dtype, dims, data):
    code, fmt = CODES[dtype]
    payload = struct.pack('<%d%s' % (len(data), fmt), *data)
    out = bytes([len(name)]) + name.encode() + bytes([code, len(dims), 0, 0])
    out += b''.join(struct.pack('<Q', d) for d in dims)
    return out + struct.pack('<Q', len(payload)) + payload

def main(argv):
    frames, shape, dtype, meta, name, extra, end = 2, [4, 1, 8, 8], 'f32', [], 'x', False, True
    t0 = 0
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == '--frames': frames = int(argv[i + 1]); i += 1
        elif a == '--shape': shape = [int(d) for d in argv[i + 1].split('x')]; i += 1
        elif a == '--dtype': dtype = argv[i + 1]; i += 1
        elif a == '--meta': meta.append(tuple(argv[i + 1].split('=', 1))); i += 1
        elif a == '--name': name = argv[i + 1]; i += 1
        elif a == '--extra': extra = True
        elif a == '--t0': t0 = int(argv[i + 1]); i += 1
        elif a == '--no-end': end = False
        else: sys.exit('mkstream.py: unknown argument ' + a)
        i += 1
    out = sys.stdout.buffer
    m = kv(meta)
    body = struct.pack('<HHI', 1, 0, len(m)) + m
    out.write(MAGIC + body + struct.pack('<I', zlib.crc32(body)))
    numel = 1
    for d in shape: numel *= d
    for f in range(frames):
        b = [(i * 7 + f * 13) % 256 for i in range(numel)]
        data = [v / 255 * 2 - 1 for v in b] if dtype in ('f32', 'f16') else b
        tags = kv([('t', str(frames - 1 - f + t0)), ('step', str(f))])
        ts = [tensor(name, dtype, shape, data)]
        if extra:
            ts.append(tensor('label', 'i32', shape[:1], [k % 10 for k in range(shape[0])]))
        rec = struct.pack('<III', 0x4D415246, len(tags), len(ts)) + tags + b''.join(ts)
        out.write(rec + struct.pack('<I', zlib.crc32(rec)))
    if end:
        rec = struct.pack('<IQ', 0x444E4544, frames)
        out.write(rec + struct.pack('<I', zlib.crc32(rec)))

try:
    main(sys.argv[1:])
    sys.stdout.flush()
except BrokenPipeError:  # the reader stopped early: that is its business
    os._exit(0)
