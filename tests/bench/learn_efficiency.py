#!/usr/bin/python3
"""learn_efficiency.py — label efficiency of clipsort's active learning, driving the
real tools (clipsort-labels, clipsort-train, clipsort-rank, clipsort-predict) with a
simulated labeller who knows the true classes.

For each dataset, strategy and seed: start from no labels, and at each step ask the
strategy for the next images, label them (clipsort-labels append), retrain
(clipsort-train, cross-validated C) and measure accuracy on a held-out test set
(clipsort-predict).  Strategies:
  random       clipsort-rank -s random
  uncertainty  10 random labels, then clipsort-rank -s margin (plain uncertainty)
  default      clipsort-rank's defaults: -s cold until a model can be trained, then
               the diverse batches (-s diverse, batch = the step)
Prints mean accuracy per label count, the full-data accuracy (all pool labels) and
the labels each strategy needs to reach 95% of it.

  learn_efficiency.py BIN [--seeds N] [--datasets synth,digits] [--work DIR]
"""
import argparse
import csv
import multiprocessing
import hashlib
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import learn_data  # noqa: E402

STEPS = [10, 20, 30, 40, 50, 70, 100, 150, 200, 300]
REPORT = [20, 50, 100, 200, 300]
STRATEGIES = ['random', 'uncertainty', 'default']


def run(args, **kw):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


class Dataset:
    def __init__(self, name, X, y, work, ntest, seed=0):
        rng = np.random.default_rng(seed)
        perm = rng.permutation(len(y))
        X, y = X[perm], y[perm]
        self.name = name
        self.classes = ['k%d' % c for c in range(int(y.max()) + 1)]
        names = ['%s/%05d.jpg' % (name, i) for i in range(len(y))]
        keys = [hashlib.sha256(n.encode()).hexdigest() for n in names]
        self.pool = os.path.join(work, name + '-pool.emb')
        self.test = os.path.join(work, name + '-test.emb')
        learn_data.write_stream(self.test, X[:ntest], names[:ntest], name)
        learn_data.write_stream(self.pool, X[ntest:], names[ntest:], name)
        self.truth = {k: self.classes[c] for k, c in zip(keys, y)}
        self.pool_keys = keys[ntest:]
        self.pool_paths = dict(zip(keys, names))
        self.test_keys = set(keys[:ntest])


def accuracy(bin_, model, ds):
    r = run([bin_ + '/clipsort-predict', '-i', '-m', model, ds.test])
    if r.returncode != 0:
        raise SystemExit('predict failed: ' + r.stderr)
    rows = list(csv.reader(r.stdout.splitlines()[1:], delimiter='\t'))
    return sum(ds.truth[row[0]] == row[2] for row in rows) / len(rows)


def append(bin_, labels, ds, keys):
    data = 'key\tpath\tclass\n' + ''.join('%s\t%s\t%s\n' % (k, ds.pool_paths[k], ds.truth[k]) for k in keys)
    r = run([bin_ + '/clipsort-labels', 'append', '-f', labels, '-u', 'sim'], input=data)
    if r.returncode != 0:
        raise SystemExit('append failed: ' + r.stderr)


def train(bin_, labels, model, ds, seed):
    r = run([bin_ + '/clipsort-train', '-q', '-S', str(seed), '-l', labels, '-o', model, ds.pool])
    return r.returncode in (0, 1)


def queue(bin_, args, summary):
    r = run([bin_ + '/clipsort-rank', '-o', summary] + args)
    if r.returncode != 0:
        raise SystemExit('rank failed: ' + ' '.join(args) + ': ' + r.stderr)
    return [line.split('\t')[0] for line in r.stdout.splitlines()[1:]]


