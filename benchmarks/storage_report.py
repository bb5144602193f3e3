"""The Markdown report of a storage benchmark run (``storage_bench.run``):
a table per workload, SQLite's column first, then the library at
``--compare``'s ref and this checkout, with ratios to SQLite and, when
comparing, of this checkout to the ref.

It reads only the run's figures and ``meta`` (sizes, labels), so that a
saved run prints again (``storage_bench.py --report JSON``).
"""

from _measure import duration

# Rows of the report: (label, the figure, its format, extra text, whether
# a ratio to SQLite follows). A figure of None prints as a dash.

def _cold_rows(what, key, unit):
    scale = 1 if unit == 'µs' else 1e3
    return [
        (what + ': records loaded, mean (max)',
         lambda r: r.get('cold_loads', {}).get(key, {}).get('mean'),
         '%.1f', lambda r: ' (%d)' % r['cold_loads'][key]['max'], False),
        (what + ': mean ' + unit, lambda r: r['cold'][key]['mean'] / scale,
         None, None, True),
        (what + ': p50 ' + unit, lambda r: r['cold'][key]['p50'] / scale,
         None, None, True)]


INGEST_ROWS = [
    ('ingest tracks/s', lambda r: r['ingest'], '%.0f', None, True),
    ('peak RSS of the process, MB', lambda r: r.get('rss_mb'), '%.0f', None,
     False),
    ('records stored per track', lambda r: r.get('stores_per_track'),
     '%.3f', None, False),
    ('pickle bytes stored per track',
     lambda r: r.get('stored_bytes_per_track'), '%.0f', None, False),
    ('bytes/track on disk, before pack', lambda r: r.get('bytes_per_track'),
     '%.0f', None, True),
    ('bytes/track on disk, after pack',
     lambda r: r.get('bytes_per_track_packed'), '%.0f', None, True),
]
FULL_ROWS = INGEST_ROWS + (
    _cold_rows('cold last track, first call', 'last_first', 'µs')
    + _cold_rows('cold last track, upper nodes loaded', 'last_upper', 'µs')
    + _cold_rows("cold one user's tracks, first call", 'user_first', 'ms')
    + _cold_rows("cold one user's tracks, upper nodes loaded", 'user_upper',
                 'ms')) + [
    ('warm last track: mean µs', lambda r: r['warm']['last']['mean'], None,
     None, True),
    ("warm one user's tracks: mean ms",
     lambda r: r['warm']['user']['mean'] / 1e3, None, None, True),
    # An update is one commit, so mostly an fsync: the median says more
    # than the mean on a disk that others share.
    ('update: mean ms', lambda r: r['update']['mean'] / 1e3, None, None,
     True),
    ('update: p50 ms', lambda r: r['update']['p50'] / 1e3, None, None, True),
    ('update: records stored per update', lambda r: r.get('update_stores'),
     '%.1f', None, False),
    ('update: kB stored per update',
     lambda r: r['update_bytes'] / 1e3 if 'update_bytes' in r else None,
     '%.1f', None, False),
    ('tracks per user read', lambda r: r['tracks_per_user'], '%.0f', None,
     False),
]


def _table(rows, res, sides, compare):
    head = [' ', 'SQLite'] + [{'ref': 'ref', 'this': 'this'}[s]
                             for s in sides if s != 'sqlite']
    if compare:
        head.append('this / ref')
    lines = ['| ' + ' | '.join(head) + ' |', '|---' * len(head) + '|']
    base = res['sqlite']
    for label, figure, fmt, extra, vs_sqlite in rows:
        cells = []
        for side in sides:
            r = res[side]
            value = figure(r)
            if value is None:
                cells.append('–')
                continue
            text = fmt % value if fmt else duration(value)
            if extra:
                text += extra(r)
            if vs_sqlite and side != 'sqlite' and figure(base):
                text += ' (%.2fx)' % (value / figure(base))
            cells.append(text)
        if compare:
            new, old = figure(res['this']), figure(res['ref'])
            cells.append('%.2fx' % (new / old) if new is not None and old
                         else '–')
        lines.append('| %s | %s |' % (label, ' | '.join(cells)))
    return lines


def report(args, results, meta):
    """The Markdown report of ``run``'s results."""
    compare = bool(args.compare)
    sides = ['sqlite'] + (['ref'] if compare else []) + ['this']
    lines = ['### Storage: %d tracks of %d users, commit every %d'
             % (args.tracks, meta['users']['full'], meta['batch']), '',
             'Machine: %s. Load average at start: %s. `%s`, %.0f minutes '
             '(one process per side and workload, in turns).'
             % (meta['machine'], meta['load'], command_line(args),
                meta['minutes']), '',
             'Columns: ' + '; '.join('%s = %s' % (
                 'SQLite' if s == 'sqlite' else s, meta['labels'][s])
                 for s in sides) + '. (x) is the ratio to SQLite'
             + ('; "this / ref" the ratio of this checkout to ref.'
                if compare else '.') + ' Updates: one combination\'s last '
             'track, %d times, a commit each.' % meta['updates'], '']
    for mode in args.modes:
        res = results['full'][mode]
        same = len({res[s]['answers'] for s in sides}) == 1
        lines += ['Workload `%s` (answers identical on all sides: %s)'
                  % (mode, 'yes' if same else 'NO'), '']
        lines += _table(FULL_ROWS, res, sides, compare)
        if args.rounds > 1:
            lines += ['', 'Ingest, each round: ' + '; '.join(
                '%s %s' % (s, ' / '.join('%.0f' % x
                                         for x in res[s]['ingest_rounds']))
                for s in sides)]
        if 'floor' in res:
            lines += ['', 'Floor (one tiny persistent object per track, one '
                      'LOBTree, no index), same run: %.0f tracks/s (%.2fx '
                      'SQLite).' % (res['floor']['ingest'],
                                    res['floor']['ingest']
                                    / res['sqlite']['ingest'])]
        lines.append('')
    if 'ingest' in results:
        tracks = args.ingest_tracks
        lines += ['### Ingest and pack (no reads): %d tracks of %d users' % (
            tracks, meta['users']['ingest']), '']
        for mode in args.modes:
            lines += ['Workload `%s`' % mode, '']
            lines += _table(INGEST_ROWS, results['ingest'][mode], sides,
                            compare)
            lines.append('')
    return lines


def command_line(args):
    words = ['--tracks', args.tracks, '--samples', args.samples,
             '--modes'] + args.modes
    if args.users:
        words += ['--users', args.users]
    if args.tasks != 20:
        words += ['--tasks', args.tasks]
    if args.rounds != 1:
        words += ['--rounds', args.rounds]
    if args.ingest_tracks:
        words += ['--ingest-tracks', args.ingest_tracks]
    if args.compare:
        words += ['--compare', args.compare]
    if not args.floor:
        words.append('--no-floor')
    return ' '.join(['benchmarks/storage_bench.py'] + [str(w) for w in words])
