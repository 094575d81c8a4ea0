#!/usr/bin/python3
"""Reference timings for bench-coldstart.sh on the same data (raw float32 files):
scikit-learn KMeans (n_init as given, Lloyd, k-means++) and numpy cosine/softmax.

usage: coldstart_ref.py kmeans X.f32 DIM K N_INIT
       coldstart_ref.py zeroshot X.f32 CLASSES.f32 DIM SCALE
Prints one line of key=value pairs."""
import sys, time
import numpy as np


def load(path, dim):
    return np.fromfile(path, dtype=np.float32).reshape(-1, dim)


def kmeans(path, dim, k, n_init):
    from sklearn.cluster import KMeans
    X = load(path, dim)
    t = time.perf_counter()
    km = KMeans(n_clusters=k, n_init=n_init, init='k-means++', algorithm='lloyd', random_state=0).fit(X)
    fit = time.perf_counter() - t
    c = km.cluster_centers_.astype(np.float64)
    exact = float(((X.astype(np.float64) - c[km.labels_]) ** 2).sum())
    print('fit_s=%.3f inertia=%.10g iters=%d' % (fit, exact, km.n_iter_))


def zeroshot(path, cpath, dim, scale):
    X = load(path, dim)
    C = load(cpath, dim)
    C = C / np.linalg.norm(C, axis=1, keepdims=True)
    t = time.perf_counter()
    L = scale * (X @ C.T)
    L -= L.max(axis=1, keepdims=True)
    P = np.exp(L)
    P /= P.sum(axis=1, keepdims=True)
    best = P.argmax(axis=1)
    dt = time.perf_counter() - t
    print('compute_s=%.3f rows=%d top0=%d' % (dt, len(P), int(best[0])))


if __name__ == '__main__':
    if sys.argv[1] == 'kmeans':
        kmeans(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        zeroshot(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
