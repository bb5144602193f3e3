"""Goal-layer benchmark: our TrackingManager against dictrack 2.0.6.

``.venv/bin/python benchmarks/goals_bench.py [--items N] [--profile]``

Two workloads, fed item by item through ``TrackingManager.track`` on both
sides:

``a``  one group, 10 CountTrackers of 2 ``KeyValueEQ`` conditions each;
``b``  1,000 groups of 5 such trackers, the items spread over the groups.

Items are dicts with five keys (user, event, channel, amount, seq) drawn
from a seeded generator, so both sides get the very same stream (checked by
a digest).  A tracker counts items with one ``event`` and one ``channel``;
each of its (event, channel) pairs has a probability of 1/18.  Odd-numbered
trackers have a target of 90 % of their expected count, so they complete
late in the run (or, by chance, not at all); even-numbered ones have a
target above the number of items and never complete.  No limiters: dictrack
counts non-matching items in ``CountLimiter``, so only plain counts with
equality conditions are compared.

Our side keeps the trackers in a FileStorage in a temporary directory under
``benchmarks/var/`` and commits every 1,000 items (then ``cacheGC()``), so
its progress is durable; after the run the database is closed and reopened
and the progress read from disk.

dictrack runs in memory, in a venv of its own (``benchmarks/var/
dictrack-venv``, created once with ``pip install "dictrack[memory]==2.0.6"``;
the ``memory`` extra is its declared dependency for ``MemoryDataCache``), as
a subprocess (``benchmarks/dictrack_side.py``) that prints JSON.  Its
``TrackingManager`` does not accept ``data_store=None`` (the constructor
sets an attribute on it), so that side passes a dict-backed store, touched
only when a group is first loaded and when a tracker completes.

At the end, the final progress and completion of every (group, tracker) is
compared between the sides.  Only the tracking loops are timed (commits
included on our side); building the trackers and the items is not.

This module imports nothing outside the standard library at module level:
``dictrack_side.py`` imports it, in a venv without our package, for the
workload definitions.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
VAR = os.path.join(HERE, 'var')
DICTRACK_SIDE = os.path.join(HERE, 'dictrack_side.py')
DICTRACK_VERSION = '2.0.6'
DICTRACK_REQUIREMENT = 'dictrack[memory]==%s' % DICTRACK_VERSION

ITEMS = 100_000
GROUPS_B = 1_000
SEED = 20_241_122
COMMIT_EVERY = 1_000
TARGET_RATIO = 5.0

EVENTS = ('login', 'view', 'click', 'buy', 'share', 'logout')
CHANNELS = ('web', 'app', 'api')
LATE = 0.9      # a completing tracker's target, as a share of its expectation

WORKLOADS = ('a', 'b')
TITLES = {
    'a': '1 group x 10 trackers',
    'b': '%d groups x 5 trackers' % GROUPS_B,
}


# -- the workloads (shared with dictrack_side.py) -----------------------------

def build_workload(name, items=ITEMS, seed=SEED):
    """The workload *name* as plain data.

    Returns ``{'name', 'groups': {group_id: [tracker spec]}, 'items'}``
    where a tracker spec is ``{'name', 'conditions': [(key, value)],
    'target'}`` and ``items`` is a list of ``(group_id, data)``.
    """
    if name == 'a':
        group_ids, per_group = ['g0'], 10
    elif name == 'b':
        group_ids, per_group = ['g%04d' % i for i in range(GROUPS_B)], 5
    else:
        raise ValueError('unknown workload %r' % (name,))
    p_match = 1.0 / (len(EVENTS) * len(CHANNELS))
    expected = items / len(group_ids) * p_match
    groups = {}
    for gid in group_ids:
        trackers = []
        for j in range(per_group):
            # (j % 5, j % 2) runs through all ten pairs of the first five
            # events and the first two channels; 'logout' and 'api' items
            # match nothing.
            target = (max(1, int(expected * LATE)) if j % 2
                      else items + 1)
            trackers.append({
                'name': 't%02d' % j,
                'conditions': [('event', EVENTS[j % 5]),
                               ('channel', CHANNELS[j % 2])],
                'target': target,
            })
        groups[gid] = trackers
    rnd = random.Random('%s/%s' % (seed, name))
    stream = []
    single = len(group_ids) == 1
    for i in range(items):
        gid = group_ids[0] if single else group_ids[rnd.randrange(
            len(group_ids))]
        stream.append((gid, {
            'user': gid,
            'event': EVENTS[rnd.randrange(len(EVENTS))],
            'channel': CHANNELS[rnd.randrange(len(CHANNELS))],
            'amount': rnd.randrange(1, 100),
            'seq': i,
        }))
    return {'name': name, 'groups': groups, 'items': stream}


def digest(workload):
    """A digest of the trackers and items, to show both sides got the same."""
    h = hashlib.sha256()
    h.update(json.dumps(workload['groups'], sort_keys=True).encode())
    for gid, data in workload['items']:
        h.update(json.dumps([gid, data], sort_keys=True).encode())
    return h.hexdigest()[:16]


def key(group_id, name):
    return '%s/%s' % (group_id, name)


# -- our side -----------------------------------------------------------------

def _track_loop(manager, stream, commit, conn, commit_every):
    track = manager.track
    commit_time = 0.0
    clock = time.perf_counter
    start = clock()
    for n, (gid, data) in enumerate(stream, 1):
        track(gid, data)
        if n % commit_every == 0:
            t = clock()
            commit()
            conn.cacheGC()
            commit_time += clock() - t
    t = clock()
    commit()
    conn.cacheGC()
    end = clock()
    return end - start, commit_time + (end - t)


def _final_progress(manager, group_ids):
    found = {}
    for gid in group_ids:
        for tracker in manager.get_trackers(gid, include_completed=True):
            found[key(gid, tracker.name)] = [tracker.progress,
                                             tracker.completed]
    return found


def run_ours(workload, var=VAR, commit_every=COMMIT_EVERY, profile=None):
    """Run *workload* through our TrackingManager on a FileStorage.

    With *profile* (a ``cProfile.Profile``), the tracking loop runs under
    it.  Returns a dict of figures and the final progress, read back from
    the reopened database.
    """
    import transaction

    from cybertools_tracking.db import open_db
    from cybertools_tracking.goals import CountTracker
    from cybertools_tracking.goals import KeyValueEQ
    from cybertools_tracking.goals import TrackingManager

    os.makedirs(var, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='goals-', dir=var)
    path = os.path.join(tmp, 'goals.fs')
    db = None
    try:
        transaction.abort()
        db = open_db(path)
        manager = TrackingManager(db)
        for gid, specs in workload['groups'].items():
            manager.add_trackers(gid, [
                CountTracker(s['name'],
                             [KeyValueEQ(k, v) for k, v in s['conditions']],
                             s['target'])
                for s in specs])
        transaction.commit()
        conn = manager.connection
        conn.cacheGC()
        stream = workload['items']
        if profile is not None:
            profile.enable()
        try:
            seconds, commit_seconds = _track_loop(
                manager, stream, transaction.commit, conn, commit_every)
        finally:
            if profile is not None:
                profile.disable()
        manager.close()
        db.close()
        size = os.path.getsize(path)
        # Durability: the progress that counts is what a freshly opened
        # database reads back from the file.
        db = open_db(path)
        manager = TrackingManager(db)
        progress = _final_progress(manager, workload['groups'])
        manager.close()
    finally:
        transaction.abort()
        if db is not None:
            db.close()
        shutil.rmtree(tmp, ignore_errors=True)
    items = len(stream)
    return {'items': items, 'seconds': seconds,
            'rate': items / seconds if seconds else float('inf'),
            'commit_seconds': commit_seconds, 'size': size,
            'progress': progress}


def profile_ours(workload, var=VAR, top=12):
    """Profile our side's tracking loop under cProfile.

    Returns the profiled loop's seconds and Markdown lines: the top
    functions by own time, then by cumulative time.
    """
    import cProfile
    import pstats

    profile = cProfile.Profile()
    run_ours(workload, var, profile=profile)
    stats = pstats.Stats(profile)
    total = stats.total_tt
    lines = []
    for title, column in (('own time', 2), ('cumulative time', 3)):
        rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][column])
        lines += ['', 'By %s:' % title, '',
                  '| function | calls | own s | cumulative s | %s %% |'
                  % title.split()[0], '|---|---|---|---|---|']
        for (filename, line, func), (cc, nc, tt, ct, callers) in rows[:top]:
            label = ('%s:%d(%s)' % (_short_path(filename), line, func)
                     if line else func)
            lines.append('| `%s` | %d | %.3f | %.3f | %.0f |' % (
                label, nc, tt, ct,
                100 * (tt, ct)[column - 2] / total if total else 0))
    return total, lines


def _short_path(filename):
    for marker in ('site-packages/', '/src/', 'lib/python'):
        i = filename.find(marker)
        if i >= 0:
            return filename[i + len(marker):]
    return os.path.basename(filename)


# -- dictrack's side ----------------------------------------------------------

def _venv_python(venv):
    return os.path.join(venv, 'bin', 'python')


def _dictrack_version(python):
    check = ('import importlib.metadata as m, dictrack.data_caches.memory;'
             'print(m.version("dictrack"))')
    try:
        done = subprocess.run([python, '-c', check], capture_output=True,
                              text=True, timeout=120, env=_clean_env())
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _clean_env():
    env = dict(os.environ)
    for name in ('PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV'):
        env.pop(name, None)
    return env


def ensure_dictrack(var=VAR, log=None):
    """Return ``(python, None)`` for a venv with dictrack, or ``(None, why)``.

    The venv is ``var/dictrack-venv``, created once and reused.
    """
    venv = os.path.join(var, 'dictrack-venv')
    python = _venv_python(venv)
    if (os.path.exists(python)
            and _dictrack_version(python) == DICTRACK_VERSION):
        return python, None
    os.makedirs(var, exist_ok=True)
    steps = []
    if not os.path.exists(python):
        steps.append(('python -m venv %s' % venv,
                      [sys.executable, '-m', 'venv', venv]))
    steps.append(('pip install "%s"' % DICTRACK_REQUIREMENT,
                  [python, '-m', 'pip', 'install', '--quiet',
                   '--disable-pip-version-check', DICTRACK_REQUIREMENT]))
    for label, step in steps:
        if log:
            log('  goals: running %s' % label)
        try:
            done = subprocess.run(step, capture_output=True, text=True,
                                  timeout=600, env=_clean_env())
        except (OSError, subprocess.TimeoutExpired) as error:
            return None, '`%s` failed: %s' % (label, error)
        if done.returncode:
            errors = [line for line in (done.stderr + done.stdout).splitlines()
                      if line.strip() and 'is ignored' not in line]
            return None, '`%s` failed: %s' % (
                label, ' / '.join(errors[-3:]) or
                'exit code %d' % done.returncode)
    version = _dictrack_version(python)
    if version != DICTRACK_VERSION:
        return None, ('dictrack %s not importable in %s (found %r)'
                      % (DICTRACK_VERSION, venv, version))
    return python, None


def run_dictrack(python, name, items, seed):
    """Run workload *name* on dictrack in its venv; its JSON, or raises."""
    done = subprocess.run(
        [python, DICTRACK_SIDE, '--workload', name, '--items', str(items),
         '--seed', str(seed)],
        capture_output=True, text=True, env=_clean_env(), timeout=3600)
    if done.returncode:
        tail = ' / '.join(done.stderr.strip().splitlines()[-3:])
        raise RuntimeError('dictrack side failed (exit %d): %s'
                           % (done.returncode, tail))
    return json.loads(done.stdout)


# -- the report ---------------------------------------------------------------

def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    return '%s, %d cores, Python %s, %s' % (
        cpu, os.cpu_count(), platform.python_version(), platform.system())


def save_report(var, stem, lines, figures):
    """Write the Markdown ``lines`` and the raw ``figures`` to
    ``var/stem.md`` and ``.json``; return the Markdown."""
    text = '\n'.join(lines)
    os.makedirs(var, exist_ok=True)
    with open(os.path.join(var, stem + '.md'), 'w') as f:
        f.write(text + '\n')
    with open(os.path.join(var, stem + '.json'), 'w') as f:
        json.dump(figures, f, indent=1, default=str)
    return text


def _param(params, name, default):
    if params is None:
        return default
    if isinstance(params, dict):
        value = params.get(name)
    else:
        value = getattr(params, name, None)
    return default if value is None else value


def _compare(ours, theirs):
    """(matched, number of trackers, the first few differences)."""
    keys = sorted(set(ours) | set(theirs))
    diffs = [(k, ours.get(k), theirs.get(k)) for k in keys
             if ours.get(k) != theirs.get(k)]
    return not diffs, len(keys), diffs[:5]


def _faster(best, new):
    """The faster of two runs; the progress must not depend on the run."""
    if best is None:
        return new
    if best['progress'] != new['progress']:
        raise RuntimeError('two runs of the same workload ended with '
                           'different progress')
    return new if new['seconds'] < best['seconds'] else best


def _load():
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def report(params=None, out=None, log=None):
    """Run both workloads on both sides; return Markdown lines.

    *params* is an argparse namespace or a dict (or None for the full
    sizes) with optional ``items`` (or ``goals_items``), ``seed``, ``var``,
    ``repeat`` (run each side that often and keep the fastest run; default
    1) and ``profile`` (True, False or ``'auto'``: profile our side when it
    misses the target).  Raw figures go into the dict *out* if given.
    """
    items = _param(params, 'goals_items', None) or _param(params, 'items',
                                                           ITEMS)
    seed = _param(params, 'seed', SEED)
    var = _param(params, 'var', VAR)
    profile = _param(params, 'profile', 'auto')
    repeat = max(1, int(_param(params, 'repeat', 1)))
    log = log or (lambda message: print(message, file=sys.stderr,
                                        flush=True))
    stamp = datetime.datetime.now().strftime('%Y-%m-%d %H:%M')
    results = {'date': stamp, 'machine': machine(), 'items': items,
               'seed': seed, 'repeat': repeat, 'load': _load(),
               'workloads': {}}

    log('  goals: preparing dictrack %s venv' % DICTRACK_VERSION)
    python, why = ensure_dictrack(var, log)
    if python:
        version = 'import platform; print(platform.python_version())'
        results['dictrack_python'] = subprocess.run(
            [python, '-c', version], capture_output=True, text=True,
            env=_clean_env()).stdout.strip()
    else:
        results['dictrack_error'] = why

    for name in WORKLOADS:
        workload = build_workload(name, items, seed)
        entry = results['workloads'][name] = {'digest': digest(workload)}
        for _ in range(repeat):
            log('  goals: workload %s, ours (%d items)' % (name, items))
            entry['ours'] = _faster(entry.get('ours'), run_ours(workload, var))
            if python and 'dictrack_error' not in entry:
                log('  goals: workload %s, dictrack' % name)
                try:
                    entry['dictrack'] = _faster(entry.get('dictrack'),
                                                run_dictrack(python, name,
                                                             items, seed))
                except (RuntimeError, ValueError, OSError,
                        subprocess.TimeoutExpired) as error:
                    entry['dictrack_error'] = str(error)
                    entry.pop('dictrack', None)
        theirs = entry.get('dictrack')
        if theirs:
            entry['ratio'] = entry['ours']['rate'] / theirs['rate']
            entry['same_input'] = theirs['digest'] == entry['digest']
            entry['matched'], entry['trackers'], entry['diffs'] = _compare(
                entry['ours']['progress'], theirs['progress'])
        del workload

    lines = ['### Goals: TrackingManager vs dictrack %s, %d items'
             % (DICTRACK_VERSION, items), '',
             'Run %s on %s%s; load average %s at the start; %s.'
             % (stamp, results['machine'],
                (' (dictrack side: Python %s, in its own venv)'
                 % results['dictrack_python'])
                if 'dictrack_python' in results else '',
                '-' if results['load'] is None else '%.2f' % results['load'],
                'one run per side' if repeat == 1 else
                'fastest of %d runs per side' % repeat), '',
             'Ours: FileStorage, `transaction.commit()` and `cacheGC()` every '
             '%d items, progress read back after reopening. dictrack: '
             '`MemoryDataCache`, in memory, no durability. Half of the '
             'trackers complete late (target 90 %% of their expected count), '
             'half never.' % COMMIT_EVERY, '']
    if not python:
        lines += ['**dictrack could not be installed, so only our side was '
                  'measured:** %s' % why, '']
    lines += ['| workload | ours items/s | dictrack items/s | ours/dictrack '
              '| progress matched |', '|---|---|---|---|---|']
    for name in WORKLOADS:
        entry = results['workloads'][name]
        ours, theirs = entry['ours'], entry.get('dictrack')
        if theirs:
            matched = '%s (%d trackers%s)' % (
                'yes' if entry['matched'] else '**NO**', entry['trackers'],
                '' if entry['same_input'] else ', **inputs differ**')
            cells = ('%.0f' % theirs['rate'], '%.1fx' % entry['ratio'],
                     matched)
        else:
            cells = ('-', '-', '-')
        lines.append('| (%s) %s | %.0f | %s | %s | %s |'
                     % ((name, TITLES[name], ours['rate']) + cells))
    lines.append('')
    for name in WORKLOADS:
        entry = results['workloads'][name]
        ours = entry['ours']
        done = sum(1 for p, c in ours['progress'].values() if c)
        lines.append(
            '- (%s): ours %.2f s, of which %.0f %% in commits; %d of %d '
            'trackers completed; FileStorage %.1f MB.'
            % (name, ours['seconds'],
               100 * ours['commit_seconds'] / ours['seconds'], done,
               len(ours['progress']), ours['size'] / 1e6))
        if 'dictrack_error' in entry:
            lines.append('- (%s): dictrack failed: %s'
                         % (name, entry['dictrack_error']))
        elif entry.get('dictrack'):
            lines[-1] += ' dictrack %.2f s.' % entry['dictrack']['seconds']
            for k, a, b in entry['diffs']:
                lines.append('  - differs: `%s` ours %r, dictrack %r'
                             % (k, a, b))
    ratios = [e['ratio'] for e in results['workloads'].values()
              if 'ratio' in e]
    short = [n for n, e in results['workloads'].items()
             if e.get('ratio', TARGET_RATIO) < TARGET_RATIO]
    if len(ratios) == len(WORKLOADS):
        lines += ['', 'Target (at least %.0fx dictrack, durable): %s.'
                  % (TARGET_RATIO, 'met' if not short else
                     '**missed** on (%s)' % ', '.join(short))]
    if profile is True or (profile == 'auto' and short):
        for name in (WORKLOADS if profile is True else short):
            log('  goals: profiling workload %s, ours (%d items)'
                % (name, items))
            total, table = profile_ours(build_workload(name, items, seed),
                                        var)
            lines += ['', 'Where our side spends its time in workload (%s): '
                      'the tracking loop (commits included) under cProfile, '
                      '%.2f s.' % (name, total)] + table
    lines.append('')

    for entry in results['workloads'].values():
        entry['ours'].pop('progress', None)
        if entry.get('dictrack'):
            entry['dictrack'].pop('progress', None)
    if out is not None:
        out['goals'] = results
    return lines


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--items', type=int, default=ITEMS,
                        help='data items per workload (default %(default)d)')
    parser.add_argument('--seed', type=int, default=SEED)
    parser.add_argument('--repeat', type=int, default=1,
                        help='runs per side; the fastest counts '
                             '(default %(default)d)')
    parser.add_argument('--var', default=VAR,
                        help='work directory (default benchmarks/var)')
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--profile', dest='profile', action='store_const',
                       const=True, default='auto',
                       help='always profile our side (default: only if it '
                            'misses the %.0fx target)' % TARGET_RATIO)
    group.add_argument('--no-profile', dest='profile', action='store_const',
                       const=False)
    args = parser.parse_args()
    out = {}
    lines = report(args, out)
    print(save_report(args.var, 'goals-last-run', lines, out))


if __name__ == '__main__':
    main()