def one_run(bin_, ds, strategy, seed, work):
    d = tempfile.mkdtemp(dir=work)
    labels, model = os.path.join(d, 'labels.tsv'), os.path.join(d, 'model')
    have_model = False
    acc = {}
    n = 0
    for target in STEPS:
        need = target - n
        common = ['-n', str(need), '-S', str(seed), '-l', labels, ds.pool]
        if strategy == 'random' or (strategy == 'uncertainty' and not have_model):
            keys = queue(bin_, ['-s', 'random'] + common, os.path.join(d, 'summary.tsv'))
        elif strategy == 'uncertainty':
            keys = queue(bin_, ['-s', 'margin', '-m', model] + common, os.path.join(d, 'summary.tsv'))
        elif not have_model:
            keys = queue(bin_, ['-s', 'cold'] + common, os.path.join(d, 'summary.tsv'))
        else:
            keys = queue(bin_, ['-s', 'diverse', '-b', str(need), '-m', model] + common, os.path.join(d, 'summary.tsv'))
        append(bin_, labels, ds, keys)
        n += len(keys)
        have_model = train(bin_, labels, model, ds, seed)
        acc[target] = accuracy(bin_, model, ds) if have_model else 1.0 / len(ds.classes)
    return acc


def full_accuracy(bin_, ds, work):
    labels, model = os.path.join(work, ds.name + '-all.tsv'), os.path.join(work, ds.name + '-all.model')
    if os.path.exists(labels):
        os.unlink(labels)
    append(bin_, labels, ds, ds.pool_keys)
    if not train(bin_, labels, model, ds, 1):
        raise SystemExit('full training failed')
    return accuracy(bin_, model, ds)


def reach95(m, goal):
    """First step whose mean accuracy reaches goal, and the label count where the
    mean curve crosses it (linear between steps)."""
    for i, (t, v) in enumerate(zip(STEPS, m)):
        if v >= goal:
            if i == 0:
                return '%d (<= %d)' % (t, t)
            t0, v0 = STEPS[i - 1], m[i - 1]
            return '%d (~%.0f)' % (t, t0 + (goal - v0) / (v - v0) * (t - t0))
    return '> %d' % STEPS[-1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument('bin')
    p.add_argument('--seeds', type=int, default=20)
    p.add_argument('--datasets', default='synth,digits')
    p.add_argument('--work', default=None)
    p.add_argument('--jobs', type=int, default=2)
    a = p.parse_args()
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    work = a.work or tempfile.mkdtemp(prefix='clipsort-learn-')
    sets = []
    for name in a.datasets.split(','):
        if name == 'synth':
            X, y = learn_data.synth_arrays(4000, 64, 4, 1.0, 21)
            sets.append(Dataset('synth', X, y, work, 1000))
        elif name == 'digits':
            X, y = learn_data.digits_arrays()
            sets.append(Dataset('digits', X, y, work, 597))
        else:
            raise SystemExit('unknown dataset ' + name)
    for ds in sets:
        full = full_accuracy(a.bin, ds, work)
        jobs = [(a.bin, ds, s, seed, work) for s in STRATEGIES for seed in range(1, a.seeds + 1)]
        with multiprocessing.Pool(a.jobs) as pool:
            out = pool.starmap(one_run, jobs)
        res = {s: np.array([[o[t] for t in STEPS] for (_, _, s2, _, _), o in zip(jobs, out) if s2 == s])
               for s in STRATEGIES}
        print('\n%s: pool %d, test %d, %d classes; full-data accuracy %.4f (95%% of it: %.4f); %d seeds'
              % (ds.name, len(ds.pool_keys), len(ds.test_keys), len(ds.classes), full, 0.95 * full, a.seeds))
        print('%-12s' % 'labels' + ''.join('%15d' % t for t in REPORT) + '   labels to 95% (interpolated)')
        for s in STRATEGIES:
            m, sd = res[s].mean(axis=0), res[s].std(axis=0)
            cells = ''.join('%8.4f+-%.3f' % (m[STEPS.index(t)], sd[STEPS.index(t)]) for t in REPORT)
            print('%-12s%s   %s' % (s, cells, reach95(m, 0.95 * full)))
        print('all steps (mean accuracy):')
        print('%-12s' % 'labels' + ''.join('%7d' % t for t in STEPS))
        for s in STRATEGIES:
            print('%-12s' % s + ''.join('%7.4f' % v for v in res[s].mean(axis=0)))
        sys.stdout.flush()


if __name__ == '__main__':
    main()
