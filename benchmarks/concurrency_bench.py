"""Concurrent writers on ZEO and on RelStorage/PostgreSQL.

For 1, 2 and 4 writer processes: the aggregate tracks per second (all
tracks over the time from the common start to the last writer's end) and
the conflict retries per 1,000 commits, 100 tracks per commit. Each
configuration gets a fresh database. The writers share the tasks and the
user pool (sessions workload, a seed each; 1,000 users who each work in 2
of 20 tasks), as web workers serving one population of users would; a
user's requests go to one writer at a time (users are split among the
writers), since one person does not act in two places at once.

Two phases: ``cold``, writers on an empty database, where users, runs and
(task, run, user) combinations appear all the time; and ``established``,
the same writers once one process has saved PREFILL tracks, so that most
of the population is known. New entities are where writers meet (two of
them creating the same user's first entry), so retries concentrate in the
cold phase.

    python benchmarks/concurrency_bench.py [TOTAL] [--engines E ..]
        [--writers N ..] [--repeat R [--vary-seeds]] [--names]

``--names`` names the record of every conflict retried: its class and
where it sits under the storage (``_store._combinations._shards[3]``,
see ``record_paths``), looked up after the run. Without options: the
report of ``run.py --only concurrency``.
"""

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid

import transaction

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from cybertools_tracking.db import get_storage, open_db  # noqa: E402

PG_ADMIN = os.environ.get('CYBERTOOLS_TEST_PG',
                          'postgres://postgres@127.0.0.1:5432/test')
BATCH = 100
PREFILL = 60_000


def _zeo(var, folder='zeo'):
    """Start a ZEO server on a fresh FileStorage under ``var/folder``;
    return (uri, stop)."""
    sys.path.insert(0, os.path.join(ROOT, 'tests'))
    from conftest import start_zeo, stop
    directory = os.path.join(var, folder)
    shutil.rmtree(directory, ignore_errors=True)
    process, uri = start_zeo(os.path.join(directory, 'tracking.fs'))
    return uri, lambda: stop(process)


def _postgres(var):
    import psycopg2
    from urllib.parse import urlsplit
    parts = urlsplit(PG_ADMIN)
    admin = psycopg2.connect(host=parts.hostname, port=parts.port or 5432,
                             user=parts.username, password=parts.password,
                             dbname=parts.path.lstrip('/') or 'postgres')
    admin.autocommit = True
    name = 'ctbench_%s' % uuid.uuid4().hex[:10]
    admin.cursor().execute('CREATE DATABASE %s' % name)

    def drop():
        admin.cursor().execute('DROP DATABASE IF EXISTS %s WITH (FORCE)'
                               % name)
        admin.close()
    return parts._replace(path='/' + name).geturl(), drop


ENGINES = {'ZEO': _zeo, 'PostgreSQL': _postgres}


