#!/usr/bin/env python3
"""pngcheck.py FILE [W H C] [--bytes EXPECTED.bin] - a minimal independent PNG
reader for the shell tests: checks the signature, CRCs, size and channel count,
un-filters the image and (with --bytes) compares its 8-bit samples with a raw
file.  Prints "W H C" on success; exit 1 with a message otherwise."""
import struct, sys, zlib

def read(path):
    d = open(path, 'rb').read()
    if d[:8] != b'\x89PNG\r\n\x1a\n':
        sys.exit('not a PNG')
    i, idat, ihdr = 8, b'', None
    while i < len(d):
        n, typ = struct.unpack('>I4s', d[i:i + 8])
        body = d[i + 8:i + 8 + n]
        if zlib.crc32(typ + body) != struct.unpack('>I', d[i + 8 + n:i + 12 + n])[0]:
            sys.exit('bad CRC in ' + typ.decode())
        if typ == b'IHDR': ihdr = struct.unpack('>IIBBBBB', body)
        elif typ == b'IDAT': idat += body
        i += 12 + n
    w, h, depth, ctype = ihdr[:4]
    c = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    if depth != 8: sys.exit('depth %d' % depth)
    raw, stride, out, prev = zlib.decompress(idat), w * c, bytearray(), bytearray(w * c)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - c] if x >= c else 0
            b, cc = prev[x], prev[x - c] if x >= c else 0
            if f == 1: line[x] = (line[x] + a) & 255
            elif f == 2: line[x] = (line[x] + b) & 255
            elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - cc; pa, pb, pc = abs(p - a), abs(p - b), abs(p - cc)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else cc)) & 255
        out += line; prev = line
    return w, h, c, bytes(out)

args = sys.argv[1:]
w, h, c, px = read(args[0])
if len(args) >= 4 and [w, h, c] != [int(v) for v in args[1:4]]:
    sys.exit('size %d %d %d, wanted %s' % (w, h, c, ' '.join(args[1:4])))
if '--bytes' in args:
    want = open(args[args.index('--bytes') + 1], 'rb').read()
    if want != px:
        sys.exit('pixels differ (%d vs %d bytes)' % (len(px), len(want)))
print(w, h, c)
