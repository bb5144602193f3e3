"""Helpers shared by the storage benchmarks (``storage_bench.py``,
``layout_prototypes.py``): counting the records a ZODB storage loads and
stores, the samples of cold reads, summaries, the machine line, and the
library's code as it is at a git ref.

Counting happens at the storage, below any layout: whatever the library
keeps in its records, a record loaded is one ``loadBefore`` (or ``load``)
call and a record written one ``store`` call. That is what makes the
figures comparable between layouts.
"""

import contextlib
import gc
import hashlib
import importlib.metadata as metadata
import io
import json
import os
import platform
import random
import resource
import sqlite3
import statistics
import subprocess
import tarfile
import tempfile
import time


class RecordCounter:
    """Counts the records one storage instance loads and stores.

    Wraps the instance's ``loadBefore``, ``load`` and ``store`` (instance
    attributes shadowing the class's methods), so it works on the storage
    ``open_db`` made, whatever the library passed to it. ZODB's
    connections reach the storage through an MVCC adapter that looks
    these methods up on each call, so wrapping after the database is open
    counts everything from then on. ``loads`` counts both load methods
    (a connection uses ``loadBefore``); ``stores`` the records stored and
    ``stored_bytes`` their pickles' length, in committed and aborted
    transactions alike.
    """

    def __init__(self, storage):
        self.loads = self.stores = self.stored_bytes = 0
        load_before, load, store = (storage.loadBefore, storage.load,
                                    storage.store)

        def counted_load_before(oid, tid):
            self.loads += 1
            return load_before(oid, tid)

        def counted_load(oid, version=''):
            self.loads += 1
            return load(oid, version)

        def counted_store(oid, serial, data, version, transaction):
            self.stores += 1
            self.stored_bytes += len(data)
            return store(oid, serial, data, version, transaction)

        storage.loadBefore = counted_load_before
        storage.load = counted_load
        storage.store = counted_store

    def counts(self):
        """(records loaded, records stored, pickle bytes stored) so far."""
        return self.loads, self.stores, self.stored_bytes


def peak_rss_mb():
    """The peak resident set size of this process so far, in MB (Linux
    reports ``ru_maxrss`` in kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def samples(seen, count, seed=7):
    """Cold-read samples, the same for every side: (x, y, u, v) with x the
    first call's (task, user), y an unrelated one after it (another user,
    another task if there is one), u a user read after both, v a user read
    as the first call."""
    rnd = random.Random(seed)
    pairs = sorted(seen)
    users = sorted({user for task, user in pairs})
    result = []
    for i in range(count):
        x = rnd.choice(pairs)
        others = [p for p in pairs if p[1] != x[1]]
        y = rnd.choice([p for p in others if p[0] != x[0]] or others)
        u, v = rnd.sample([w for w in users if w not in (x[1], y[1])], 2)
        result.append((x, y, u, v))
    return result


class GCMeter:
    """Time spent in the cyclic GC, and its collections by generation,
    while ``on``: installed as a ``gc.callbacks`` hook, so that a figure
    can say how much of a call's time the collector took (its full
    collections walk every tracked object of the process, so they cost
    more the bigger the process is)."""

    def __init__(self):
        self.on = False
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._start = None
        gc.callbacks.append(self._hook)

    def _hook(self, phase, info):
        if not self.on:
            return
        if phase == 'start':
            self._start = time.perf_counter()
        elif self._start is not None:
            self.seconds += time.perf_counter() - self._start
            self.collections[info['generation']] += 1
            self._start = None

    def reset(self):
        self.seconds, self.collections = 0.0, [0, 0, 0]

    def close(self):
        gc.callbacks.remove(self._hook)


def stats(values):
    """Mean, median and maximum of a non-empty sequence of numbers."""
    values = sorted(values)
    return {'mean': statistics.fmean(values), 'p50': values[len(values) // 2],
            'max': values[-1]}


def digest(value):
    """A short hash of a JSON-able value: equal answers, equal digests."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()
                          ).hexdigest()[:16]


def machine():
    """CPU, cores and the versions that decide the figures."""
    cpu = '?'
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    return ('%s, %d cores (nproc), Python %s, ZODB %s, BTrees %s, '
            'SQLite %s' % (cpu, os.cpu_count(), platform.python_version(),
                           metadata.version('ZODB'),
                           metadata.version('BTrees'),
                           sqlite3.sqlite_version))


def optional(value, fmt):
    """``fmt % value``, or a dash for a figure a side does not have."""
    return '–' if value is None else fmt % value


def duration(value):
    """A time (any unit) with two or three significant digits."""
    return '%.0f' % value if value >= 100 else (
        '%.1f' % value if value >= 1 else '%.2f' % value)


# The library as it is at a git ref

def git(repo, *words):
    return subprocess.run(['git', '-C', repo] + list(words), check=True,
                          capture_output=True, text=True).stdout.strip()


def describe(repo, ref='HEAD'):
    """The short commit that last changed ``src/`` at ``ref``, with
    ``+changes`` for a work tree whose ``src/`` differs from HEAD (``ref``
    HEAD only)."""
    short = git(repo, 'log', '-1', '--format=%h', ref, '--', 'src')
    if ref == 'HEAD' and git(repo, 'status', '--porcelain', '--', 'src'):
        short += '+changes'
    return short


@contextlib.contextmanager
def library_at(repo, ref):
    """Yield the ``src`` directory of ``ref``'s tree, unpacked with ``git
    archive`` into a temporary directory (removed afterwards): put it
    first on ``sys.path`` (``PYTHONPATH``) to import the library as it
    was. The repository, its work trees and its refs are left alone.
    Raises ValueError naming ``ref`` when git does not know it."""
    try:
        commit = git(repo, 'rev-parse', '--verify', '--quiet',
                     ref + '^{commit}')
    except subprocess.CalledProcessError:
        raise ValueError('%r is not a commit in %s; expected a branch, tag '
                         'or commit' % (ref, repo)) from None
    with tempfile.TemporaryDirectory(prefix='cttrack-ref-') as directory:
        archive = subprocess.run(['git', '-C', repo, 'archive', commit,
                                  'src'], check=True, capture_output=True)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            if hasattr(tarfile, 'data_filter'):    # Python 3.10.12+
                tar.extractall(directory, filter='data')
            else:
                tar.extractall(directory)
        yield os.path.join(directory, 'src')



# Saved runs

def save_run(stem, args, results, meta, lines):
    """Write a report to ``stem.md`` and its run (``args``, ``results``,
    ``meta``) to ``stem.json``, which ``print_saved`` reads back."""
    with open(stem + '.md', 'w') as f:
        f.write('\n'.join(lines) + '\n')
    with open(stem + '.json', 'w') as f:
        json.dump({'meta': meta, 'args': vars(args), 'results': results}, f,
                  indent=1)


def print_saved(path, report):
    """Print the report of a run saved by ``save_run`` again:
    ``report(args, results, meta)`` gives its lines."""
    import argparse
    with open(path) as f:
        saved = json.load(f)
    print('\n'.join(report(argparse.Namespace(**saved['args']),
                           saved['results'], saved['meta'])))
