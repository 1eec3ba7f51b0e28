#!/usr/bin/env python3
"""safetensors_check.py - the safetensors side of dm-weights, written from
the safetensors specification (github.com/huggingface/safetensors, "Format":
u64 little-endian header size N, N bytes of JSON, the byte buffer), with
numpy and json only, and the PyTorch twin (models.py).

  safetensors_check.py read FILE           check FILE against the spec, list
                                           its tensors and metadata
  safetensors_check.py twin REF OUT SEED   a freshly initialised twin of the
                                           model described by REF's metadata
                                           (torch.manual_seed(SEED)), its
                                           state_dict written to OUT
  safetensors_check.py compare FILE DUMP   load FILE into the twin
                                           (load_state_dict, strict), run it
                                           on the batch of DUMP (dm-train
                                           --dump-grads) and compare with
                                           dm's output there
"""
import json, os, struct, sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

DTYPES = {'F32': np.float32, 'F16': np.float16, 'F64': np.float64, 'I64': np.int64,
          'I32': np.int32, 'I8': np.int8, 'U8': np.uint8}
RTOL, ATOL = 1e-4, 1e-6


def read(path):
    b = open(path, 'rb').read()
    n, = struct.unpack('<Q', b[:8])
    assert 8 + n <= len(b), 'header size %d beyond the file' % n
    head = json.loads(b[8:8 + n].decode('utf-8'))
    buf = b[8 + n:]
    meta = head.pop('__metadata__', {})
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())
    out, spans = {}, []
    for name, e in head.items():
        assert set(e) == {'dtype', 'shape', 'data_offsets'}, name
        dt = np.dtype(DTYPES[e['dtype']]).newbyteorder('<')
        a, z = e['data_offsets']
        count = int(np.prod(e['shape'])) if e['shape'] else 1
        assert z - a == count * dt.itemsize, '%s: offsets %d..%d for %d values' % (name, a, z, count)
        out[name] = np.frombuffer(buf[a:z], dtype=dt).reshape(e['shape'])
        spans.append((a, z))
    spans.sort()
    at = 0
    for a, z in spans:  # the buffer is covered exactly: no holes, no overlaps
        assert a == at, 'hole or overlap at byte %d' % at
        at = z
    assert at == len(buf), 'buffer %d bytes, tensors %d' % (len(buf), at)
    return meta, out


def write(path, meta, tensors):
    head, off, parts = {'__metadata__': meta}, 0, []
    for name, a in tensors.items():
        a = np.ascontiguousarray(a, dtype='<f4')
        head[name] = {'dtype': 'F32', 'shape': list(a.shape), 'data_offsets': [off, off + a.nbytes]}
        off += a.nbytes
        parts.append(a.tobytes())
    h = json.dumps(head).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(parts))


def main(argv):
    mode = argv[1]
    if mode == 'read':
        meta, ts = read(argv[2])
        print('metadata model=%s weights=%s' % (meta.get('model'), meta.get('weights')))
        for k, a in ts.items():
            print('%s %s %s %.9g' % (k, a.dtype, 'x'.join(map(str, a.shape)), float(np.abs(a).sum())))
        return 0
    import torch
    from models import from_config
    torch.set_num_threads(1)
    if mode == 'twin':
        meta, _ = read(argv[2])
        torch.manual_seed(int(argv[4]))
        m = from_config(meta)
        keep = {k: v for k, v in meta.items() if k != 'weights'}
        write(argv[3], keep, {k: v.detach().numpy() for k, v in m.state_dict().items()})
        return 0
    from dmstream import read_stream
    meta, ts = read(argv[2])
    model = from_config(meta)
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ts.items()}, strict=True)
    with open(argv[3], 'rb') as f:
        _, frames = read_stream(f)
    d = frames[0][1]
    T = lambda n: torch.tensor(d[n][2], dtype=torch.float32).reshape(d[n][1])
    B = d['x'][1][0]
    shape = [B] + ([int(meta['dim'])] if meta['model'] == 'mlp'
                   else [int(meta['in_ch']), int(meta['H']), int(meta['W'])])
    label = torch.tensor(d['label'][2], dtype=torch.long) if 'label' in d else None
    model.train()  # as the dump's forward ran (dropout 0 in these tests)
    with torch.no_grad():
        out = model(T('x').reshape(shape), T('t'), label)
    dm = T('out').reshape(shape)
    err = (dm - out).abs().max().item()
    tol = RTOL * out.abs().max().item() + ATOL
    print('%s %s: %d tensors, max |dm - torch| %.3g, tolerance %.3g'
          % ('ok' if err <= tol else 'FAIL', meta['model'], len(ts), err, tol))
    return 0 if err <= tol else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
