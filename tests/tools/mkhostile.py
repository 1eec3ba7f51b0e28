#!/usr/bin/env python3
"""mkhostile.py - small files that lie about their size, for the shell
tests: each claims far more than it holds, so a reader that believes the
header allocates gigabytes.

  mkhostile.py png W H OUT        an 8-bit gray PNG whose IHDR says WxH (one
                                  row of data)
  mkhostile.py idx N H W OUT      an IDX u8 header claiming N x H x W and
                                  N*H*W bytes of data present (so only 0 dims
                                  or the limit stop it)
  mkhostile.py zstream BYTES OUT  a dm stream whose one u8 tensor claims
                                  BYTES decoded from a zlib payload of
                                  BYTES/1000 bytes of which only 100 are present
"""
import struct, sys, zlib


def chunk(t, data):
    return struct.pack('>I', len(data)) + t + data + struct.pack('>I', zlib.crc32(t + data))


def png(w, h, out):
    ihdr = struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0)
    idat = zlib.compress(b'\0' * (1 + min(w, 1 << 16)))
    with open(out, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', idat) +
                chunk(b'IEND', b''))


def idx(n, h, w, out):
    with open(out, 'wb') as f:
        f.write(bytes([0, 0, 8, 3]) + struct.pack('>III', n, h, w) + bytes(n * h * w))


def zstream(nbytes, out):
    m = b'tool=mkhostile\n'
    body = struct.pack('<HHI', 1, 0, len(m)) + m
    head = b'\x89DMS\r\n\x1a\n' + body + struct.pack('<I', zlib.crc32(body))
    t = b'\x01x' + bytes([5, 1, 1, 0]) + struct.pack('<Q', nbytes) + struct.pack('<Q', nbytes // 1000)
    rec = struct.pack('<III', 0x4D415246, 0, 1) + t + bytes(100)
    with open(out, 'wb') as f:
        f.write(head + rec)


if __name__ == '__main__':
    k, a = sys.argv[1], sys.argv[2:]
    if k == 'png':
        png(int(a[0]), int(a[1]), a[2])
    elif k == 'idx':
        idx(int(a[0]), int(a[1]), int(a[2]), a[3])
    elif k == 'zstream':
        zstream(int(a[0]), a[1])
    else:
        sys.exit('mkhostile.py: unknown kind ' + k)
