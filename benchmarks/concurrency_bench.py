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
"""

import json
import os
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
    return {'rate': (total // writers) * writers / elapsed,
            'elapsed': elapsed, 'commits': commits, 'retries': retries,
            'retries_per_1000': 1000.0 * retries / commits}


def run(engine, writers, total, var, prefill=PREFILL):
    uri, cleanup = ENGINES[engine](var)
    try:
        db = open_db(uri)
        with db.transaction() as connection:
            get_storage(connection)
        db.close()
        cold = _writers(uri, writers, total, first_seed=0)
        _writers(uri, 1, prefill, first_seed=50)
        established = _writers(uri, writers, total, first_seed=10)
        db = open_db(uri)
        with db.transaction() as connection:
            stored = len(get_storage(connection))
        db.close()
        transaction.abort()
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


if __name__ == '__main__':
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    print('\n'.join(report(total)))
