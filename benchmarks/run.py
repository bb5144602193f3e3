"""Run the benchmarks: ``.venv/bin/python benchmarks/run.py [--quick]``.

Four parts, all by default (``--only`` picks):

``storage``
    ingest, records stored and loaded, cold and warm lookups, updates,
    TrackingStorage on a FileStorage against SQLite with equivalent
    indexes, and with ``--compare REF`` against the library at a git ref
    (``storage_bench.py``);
``goals``
    the goal layer against dictrack 2.0.6, installed in a venv of its own
    under ``benchmarks/var/`` (``goals_bench.py``);
``concurrency``
    1, 2 and 4 writer processes on ZEO and on PostgreSQL
    (``concurrency_bench.py``; needs the local PostgreSQL);
``threads``
    1 and 8 writer threads of one process, a connection each, on a
    FileStorage and on ZEO (``threads_bench.py``).

Prints a Markdown report and writes it, with the raw figures as JSON, to
``benchmarks/var/`` (not versioned). Copy a report worth keeping into
``RESULTS.md`` with a line on what changed.
"""

import argparse
import datetime
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import concurrency_bench  # noqa: E402
import goals_bench  # noqa: E402
import storage_bench  # noqa: E402
import storage_report  # noqa: E402
import threads_bench  # noqa: E402


machine = goals_bench.machine


def storage_section(args, out):
    results, meta = storage_bench.run(args)
    out['storage'] = {'meta': meta, 'results': results}
    return storage_report.report(args, results, meta)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--tracks', type=int, default=1_000_000)
    parser.add_argument('--quick', action='store_true',
                        help='small sizes everywhere (storage: 20,000 '
                        'tracks, 3 samples)')
    parser.add_argument('--modes', nargs='+', default=['sessions', 'uniform'],
                        choices=['sessions', 'uniform'])
    parser.add_argument('--only', nargs='+',
                        default=['storage', 'goals', 'concurrency',
                                 'threads'],
                        choices=['storage', 'goals', 'concurrency',
                                 'threads'])
    parser.add_argument('--var', default=os.path.join(HERE, 'var'))
    storage_bench.add_options(parser)
    args = parser.parse_args()
    if args.quick:
        storage_bench.quick(args)
    os.makedirs(args.var, exist_ok=True)
    stamp = datetime.datetime.now().strftime('%Y-%m-%d %H:%M')
    out = {'date': stamp, 'machine': machine()}
    lines = ['## %s' % stamp, '', 'Machine: %s' % out['machine'], '']
    if 'storage' in args.only:
        lines += storage_section(args, out)
    if 'goals' in args.only:
        lines += goals_bench.report(
            {'items': 20_000 if args.quick else 100_000, 'var': args.var,
             'repeat': 1 if args.quick else 2}, out=out)
        lines.append('')
    if 'concurrency' in args.only:
        lines += concurrency_bench.report(
            total=4_000 if args.quick else 20_000, var=args.var, out=out,
            prefill=10_000 if args.quick else concurrency_bench.PREFILL)
    if 'threads' in args.only:
        lines += threads_bench.report(
            total=1_000 if args.quick else threads_bench.TOTAL, var=args.var,
            out=out, rounds=1 if args.quick else threads_bench.ROUNDS)
    print(goals_bench.save_report(args.var, 'last-run', lines, out))


if __name__ == '__main__':
    main()
