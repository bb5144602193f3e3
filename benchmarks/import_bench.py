"""``cybertools-tracking import``: lines per second, this tree against a
git ref, in one run.

    python benchmarks/import_bench.py [--lines 60000] [--rounds 3]
                                      [--compare main] [--batch 1000 ...]

A JSON Lines file like a learning platform's log (200 users, 5 tasks, a
track every 7 seconds, data of three numbers) is made once. For each
version of the library (this work tree, and ``--compare REF`` unpacked
with ``git archive``), in turns, ``--rounds`` times:

- *parse*: the import's line parser (``loading._parse_line``) over every
  line, in a child process, no storage: lines per CPU second;
- *import*: ``cybertools-tracking import`` into a new FileStorage, in a
  child process, for each ``--batch`` size (0: each version's default):
  lines per second of wall time and per CPU second of the child (user +
  system).

CPU seconds are the steadier figure on a machine shared with other jobs
(the wall time there is mostly waiting for a core); the best round of
each is reported.
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _measure import describe, library_at, machine  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PARSE = '''
import sys, time
from cybertools_tracking.cli.loading import _parse_line
with open(sys.argv[1], 'rb') as f:
    lines = f.readlines()
start = time.process_time()
for number, line in enumerate(lines, 1):
    _parse_line(line, number == 1)
print(len(lines) / (time.process_time() - start))
'''


def make_lines(path, count, seed=2):
    rng = random.Random(seed)
    start = 1_704_067_200
    with open(path, 'w') as f:
        for n in range(count):
            f.write(json.dumps({
                'taskId': 'course/%d' % rng.randrange(5),
                'userName': 'learner%03d' % rng.randrange(200),
                'timeStamp': start + 7 * n,
                'data': {'page': rng.randrange(30),
                         'score': rng.randrange(100),
                         'duration': rng.randrange(300)}}) + '\n')


def child(argv, pythonpath):
    """Run ``argv`` with the library at ``pythonpath`` first; (stdout,
    wall seconds, CPU seconds of the child)."""
    env = dict(os.environ, PYTHONPATH=pythonpath)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit('%s failed: %s' % (' '.join(argv), done.stderr))
    cpu = (after.ru_utime - before.ru_utime
           + after.ru_stime - before.ru_stime)
    return done.stdout, wall, cpu


def measure(src, data, batches, scratch):
    result = {}
    out, wall, cpu = child([sys.executable, '-c', PARSE, data], src)
    result['parse'] = float(out)
    for batch in batches:
        db = os.path.join(scratch, 'import.fs')
        for suffix in ('', '.index', '.lock', '.tmp'):
            if os.path.exists(db + suffix):
                os.remove(db + suffix)
        size = ['--batch', str(batch)] if batch else []
        out, wall, cpu = child([sys.executable, '-m', 'cybertools_tracking',
                                '--db', db, 'import', data] + size, src)
        result[batch] = (wall, cpu)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--lines', type=int, default=60_000)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--compare', metavar='REF', default='main')
    parser.add_argument('--batch', type=int, action='append',
                        help='a batch size to import with (repeat for '
                             'several; 0: the default of each version)')
    args = parser.parse_args(argv)
    batches = args.batch or [1000, 5000]
    with tempfile.TemporaryDirectory(prefix='import-bench-') as scratch, \
            library_at(REPO, args.compare) as old:
        data = os.path.join(scratch, 'tracks.jsonl')
        make_lines(data, args.lines)
        sides = {args.compare: old,
                 'this tree (%s)' % describe(REPO): os.path.join(REPO, 'src')}
        best = {}
        for round in range(args.rounds):
            for name, src in sides.items():
                found = measure(src, data, batches, scratch)
                mine = best.setdefault(name, {})
                mine['parse'] = max(mine.get('parse', 0), found['parse'])
                for batch in batches:
                    wall, cpu = found[batch]
                    was = mine.get(batch, (wall, cpu))
                    mine[batch] = (min(was[0], wall), min(was[1], cpu))
                print('round %d, %s: parse %.0f lines/s; %s' % (
                    round + 1, name, found['parse'], ', '.join(
                        'batch %s %.1f s wall %.1f s CPU'
                        % (b or 'default', *found[b]) for b in batches)),
                    file=sys.stderr, flush=True)
    lines = args.lines
    print(machine())
    print()
    print('| version | parse lines/CPU s | %s |' % ' | '.join(
        'import %s lines/s (wall; CPU)' % ('--batch %d' % b if b else
                                           '(default batch)')
        for b in batches))
    print('|---|---|%s' % ('---|' * len(batches)))
    for name, figures in best.items():
        print('| %s | %.0f | %s |' % (name, figures['parse'], ' | '.join(
            '%.0f; %.0f' % (lines / figures[b][0], lines / figures[b][1])
            for b in batches)))


if __name__ == '__main__':
    main()
