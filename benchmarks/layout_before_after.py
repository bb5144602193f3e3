"""The storage before and after the row layout of issue 8, with SQLite.

    python benchmarks/layout_before_after.py --before OLD_SRC [options]

Runs ``layout_prototypes.py``'s measurements (ingest, records and bytes
stored per track, bytes on disk before and after a pack, peak RSS, records
loaded by cold reads, warm reads, the update-heavy pattern) for three
sides in one run, in turns: ``sqlite``, ``current`` (the library found in
OLD_SRC, e.g. ``git archive 66c6e55 src | tar -x -C /tmp/old`` for
/tmp/old/src: the layout with one record per track) and ``rows`` (the
library of this checkout). Each side is a process of its own; the old one
gets OLD_SRC first on PYTHONPATH (the new one NEW_SRC, if given: a copy
that does not change while the benchmark runs). Options as
layout_prototypes.py's.
"""

import argparse
import datetime
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import layout_prototypes as lp  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--before', required=True, metavar='OLD_SRC')
    parser.add_argument('--after', metavar='NEW_SRC',
                        help='the new library (default: this checkout\'s)')
    parser.add_argument('--tracks', type=int, default=200_000)
    parser.add_argument('--users', type=int, default=None)
    parser.add_argument('--tasks', type=int, default=20)
    parser.add_argument('--samples', type=int, default=20)
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--modes', nargs='+', default=['sessions', 'uniform'])
    parser.add_argument('--cache-mb', type=int, default=0)
    parser.add_argument('--var', default=os.path.join(HERE, 'var'))
    parser.add_argument('--ingest-only', action='store_true',
                        help='every round measures the ingest only, and '
                        'the report is the ingest rates of every round')
    args = parser.parse_args()
    if args.users is None:
        args.users = max(20, args.tracks // 1000)
    # What layout_prototypes.run_child passes on to its children.
    args.page, args.tail, args.compact_every = 256, 64, 20_000
    args.sides = ['sqlite', 'current', 'rows']
    args.floor = False
    os.makedirs(args.var, exist_ok=True)
    plain = os.environ.get('PYTHONPATH')
    old = os.path.abspath(args.before)
    new = args.after and os.path.abspath(args.after)

    def child(side, mode, ingest_only):
        # 'current' runs the old library, 'rows' this checkout's.
        if side != 'sqlite' and (side == 'current' or new):
            os.environ['PYTHONPATH'] = os.pathsep.join(
                p for p in (old if side == 'current' else new, plain) if p)
        elif plain is None:
            os.environ.pop('PYTHONPATH', None)
        else:
            os.environ['PYTHONPATH'] = plain
        result = lp.run_child(args, 'sqlite' if side == 'sqlite'
                              else 'current', mode, ingest_only)
        result['label'] = {
            'sqlite': 'SQLite, same indexes',
            'current': 'TrackingStorage before (%s)' % args.before,
            'rows': 'TrackingStorage with the row layout (%s)'
                    % (args.after or 'this checkout')}[side]
        return result

    started = time.time()
    meta = {'date': datetime.datetime.now().strftime('%Y-%m-%d %H:%M'),
            'machine': lp.machine(),
            'load': ', '.join('%.2f' % x for x in os.getloadavg())}
    results = {mode: {} for mode in args.modes}
    turn = 0
    for round in range(args.rounds):
        for mode in args.modes:
            order = args.sides[::-1] if turn % 2 else args.sides
            turn += 1
            for side in order:
                print('  round %d: %s / %s' % (round + 1, mode, side),
                      file=sys.stderr, flush=True)
                result = child(side, mode, round > 0 or args.ingest_only)
                kept = results[mode].setdefault(side, result)
                kept.setdefault('ingest_rounds', []).append(result['ingest'])
                kept['ingest'] = max(kept['ingest_rounds'])
    meta['minutes'] = (time.time() - started) / 60
    stem = os.path.join(args.var, 'layout-before-after')
    with open(stem + '.json', 'w') as f:       # layout_prototypes --report
        json.dump({'meta': meta, 'args': vars(args), 'results': results}, f,
                  indent=1)
    if args.ingest_only:
        print('\n'.join(_ingest_report(args, results, meta)))
    else:
        print('\n'.join(lp.report(args, results, meta)))


def _ingest_report(args, results, meta):
    lines = ['%s, load average at start %s, %.0f minutes; %d tracks, '
             'ingest tracks/s of each round (x SQLite of that round)'
             % (meta['date'], meta['load'], meta['minutes'], args.tracks),
             '', '| workload | side | ' + ' | '.join(
                 'round %d' % (r + 1) for r in range(args.rounds)) + ' |',
             '|---|---|' + '---|' * args.rounds]
    for mode, sides in results.items():
        base = sides['sqlite']['ingest_rounds']
        for side, result in sides.items():
            lines.append('| %s | %s | %s |' % (mode, side, ' | '.join(
                '%.0f (%.2fx)' % (rate, rate / base[r])
                for r, rate in enumerate(result['ingest_rounds']))))
    return lines


if __name__ == '__main__':
    main()
