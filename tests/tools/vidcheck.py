#!/usr/bin/env python3
"""vidcheck.py FILE - read a GIF, Y4M, MP4 or WebM container independently
of libav and print "FORMAT W H FRAMES [extra]":
  GIF: frames = image descriptors; extra = loop=N from the NETSCAPE block
       (absent: play once) and delay=CS of the first frame
  Y4M: frames = FRAME records (sizes checked)
  MP4: W H from tkhd; frames = sample count in stsz; extra = codec (avc1/mp4v)
  WebM: checks the EBML header and DocType; W H from PixelWidth/PixelHeight;
        frames = SimpleBlocks"""
import struct, sys

def gif(d):
    assert d[:6] in (b'GIF87a', b'GIF89a'), 'not a GIF'
    w, h, flags = struct.unpack('<HHB', d[6:11])
    i = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames, loop, delay = 0, None, None
    while i < len(d):
        b = d[i]
        if b == 0x3B: break
        if b == 0x21:
            label = d[i + 1]; i += 2
            if label == 0xF9 and delay is None: delay = struct.unpack('<H', d[i + 2:i + 4])[0]
            if label == 0xFF and d[i + 1:i + 12] == b'NETSCAPE2.0':
                loop = struct.unpack('<H', d[i + 14:i + 16])[0]
            while d[i]: i += d[i] + 1
            i += 1
        elif b == 0x2C:
            frames += 1
            fl = d[i + 9]; i += 10
            if fl & 0x80: i += 3 << ((fl & 7) + 1)
            i += 1
            while d[i]: i += d[i] + 1
            i += 1
        else: raise SystemExit('bad GIF block 0x%02x at %d' % (b, i))
    return 'gif %d %d %d loop=%s delay=%s' % (w, h, frames, loop, delay)

def y4m(d):
    nl = d.index(b'\n')
    hdr = d[:nl].split()
    w = int([t for t in hdr if t.startswith(b'W')][0][1:]); h = int([t for t in hdr if t.startswith(b'H')][0][1:])
    cs = [t for t in hdr if t.startswith(b'C')]
    per = w * h * (1 if cs and cs[0] == b'Cmono' else 3)
    i, frames = nl + 1, 0
    while i < len(d):
        assert d[i:i + 6] == b'FRAME\n', 'bad FRAME at %d' % i
        i += 6 + per; frames += 1
    assert i == len(d), 'trailing bytes'
    return 'y4m %d %d %d' % (w, h, frames)

def boxes(d, i, end):
    while i < end:
        n, t = struct.unpack('>I4s', d[i:i + 8])
        if n == 1: n = struct.unpack('>Q', d[i + 8:i + 16])[0]
        if n == 0: n = end - i
        yield t, i, n
        i += n

def mp4(d):
    w = h = frames = 0; codec = '?'
    def walk(i, end):
        nonlocal w, h, frames, codec
        for t, s, n in boxes(d, i, end):
            if t in (b'moov', b'trak', b'mdia', b'minf', b'stbl', b'moof', b'traf'): walk(s + 8, s + n)
            elif t == b'tkhd': w, h = d[s + n - 8:s + n - 6], d[s + n - 4:s + n - 2]; w, h = struct.unpack('>H', w)[0], struct.unpack('>H', h)[0]
            elif t == b'stsd': codec = d[s + 20:s + 24].decode()
            elif t == b'stsz': frames += struct.unpack('>I', d[s + 16:s + 20])[0]
            elif t == b'trun': frames += struct.unpack('>I', d[s + 12:s + 16])[0]
    walk(0, len(d))
    return 'mp4 %d %d %d %s' % (w, h, frames, codec)

def webm(d):
    assert d[:4] == b'\x1a\x45\xdf\xa3', 'not EBML'
    assert b'\x42\x82\x84webm' in d[:64], 'DocType is not webm'
    def vint(i):
        b = d[i]; n = 1
        while not b & (0x80 >> (n - 1)): n += 1
        v = b & (0xFF >> n)
        for k in range(1, n): v = v << 8 | d[i + k]
        return v, n, (v == (1 << (7 * n)) - 1)
    def eid(i):
        b = d[i]; n = 1
        while not b & (0x80 >> (n - 1)): n += 1
        return int.from_bytes(d[i:i + n], 'big'), n
    w = h = frames = 0
    MASTER = {0x18538067, 0x1654AE6B, 0xAE, 0xE0, 0x1F43B675, 0xA0}
    def walk(i, end):
        nonlocal w, h, frames
        while i < end:
            e, n = eid(i); size, m, unknown = vint(i + n); body = i + n + m
            if unknown: size = end - body
            if e in MASTER: walk(body, body + size)
            elif e == 0xB0: w = int.from_bytes(d[body:body + size], 'big')
            elif e == 0xBA: h = int.from_bytes(d[body:body + size], 'big')
            elif e == 0xA3: frames += 1
            i = body + size
    e, n = eid(0); size, m, _ = vint(n)
    walk(n + m + size, len(d))
    return 'webm %d %d %d' % (w, h, frames)

d = open(sys.argv[1], 'rb').read()
if d[:3] == b'GIF': print(gif(d))
elif d[:9] == b'YUV4MPEG2': print(y4m(d))
elif d[4:8] == b'ftyp': print(mp4(d))
elif d[:4] == b'\x1a\x45\xdf\xa3': print(webm(d))
else: raise SystemExit('unknown container')
