"""``cybertools-tracking query`` on a big storage: how soon the first line
comes, how long the whole output takes, and the peak memory; this tree
against a git ref, in one run.

    python benchmarks/query_stream_bench.py [--tracks 200000] [--compare main]

A FileStorage of ``--tracks`` tracks (2,000 users, 20 tasks, a track
every 10 seconds) is imported once, with this tree. Then, in turns for
each version, each command below runs in a child process reading its
output through a pipe: the seconds to the first line, to the last, and
the child's peak RSS (ru_maxrss). The ref orders by id unless told
``--newest-first``; this tree orders newest first.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _measure import describe, library_at, machine  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

COMMANDS = [
    ('every track, JSON Lines', ['--task', '*', '--format', 'jsonl']),
    ('the newest 10', ['--task', '*', '--newest-first', '--limit', '10']),
    ('a prefix of users, JSON Lines', ['--user', 'user1*', '--format',
                                       'jsonl']),
    ('count of a prefix', ['--user', 'user1*', '--count']),
]


def make_lines(path, count, seed=1):
    rng = random.Random(seed)
    with open(path, 'w') as f:
        for n in range(count):
            f.write(json.dumps({
                'taskId': 'task/%d' % rng.randrange(20),
                'userName': 'user%04d' % rng.randrange(2000),
                'timeStamp': 1_704_067_200 + 10 * n + rng.randrange(10),
                'data': {'page': rng.randrange(50),
                         'score': rng.randrange(100)}}) + '\n')


def timed(argv, pythonpath):
    """(seconds to the first line, to the end, lines, peak RSS in MB)."""
    env = dict(os.environ, PYTHONPATH=pythonpath)
    start = time.monotonic()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env)
    first = process.stdout.readline()
    to_first = time.monotonic() - start
    lines = bool(first) + sum(1 for _ in process.stdout)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit('%s failed' % ' '.join(argv))
    return to_first, time.monotonic() - start, lines, usage.ru_maxrss / 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--tracks', type=int, default=200_000)
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--compare', metavar='REF', default='main')
    args = parser.parse_args(argv)
    src = os.path.join(REPO, 'src')
    with tempfile.TemporaryDirectory(prefix='query-bench-') as scratch, \
            library_at(REPO, args.compare) as old:
        data, db = (os.path.join(scratch, name)
                    for name in ('tracks.jsonl', 'tracks.fs'))
        make_lines(data, args.tracks)
        subprocess.run([sys.executable, '-m', 'cybertools_tracking', '--db',
                        db, 'import', data], check=True,
                       env=dict(os.environ, PYTHONPATH=src),
                       stdout=subprocess.DEVNULL)
        sides = {args.compare: old,
                 'this tree (%s)' % describe(REPO): src}
        best = {}
        for round in range(args.rounds):
            for label, words in COMMANDS:
                for name, path in sides.items():
                    found = timed([sys.executable, '-m',
                                   'cybertools_tracking', '--db', db,
                                   'query'] + words, path)
                    print('round %d, %s, %s: %.2f s, %.2f s, %d lines, '
                          '%.0f MB' % ((round + 1, label, name) + found),
                          file=sys.stderr, flush=True)
                    was = best.get((label, name))
                    best[label, name] = found if was is None else tuple(
                        min(a, b) for a, b in zip(was, found))
    print(machine())
    print()
    print('| query | version | first line s | all s | lines | peak RSS MB |')
    print('|---|---|---|---|---|---|')
    for (label, name), (first, whole, lines, rss) in best.items():
        print('| %s | %s | %.2f | %.1f | %d | %.0f |'
              % (label, name, first, whole, lines, rss))


if __name__ == '__main__':
    main()
