#!/usr/bin/python3
"""learn_sklearn.py — the scikit-learn side of bench-learn.sh, on the same data.

  learn_sklearn.py train STREAM LABELS.tsv [OURS.tsv]
                                                time LogisticRegression(C=1) and
                                                LogisticRegressionCV (5-fold, 5 Cs); with
                                                OURS (clipsort-predict -i of the -O model),
                                                the share of equal predictions
  learn_sklearn.py predict STREAM LABELS.tsv    time predict_proba on every row, alone
                                                and with loading + writing a TSV
Prints "name<TAB>seconds" lines.
"""
import csv
import struct
import sys
import time

import numpy as np


def read_stream(path):
    b = open(path, 'rb').read()
    o = 8
    ver, d = struct.unpack_from('<II', b, o)
    o += 8
    for _ in range(3):
        (n,) = struct.unpack_from('<I', b, o)
        o += 4 + n
    o += 17
    while b[o:o + 1] == b'T':
        o += 1
        for _ in range(2):
            (n,) = struct.unpack_from('<I', b, o)
            o += 4 + n
        o += 4 * d
    keys, locs, rows = [], [], []
    while b[o:o + 1] == b'I':
        o += 1
        keys.append(b[o:o + 32].hex())
        o += 32
        (n,) = struct.unpack_from('<I', b, o)
        locs.append(b[o + 4:o + 4 + n].decode())
        o += 4 + n
        rows.append(o)
        o += 4 * d
    X = np.empty((len(rows), d), np.float32)
    for i, r in enumerate(rows):
        X[i] = np.frombuffer(b, '<f4', d, r)
    return keys, locs, X


def labelled(keys, X, path):
    lab = {}
    with open(path) as f:
        for r in csv.DictReader(f, delimiter='\t'):
            lab[r['key']] = r['class']
    idx = [i for i, k in enumerate(keys) if k in lab]
    return X[idx], np.array([lab[keys[i]] for i in idx])


def main():
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    cmd, stream, labels = sys.argv[1:4]
    keys, locs, X = read_stream(stream)
    Xl, yl = labelled(keys, X, labels)
    if cmd == 'train':
        t, c = time.perf_counter(), time.process_time()
        clf = LogisticRegression(C=1.0, max_iter=1000).fit(Xl, yl)
        print('sklearn LogisticRegression(C=1) fit\t%.2f (%.2f)' % (time.perf_counter() - t, time.process_time() - c))
        if len(sys.argv) > 4:   # clipsort-predict -i output of the -O model
            with open(sys.argv[4]) as f:
                ours = [r['class'] for r in csv.DictReader(f, delimiter='\t')]
            print('agreement of clipsort -O with it\t%.5f' % np.mean(np.array(ours) == clf.predict(X)))
        t, c = time.perf_counter(), time.process_time()
        LogisticRegressionCV(Cs=[0.1, 1, 10, 100, 1000], cv=5, max_iter=1000).fit(Xl, yl)
        print('sklearn LogisticRegressionCV(5 Cs, 5-fold) fit\t%.2f (%.2f)' % (time.perf_counter() - t, time.process_time() - c))
    else:
        clf = LogisticRegression(C=1.0, max_iter=1000).fit(Xl, yl)
        best = (1e9, 0)
        for _ in range(5):
            t, c = time.perf_counter(), time.process_time()
            clf.predict_proba(X)
            best = min(best, (time.perf_counter() - t, time.process_time() - c))
        print('sklearn predict_proba, %d rows in memory (best of 5)\t%.3f (%.3f)' % (len(X), best[0], best[1]))
        t, c = time.perf_counter(), time.process_time()
        _, _, X2 = read_stream(stream)
        P = clf.predict_proba(X2)
        with open('/dev/null', 'w') as f:
            f.write('key\tpath\t' + '\t'.join('p_' + c for c in clf.classes_) + '\n')
            for k, l, p in zip(keys, locs, P):
                f.write('%s\t%s\t%s\n' % (k, l, '\t'.join(repr(float(v)) for v in p)))
        print('sklearn read stream + predict_proba + write TSV\t%.2f (%.2f)' % (time.perf_counter() - t, time.process_time() - c))


if __name__ == '__main__':
    main()
