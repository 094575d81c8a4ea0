#!/usr/bin/python3
"""learn_data.py — datasets with known labels for clipsort's learning tools, written
as a clipsort embedding stream (clipsort-embeddings(5)) plus a truth TSV (key, class).

  learn_data.py synth OUT.emb TRUTH.tsv [--n N] [--dim D] [--classes K] [--spread S]
                [--seed S] [--texts NOISE] [--model NAME]
      Overlapping clusters of L2-normalised vectors: each class is a mixture of
      2 sub-clusters around random unit centres; spread sets the overlap.
      --texts writes one prompt vector per class: the class mean plus noise (a weak
      zero-shot signal, like a real CLIP prompt).
  learn_data.py digits OUT.emb TRUTH.tsv [--seed S]
      scikit-learn's bundled handwritten digits (1797 x 64, no download), centred
      and L2-normalised.
  learn_data.py npy OUT.emb TRUTH.tsv X.npy Y.npy
      Any matrix and label vector.
Also used by tests/t-train.sh etc. to make embeddings without a neural network.
"""
import argparse
import hashlib
import struct
import sys

import numpy as np


def key_bytes(name):
    return hashlib.sha256(name.encode()).digest()


def put_str(f, s):
    b = s.encode()
    f.write(struct.pack('<I', len(b)))
    f.write(b)


def write_stream(path, X, names, model='synthetic', texts=()):
    X = np.asarray(X, dtype='<f4')
    n, d = X.shape
    with open(path, 'wb') as f:
        f.write(b'CLIPSEMB')
        f.write(struct.pack('<II', 1, d))
        put_str(f, model)
        put_str(f, 'fp-' + model)
        put_str(f, 'none')
        f.write(struct.pack('<ddB', 100.0, 0.0, 0))
        for cls, prompt, v in texts:
            f.write(b'T')
            put_str(f, cls)
            put_str(f, prompt)
            f.write(np.asarray(v, dtype='<f4').tobytes())
        for i in range(n):
            f.write(b'I')
            f.write(key_bytes(names[i]))
            put_str(f, names[i])
            f.write(X[i].tobytes())
        f.write(b'E')
        f.write(struct.pack('<QQ', len(texts), n))
        f.write(b'CLIPSEND')


def normalise(X):
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def write_truth(path, names, y, classes):
    with open(path, 'w') as f:
        f.write('key\tpath\tclass\n')
        for nm, c in zip(names, y):
            f.write('%s\t%s\t%s\n' % (hashlib.sha256(nm.encode()).hexdigest(), nm, classes[c]))


def synth_arrays(n, d, k, spread, seed):
    """Overlapping clusters: k classes of 2 sub-clusters around unit centres that share
    a common direction; returns (X normalised float32, y)."""
    rng = np.random.default_rng(seed)
    centres = normalise(rng.normal(size=(k * 2, d)))
    common = normalise(rng.normal(size=(1, d)))
    centres = normalise(centres + 1.5 * common).reshape(k, 2, d)
    y = rng.integers(0, k, size=n)
    sub = rng.integers(0, 2, size=n)
    X = centres[y, sub] + spread * rng.normal(size=(n, d)) / np.sqrt(d)
    return normalise(X).astype(np.float32), y


def digits_arrays():
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    X = X - X.mean(axis=0)
    return normalise(X + 1e-9).astype(np.float32), y


def synth(a):
    rng = np.random.default_rng(a.seed + 1000)
    k, d = a.classes, a.dim
    X, y = synth_arrays(a.n, d, k, a.spread, a.seed)
    classes = ['c%d' % i for i in range(k)]
    names = ['img/%06d.jpg' % i for i in range(a.n)]
    texts = []
    if a.texts is not None:
        for c in range(k):
            m = normalise(X[y == c].mean(axis=0, keepdims=True))[0]
            v = normalise((m + a.texts * rng.normal(size=d) / np.sqrt(d))[None])[0]
            texts.append((classes[c], 'a photo of ' + classes[c], v))
    write_stream(a.out, X, names, a.model, texts)
    write_truth(a.truth, names, y, classes)


def digits(a):
    X, y = digits_arrays()
    names = ['digits/%04d.png' % i for i in range(len(y))]
    write_stream(a.out, X, names, 'digits')
    write_truth(a.truth, names, y, ['d%d' % i for i in range(10)])


def npy(a):
    X = np.load(a.x)
    y = np.load(a.y)
    names = ['img/%06d.jpg' % i for i in range(len(y))]
    write_stream(a.out, X, names, a.model)
    write_truth(a.truth, names, y, ['c%d' % i for i in range(int(y.max()) + 1)])


def main():
    p = argparse.ArgumentParser()
    sp = p.add_subparsers(dest='cmd', required=True)
    s = sp.add_parser('synth')
    s.add_argument('out')
    s.add_argument('truth')
    s.add_argument('--n', type=int, default=2000)
    s.add_argument('--dim', type=int, default=64)
    s.add_argument('--classes', type=int, default=2)
    s.add_argument('--spread', type=float, default=1.0)
    s.add_argument('--seed', type=int, default=1)
    s.add_argument('--texts', type=float, default=None)
    s.add_argument('--model', default='synthetic')
    s = sp.add_parser('digits')
    s.add_argument('out')
    s.add_argument('truth')
    s.add_argument('--seed', type=int, default=1)
    s = sp.add_parser('npy')
    s.add_argument('out')
    s.add_argument('truth')
    s.add_argument('x')
    s.add_argument('y')
    s.add_argument('--model', default='synthetic')
    a = p.parse_args()
    {'synth': synth, 'digits': digits, 'npy': npy}[a.cmd](a)


if __name__ == '__main__':
    sys.exit(main())