def _writers(uri, writers, total, first_seed=0):
    start_at = time.time() + 3.0      # time for every writer to load
    processes = [subprocess.Popen(
        [sys.executable, os.path.join(HERE, 'bench_writer.py'), uri,
         str(first_seed + n), str(total // writers), str(BATCH),
         repr(start_at), str(n), str(writers)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(writers)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=1800)
        if process.returncode:
            raise RuntimeError(err[-2000:])
        results.append(json.loads(out))
    elapsed = max(r['end'] for r in results) - min(r['start'] for r in results)
    commits = sum(r['commits'] for r in results)
    retries = sum(r['retries'] for r in results)
    conflicts = [c for r in results for c in r.get('conflicts', ())]
    return {'rate': (total // writers) * writers / elapsed,
            'elapsed': elapsed, 'commits': commits, 'retries': retries,
            'retries_per_1000': 1000.0 * retries / commits,
            'conflicts': conflicts}


def record_paths(storage):
    """{oid: path} of the records under ``storage``, found through the
    attributes of persistent objects, tuples, dicts and the nodes,
    buckets and values of BTrees (the values named by their key)."""
    from persistent import Persistent
    paths = {}

    def visit(ob, path):
        if isinstance(ob, (tuple, list)):
            for i, value in enumerate(ob):
                visit(value, '%s[%d]' % (path, i))
            return
        if isinstance(ob, dict):
            for key, value in ob.items():
                visit(value, '%s[%r]' % (path, key))
            return
        if not isinstance(ob, Persistent):
            return
        oid = ob._p_oid
        if oid is None or oid in paths:
            return
        paths[oid] = path
        if hasattr(ob, 'maxKey'):           # a tree or set of BTrees
            btree(ob, path)
        elif not type(ob).__module__.startswith('BTrees'):
            ob._p_activate()
            for name, value in vars(ob).items():
                visit(value, '%s.%s' % (path, name))

    def btree(tree, path):
        # Internal nodes and buckets have oids of their own.
        nodes = [(tree, path)]
        buckets = 0
        while nodes:
            node, _ = nodes.pop(0)
            state = node.__getstate__()
            if isinstance(state, tuple) and len(state) == 2 \
                    and isinstance(state[0], tuple) \
                    and state[0] and isinstance(state[0][0], Persistent):
                for child in state[0][::2]:
                    if child._p_oid is not None and child._p_oid not in paths:
                        if type(child) is type(tree):
                            paths[child._p_oid] = '%s node' % path
                            nodes.append((child, path))
                        else:
                            paths[child._p_oid] = '%s bucket %d' % (path,
                                                                   buckets)
                            buckets += 1
        if hasattr(tree, 'items'):
            for key, value in tree.items():
                visit(value, '%s[%r]' % (path, key))

    visit(storage, 'storage')
    return paths


def name_conflicts(uri, conflicts):
    """Counter of 'ErrorClass on RecordClass (path)' for ``conflicts``
    ([error class, oid hex, record class]), looked up in ``uri``."""
    named = collections.Counter()
    db = open_db(uri)
    try:
        with db.transaction() as connection:
            paths = record_paths(get_storage(connection, create=False))
            for kind, oid, cls in conflicts:
                where = None if oid is None else \
                    paths.get(bytes.fromhex(oid))
                if where is not None:
                    # Trees by combination: the same place, whatever key.
                    where = _generic(where)
                named['%s on %s (%s)' % (kind, (cls or '?').rsplit('.')[-1],
                                         where or oid)] += 1
    finally:
        db.close()
    return named


def _generic(path):
    return re.sub(r"\[\('task\d+', \d+, 'user\d+'\)\]", '[combination]',
                  path)


def run(engine, writers, total, var, prefill=PREFILL, names=False,
        seeds=0):
    """One configuration on a fresh database; ``seeds`` shifts every
    writer's seed (another population and other arrivals)."""
    uri, cleanup = ENGINES[engine](var)
    try:
        db = open_db(uri)
        with db.transaction() as connection:
            get_storage(connection)
        db.close()
        cold = _writers(uri, writers, total, first_seed=seeds)
        _writers(uri, 1, prefill, first_seed=seeds + 50)
        established = _writers(uri, writers, total, first_seed=seeds + 10)
        db = open_db(uri)
        with db.transaction() as connection:
            stored = len(get_storage(connection))
        db.close()
        transaction.abort()
        if names:
            for phase in (cold, established):
                phase['named'] = name_conflicts(uri, phase['conflicts'])
    finally:
        cleanup()
    expected = 2 * (total // writers) * writers + prefill
    assert stored == expected, (stored, expected)
    return {'cold': cold, 'established': established, 'stored': stored}


def report(total=20_000, var=os.path.join(HERE, 'var'), out=None,
           prefill=PREFILL):
    lines = ['### Concurrent writers: %d tracks per phase, %d per commit, '
             'established after %d more' % (total, BATCH, prefill), '',
             '| engine | writers | phase | tracks/s (all writers) | vs 1 writer '
             '| retries per 1,000 commits |', '|---|---|---|---|---|---|']
    figures = {}
    for engine in ENGINES:
        single = {}
        for writers in (1, 2, 4):
            print('  running %s with %d writers' % (engine, writers),
                  file=sys.stderr, flush=True)
            try:
                result = run(engine, writers, total, var, prefill)
            except Exception as error:       # a server that is not there
                lines.append('| %s | %d | not run: %s | | | |'
                             % (engine, writers, str(error).splitlines()[0]))
                break
            figures['%s/%d' % (engine, writers)] = result
            for phase in ('cold', 'established'):
                figure = result[phase]
                single.setdefault(phase, figure['rate'])
                lines.append('| %s | %d | %s | %.0f | %.2fx | %.1f |' % (
                    engine, writers, phase, figure['rate'],
                    figure['rate'] / single[phase],
                    figure['retries_per_1000']))
    lines.append('')
    if out is not None:
        out['concurrency'] = figures
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('total', type=int, nargs='?', default=20_000,
                        help='tracks per phase (all writers)')
    parser.add_argument('--engines', nargs='+', default=list(ENGINES),
                        choices=list(ENGINES))
    parser.add_argument('--writers', nargs='+', type=int, default=None)
    parser.add_argument('--repeat', type=int, default=1)
    parser.add_argument('--vary-seeds', action='store_true',
                        help='repeat r shifts every seed by 1000 * r (the '
                        'same shifts in every run of the benchmark)')
    parser.add_argument('--prefill', type=int, default=PREFILL)
    parser.add_argument('--names', action='store_true',
                        help='name the records conflicts happened on')
    parser.add_argument('--var', default=os.path.join(HERE, 'var'))
    args = parser.parse_args()
    if args.writers is None and args.engines == list(ENGINES) \
            and args.repeat == 1 and not args.names:
        print('\n'.join(report(args.total, args.var, prefill=args.prefill)))
        return
    print('| engine | writers | phase | tracks/s | commits | retries '
          '| retries per 1,000 commits | conflicts retried |')
    print('|---|---|---|---|---|---|---|---|')
    for engine in args.engines:
        for writers in args.writers or (1, 2, 4):
            for r in range(args.repeat):
                result = run(engine, writers, args.total, args.var,
                             args.prefill, names=args.names,
                             seeds=1000 * r if args.vary_seeds else 0)
                for phase in ('cold', 'established'):
                    figure = result[phase]
                    named = figure.get('named', {})
                    print('| %s | %d | %s | %.0f | %d | %d | %.1f | %s |' % (
                        engine, writers, phase, figure['rate'],
                        figure['commits'], figure['retries'],
                        figure['retries_per_1000'],
                        ', '.join('%s: %d' % item
                                  for item in named.most_common()) or '-'),
                        flush=True)


if __name__ == '__main__':
    main()
