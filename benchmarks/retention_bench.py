"""Data in, data out, data gone (issue 9): the command line's import,
export, resume bookkeeping, prune and pack on a FileStorage.

    .venv/bin/python benchmarks/retention_bench.py [--tracks N]

Each step runs in a process of its own (``cybertools-tracking`` through
``main()``), which reports its time and its peak RSS (``ru_maxrss``):

1. ``import`` of N generated tracks (JSON Lines, 5,000 users in 50 tasks,
   commit every 1,000);
2. ``export`` of everything, then ``import`` of the export into an empty
   database (the round trip), checked to hold as many tracks;
3. the cost of the resume bookkeeping: an import of ``--overhead`` tracks
   with it and without it (the progress record and the running digest
   patched out), alternated over two rounds, best of each; and the time
   ``--resume`` takes to skip what was imported;
4. ``prune`` of the older half, then ``pack``: tracks/s and file sizes.

Prints a Markdown report (also in ``benchmarks/var/retention.md``).
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

T0 = 1_700_000_000


def generate(path, count):
    """N tracks in time order, one a second, sessions of 20 pages."""
    with open(path, 'w') as f:
        for n in range(count):
            user = (n // 20) % 5000
            f.write(json.dumps({
                'taskId': 'course-%02d' % ((n // 20) % 50),
                'userName': 'user%04d' % user,
                'data': {'page': n % 20, 'score': (n * 7) % 101,
                         'duration': 20 + n % 280},
                'timeStamp': T0 + n}) + '\n')


def step(*argv, patch=None):
    """Run ``cybertools-tracking argv`` in a child; return (seconds, peak
    RSS in MB, exit code)."""
    done = subprocess.run(
        [sys.executable, __file__, '--child', json.dumps(
            {'argv': list(argv), 'patch': patch})],
        capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit('%s failed:\n%s%s' % (argv, done.stdout,
                                                done.stderr))
    return json.loads(done.stdout.splitlines()[-1])


def child(spec):
    spec = json.loads(spec)
    from cybertools_tracking.cli import loading, main
    if spec['patch'] == 'no-resume-bookkeeping':
        # What an import costs without the progress record and the
        # running digest: the rest is unchanged.
        loading._Import.record = lambda self: None

        def lines(self):
            for line in self.stream:
                self.offset += len(line)
                yield line
        loading._Input.lines = lines
    spent = [0.0]
    if spec['patch'] == 'instrumented':
        # Time the bookkeeping itself, inside one import: the progress
        # record and the running digest (a ratio within one run, which
        # a loaded machine does not blur as it blurs two runs).
        import hashlib
        real_record = loading._Import.record

        def record(self):
            started = time.perf_counter()
            real_record(self)
            spent[0] += time.perf_counter() - started
        loading._Import.record = record

        def lines(self):
            for line in self.stream:
                self.offset += len(line)
                started = time.perf_counter()
                self.digest.update(line)
                spent[0] += time.perf_counter() - started
                yield line
        loading._Input.lines = lines
        assert hashlib
    devnull = open(os.devnull, 'w')
    started = time.perf_counter()
    saved = sys.stdout
    sys.stdout = devnull
    try:
        code = main(spec['argv'])
    finally:
        sys.stdout = saved
    seconds = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({'seconds': seconds, 'rss': rss, 'code': code,
                      'bookkeeping': spent[0]}))


def count_tracks(db):
    from cybertools_tracking.db import get_storage, open_db
    database = open_db(db)
    try:
        with database.transaction() as connection:
            return len(get_storage(connection, create=False))
    finally:
        database.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--tracks', type=int, default=1_000_000)
    parser.add_argument('--overhead', type=int, default=200_000)
    parser.add_argument('--child')
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    from goals_bench import machine
    work = tempfile.mkdtemp(prefix='retention-bench-')
    n = args.tracks
    rows = []
    try:
        source = os.path.join(work, 'tracks.jsonl')
        generate(source, n)
        db = os.path.join(work, 'a.fs')
        r = step('--db', db, 'import', source)
        rows.append(('import of %d tracks' % n, n / r['seconds'], r['rss'],
                     os.path.getsize(db)))
        exported = os.path.join(work, 'export.jsonl')
        r = step('--db', db, 'export', '-o', exported)
        rows.append(('export of %d tracks' % n, n / r['seconds'], r['rss'],
                     os.path.getsize(exported)))
        copy = os.path.join(work, 'b.fs')
        r = step('--db', copy, 'import', exported)
        assert count_tracks(copy) == n
        rows.append(('import of the export (runs first)', n / r['seconds'],
                     r['rss'], os.path.getsize(copy)))
        os.remove(copy)

        # Resume bookkeeping: with and without, alternated, best of two.
        m = min(args.overhead, n)
        part = os.path.join(work, 'part.jsonl')
        with open(source) as f, open(part, 'w') as out:
            for _, line in zip(range(m), f):
                out.write(line)
        best = {}
        for round in range(2):
            for patch in (None, 'no-resume-bookkeeping'):
                target = os.path.join(work, 'o.fs')
                r = step('--db', target, 'import', part, patch=patch)
                best[patch] = min(best.get(patch, 1e9), r['seconds'])
                for suffix in ('', '.index', '.lock', '.tmp'):
                    if os.path.exists(target + suffix):
                        os.remove(target + suffix)
        batches = m // 1000
        part_size = os.path.getsize(part)
        target = os.path.join(work, 'i.fs')
        inside = step('--db', target, 'import', part, patch='instrumented')
        overhead = best[None] - best['no-resume-bookkeeping']
        # --resume of a finished half: skipping = reading and hashing.
        half = os.path.join(work, 'half.fs')
        from cybertools_tracking.db import open_db
        from cybertools_tracking.imports import import_progress
        step('--db', half, 'import', part)
        database = open_db(half)
        with database.transaction() as connection:
            progress = import_progress(connection, 'tracking',
                                       os.path.abspath(part))
            progress.done = False       # as if stopped at the last line
        database.close()
        r = step('--db', half, 'import', '--resume', part)

        # Prune the older half, then pack.
        before = os.path.getsize(db)
        r_prune = step('--db', db, 'prune', '--before', str(T0 + n // 2))
        pruned = os.path.getsize(db)
        r_pack = step('--db', db, 'pack')
        packed = os.path.getsize(db)
        assert count_tracks(db) == n - n // 2
    finally:
        shutil.rmtree(work, ignore_errors=True)

    lines = [
        '### Import, export, resume, prune: %d tracks, FileStorage, commit '
        'every 1,000' % n, '',
        'Machine: %s. Command: `.venv/bin/python '
        'benchmarks/retention_bench.py --tracks %d --overhead %d`.'
        % (machine(), n, args.overhead), '',
        '| step | tracks/s | peak RSS MB | bytes after |',
        '|---|---|---|---|']
    for name, rate, rss, size in rows:
        lines.append('| %s | %.0f | %.0f | %d |' % (name, rate, rss, size))
    lines.append('| prune of the older %d tracks | %.0f | %.0f | %d |'
                 % (n // 2, (n // 2) / r_prune['seconds'], r_prune['rss'],
                    pruned))
    lines.append('| pack after the prune (%.1f s) | | %.0f | %d |'
                 % (r_pack['seconds'], r_pack['rss'], packed))
    lines += [
        '', 'File: %d bytes after the import, %d after pruning half, %d '
        'after packing (%.0f%% of the import).' % (
            before, pruned, packed, 100.0 * packed / before), '',
        'Resume bookkeeping (progress record and running SHA-256 per '
        'batch), import of %d tracks, best of 2 each: %.2f s with, %.2f s '
        'without: %.2f ms per batch of 1,000, %.1f%% of the import time '
        '(target < 3%%). `--resume` skipping the %d imported lines (read '
        'and hash %d bytes): %.2f s.' % (
            m, best[None], best['no-resume-bookkeeping'],
            1000 * overhead / max(batches, 1),
            100.0 * overhead / best['no-resume-bookkeeping'], m,
            part_size, r['seconds']),
        '', 'Measured inside one import of %d tracks (%.1f s): the progress '
        'record and the digest took %.3f s, %.2f ms per batch of 1,000, '
        '%.2f%% of the import time (target < 3%%).' % (
            m, inside['seconds'], inside['bookkeeping'],
            1000 * inside['bookkeeping'] / max(batches, 1),
            100.0 * inside['bookkeeping'] / inside['seconds'])]
    report = '\n'.join(lines) + '\n'
    print(report)
    var = os.path.join(HERE, 'var')
    os.makedirs(var, exist_ok=True)
    with open(os.path.join(var, 'retention.md'), 'w') as f:
        f.write(report)


if __name__ == '__main__':
    main()
