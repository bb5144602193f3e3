"""The commands that look after a database: ``prune`` and ``forget-user``
remove tracks, ``pack`` gives the space back, ``upgrade`` converts a
storage of an older layout, ``zeo`` serves a file.

Removing is done in batches, one transaction each, so that memory stays
small and other writers are not held up; an interrupted removal leaves
whole batches removed, and running it again finishes it. What is not
changed, and why:

- goal progress: goals count a track once, when it is saved, so progress
  is a function of the tracks saved, not of those kept (``forget-user``
  removes the user's goal copies, their history records and leaderboard
  entries, though); ``prune --history`` and ``--events`` remove old
  outcome records and outbox events, and leave progress as it is;
- runs: a run keeps its number, task and times when its last track goes,
  so that runs stay numbered as before and a current run stays current.

A FileStorage keeps old versions of records until it is packed: removing
makes the file bigger at first (the removal is appended); ``pack`` writes
the live records to a new file.
"""

import json
import os
import sys

from cybertools_tracking.cli.common import COMMIT_ATTEMPTS, EXIT_DATA
from cybertools_tracking.cli.common import EXIT_OK
from cybertools_tracking.cli.common import EXIT_USAGE, TIME_HELP
from cybertools_tracking.cli.common import CommandError, Progress
from cybertools_tracking.cli.common import check_pattern, did_you_mean
from cybertools_tracking.cli.common import count as counted
from cybertools_tracking.cli.common import connection, db_arg
from cybertools_tracking.cli.common import existing_storage
from cybertools_tracking.cli.common import non_negative_int, parse_time
from cybertools_tracking.cli.common import positive_int, storage_name
from cybertools_tracking.cli.formatting import size
from cybertools_tracking.db import file_path, get_storage
from cybertools_tracking.db import retry_transaction

NOT_MOVED = ('goal progress is not changed (goals count a track when it '
             'is saved); runs are kept')


def add_commands(command):
    prune = command(
        'prune', run_prune, 'remove the tracks older than a date (of some '
        'tasks, or all), in batches; goal progress and runs are kept. '
        '"pack" gives the space back',
        'cybertools-tracking prune --before 2025-01-01 --task '
        "'python/*' --dry-run")
    prune.add_argument('--before', metavar='TIME', required=True,
                       help='remove tracks earlier than this (not at it): '
                            + TIME_HELP)
    prune.add_argument('--task', action='append', metavar='TASK_ID',
                       help='only tracks of this task (a trailing * is a '
                            'prefix); repeat for any of several')
    prune.add_argument('--history', action='store_true',
                       help='also remove the goal history records (outcomes) '
                            'older than --before; goal progress is kept')
    prune.add_argument('--events', action='store_true',
                       help='also remove the outbox events committed before '
                            '--before (a forwarder that has not read them '
                            'yet will not see them)')
    _removal_options(prune)

    forget = command(
        'forget-user', run_forget, 'remove every track of one user, with '
        'their goals (their group and per-user copies of task goals, with '
        'their progress and outcomes; a team goal of other groups left '
        'unable to complete without them goes too): the right to erasure. '
        '"pack" then removes the old versions from the file',
        'cybertools-tracking forget-user anna --dry-run')
    forget.add_argument('user', metavar='NAME',
                        help='the user name, exactly (no prefix)')
    _removal_options(forget)

    pack = command(
        'pack', run_pack, 'pack the database: drop the records no longer '
        'used and old versions of records (FileStorage: writes a new file '
        'and reports the sizes; ZEO: asks the server; RelStorage: see '
        'zodbpack)',
        'cybertools-tracking pack --days 7')
    pack.add_argument('--days', metavar='N', type=non_negative_int,
                      default=0,
                      help='keep the history of the last N days (default '
                           '0: keep only the current state)')

    upgrade = command(
        'upgrade', run_upgrade, 'convert a storage written before the row '
        'layout, and give the trees of the first row layout bigger buckets, '
        'in batches, each committed (run it again to go on after a stop); '
        'make a storage that writes its rows as pickles write them with '
        'marshal, which earlier versions cannot read (upgrade every process '
        'first); bring the goal registry to its current shape',
        'cybertools-tracking upgrade --batch 5000')
    upgrade.add_argument('--batch', metavar='N', type=positive_int,
                         default=5000,
                         help='tracks per transaction (default 5000)')

    zeo = command('zeo', run_zeo, 'serve a FileStorage with ZEO, so that '
                  'several processes can use it (zeo://HOST:PORT)',
                  'cybertools-tracking zeo var/tracking.fs --port 8100 &')
    zeo.add_argument('path', metavar='PATH', nargs='?',
                     default=os.path.join('var', 'tracking.fs'),
                     help='the FileStorage file (default var/tracking.fs)')
    zeo.add_argument('--host', default='127.0.0.1',
                     help='the address to listen on (default 127.0.0.1: '
                          'ZEO has no authentication)')
    zeo.add_argument('--port', type=non_negative_int, default=8100,
                     help='the port (default 8100; 0 picks a free one)')


def _removal_options(parser):
    parser.add_argument('--dry-run', action='store_true',
                        help='count what would be removed, remove nothing')
    parser.add_argument('--batch', metavar='N', type=positive_int,
                        default=1000,
                        help='remove N tracks per transaction (default '
                             '1000)')
    parser.add_argument('--progress', action='store_true',
                        help='print a progress line now and then even when '
                             'stderr is not a terminal')


def remove_tracks(args, manager, conn, tracks, desc):
    """Remove ``tracks`` (found in ``conn``), ``args.batch`` a
    transaction, with progress; returns how many were removed (those
    removed meanwhile by another writer are not counted)."""
    # Track ids, never reused, name the tracks across the transactions
    # (a track object is a view of its row in one transaction).
    tracks = [track.__name__ for track in tracks]
    progress = Progress(desc, len(tracks), 'tracks', args.progress)
    removed = 0
    try:
        for start in range(0, len(tracks), args.batch):
            chunk = tracks[start:start + args.batch]

            def work():
                storage = get_storage(conn, storage_name(args),
                                      create=False)
                count = 0
                for trackId in chunk:
                    track = storage.get(trackId)
                    if track is not None:
                        storage.removeTrack(track)
                        count += 1
                return count
            manager.abort()
            removed += retry_transaction(work, manager,
                                         attempts=COMMIT_ATTEMPTS)
            conn.cacheGC()
            done = start + len(chunk)
            progress.update(done, '%d of %d tracks removed%s, %.0f/s'
                            % (removed, len(tracks), progress.share(done),
                               removed / progress.seconds()),
                            '%d removed' % removed)
    finally:
        progress.close()
    return removed


def run_prune(args):
    try:
        before = parse_time(args.before)
    except ValueError as problem:
        raise CommandError('--before: %s' % problem, EXIT_USAGE) from None
    if args.task and (args.history or args.events):
        raise CommandError('--history and --events remove what is older '
                           'than --before in every task; they do not go '
                           'with --task', EXIT_USAGE)
    for task in args.task or ():
        check_pattern('--task', task)
    criteria = {'timeTo': before - 1}
    if args.task:
        criteria['taskId'] = args.task
    with connection(args, write=False) as (manager, conn):
        storage = existing_storage(conn, args)
        total = len(storage)
        tracks = storage.query(**criteria)
        what = 'tracks before %s%s' % (
            args.before, '' if not args.task
            else ' of ' + ', '.join(args.task))
        if args.dry_run:
            also = _prune_goal_data(args, manager, conn, before, dry=True)
            print('would remove %d of %s (%s)%s; %s'
                  % (len(tracks), counted(total, 'track'), what, also,
                     NOT_MOVED))
            return EXIT_OK
        removed = remove_tracks(args, manager, conn, tracks, 'prune')
        also, removed_also = _prune_goal_data(args, manager, conn, before,
                                              counts=True)
        left = len(get_storage(conn, storage_name(args), create=False))
    # Only a removal leaves old versions for pack to drop.
    pack = (' Run "pack" to make the file smaller.'
            if removed or removed_also else ' Nothing was removed.')
    print('removed %s %s, %s left%s; %s.%s'
          % (removed, what, counted(left, 'track'), also, NOT_MOVED, pack))
    return EXIT_OK


def _prune_goal_data(args, manager, conn, before, dry=False, counts=False):
    """With ``--history`` and ``--events``: remove the goal history records
    and outbox events older than *before* (*dry*: count them in a
    transaction that is aborted); returns the words for the report (with
    *counts*: and how many were removed in all)."""
    said = ''
    total = 0

    def storage():
        return get_storage(conn, storage_name(args), create=False)

    def step(work):
        # One transaction: committed (with retries), or with *dry* aborted.
        manager.abort()
        if not dry:
            return retry_transaction(work, manager, attempts=COMMIT_ATTEMPTS)
        try:
            return work()
        finally:
            manager.abort()

    if args.history:
        # In batches of --batch; a dry run counts them all at once.
        limit = None if dry else args.batch
        removed = count = step(lambda: storage().goals.prune_history(
            before, limit=limit))
        while limit is not None and count == limit:
            count = step(lambda: storage().goals.prune_history(
                before, limit=limit))
            removed += count
        said += ', ' + counted(removed, 'goal history record')
        total += removed
    if args.events:
        dropped = step(lambda: storage().events.prune(0, now=before))
        said += ', ' + counted(dropped, 'outbox event')
        total += dropped
    return (said, total) if counts else said


def run_forget(args):
    from cybertools_tracking.goals.interfaces import GoalError
    name = args.user
    with connection(args, write=False) as (manager, conn):
        storage = existing_storage(conn, args)
        # A name ending in * is a prefix to query: keep exact matches.
        tracks = [t for t in storage.query(userName=name)
                  if t.userName == name]
        groups = _goal_groups(storage, name)
        if not tracks and not groups:
            raise CommandError(_no_such_user(storage, name))
        # Erased in a transaction that is aborted: the same counting, and
        # a goal the erasure would leave out of reach (a team composite
        # of the user's goal alone) refused before any track goes.
        try:
            dropped = [found for group in groups for found in
                       storage.goals.composites_removed_with(group)]
            trackers, records, entries = _forget_goals(storage, groups)
        except GoalError as error:
            manager.abort()
            raise CommandError('%s; nothing was changed' % error, EXIT_DATA)
        if args.dry_run:
            events = storage.events.forget(groups, [name])
            manager.abort()
            print('would remove %s of %r, %s%s'
                  % (counted(len(tracks), 'track'), name,
                     _goal_counts(len(groups), trackers, records, entries,
                                  events), _dropped(dropped, 'would go')))
            return EXIT_OK
        manager.abort()
        removed = remove_tracks(args, manager, conn, tracks, 'forget-user')
        manager.abort()
        trackers, records, entries = retry_transaction(
            lambda: _forget_goals(existing_storage(conn, args), groups),
            manager, attempts=COMMIT_ATTEMPTS)
        events = _forget_events(args, manager, conn, groups, [name])
    print('removed %s of %r and %s%s. Old versions stay in the database '
          'file until "pack".'
          % (counted(removed, 'track'), name,
             _goal_counts(len(groups), trackers, records, entries, events),
             _dropped(dropped, 'went')))
    return EXIT_OK


def _no_such_user(storage, name):
    """The message for a user name with neither tracks nor goals, with the
    stored names closest to it: the same but for case, then difflib's
    closest (a ratio of at least 0.6).  Names are those of the tracks'
    users and of the goal groups (a group with goals and no tracks is
    forgotten as a user is), with the user of a task group."""
    names = set()
    for task in storage.getTaskIds():
        names.update(storage.getUserNames(task))
    names.update(_goal_group_names(storage))
    hint = (did_you_mean(name, names)
            or '; names are matched exactly, as stored')
    return ('no user %r in the storage: no tracks and no goals of that name '
            '(%s stored); nothing was changed%s'
            % (name, counted(len(names), 'user name'), hint))


def _goal_group_names(storage):
    """The names ``forget-user`` takes for the goal groups: a group's id,
    or for a user's copies of a task's templates (``task_group``) the
    user's name."""
    from cybertools_tracking.tracked_goals import binding_of, task_group
    binding = binding_of(storage)
    if binding is None:
        return set()
    names = set()
    for group_id in binding.registry.groups.keys():
        if group_id.startswith('['):
            try:
                task, user = json.loads(group_id)
            except (ValueError, TypeError):
                pass
            else:
                if (isinstance(user, str)
                        and task_group(task, user) == group_id):
                    names.add(user)
                    continue
        names.add(group_id)
    return names


def _dropped(composites, verb):
    """The words for the composites of other groups an erasure removes
    (``composites_removed_with``: left unable to complete), or ''."""
    if not composites:
        return ''
    return ('; %s %s %s too (without the user %s could not complete; '
            'history records stay)'
            % ('the composite' if len(composites) == 1
               else 'the %d composites' % len(composites),
               ', '.join('%r of group %r' % (n, g) for g, n in composites),
               verb, 'it' if len(composites) == 1 else 'they'))


def _goal_counts(groups, trackers, records, entries, events):
    return ('%s with %s (progress), %s, %s and %s'
            % (counted(groups, 'goal group'), counted(trackers, 'tracker'),
               counted(records, 'history record'),
               counted(entries, 'leaderboard entry', 'leaderboard entries'),
               counted(events, 'outbox event')))


def _forget_events(args, manager, conn, groups, users):
    """Drop the outbox events of *groups* and *users*, ``args.batch`` a
    transaction; how many were dropped."""
    def work():
        return existing_storage(conn, args).events.forget(
            groups, users, limit=args.batch)
    dropped, count = 0, args.batch
    while count == args.batch:
        manager.abort()
        count = retry_transaction(work, manager, attempts=COMMIT_ATTEMPTS)
        dropped += count
    return dropped


def _forget_goals(storage, groups):
    """Erase the goal *groups* (``forget_group``); the sums of what was
    removed: (trackers, history records, leaderboard entries)."""
    found = [storage.goals.forget_group(group) for group in groups]
    return tuple(sum(counts) for counts in zip((0, 0, 0), *found))


def _goal_groups(storage, userName):
    """The goal groups holding ``userName``'s goals: the group of the
    user, and their copies of the task templates (see tracked_goals)."""
    from cybertools_tracking.tracked_goals import binding_of, task_group
    binding = binding_of(storage)
    if binding is None:
        return []
    tasks = set(storage.getTaskIds()) | set(binding.templates.keys())
    candidates = [userName] + [task_group(task, userName)
                               for task in sorted(tasks)]
    return [group for group in candidates
            if binding.registry.get(group) is not None]


def run_pack(args):
    uri = db_arg(args)
    path = file_path(uri)
    with connection(args, write=False) as (manager, conn):
        db = conn.db()
        kind = type(db.storage).__name__
        if path is not None:
            print(_pack_file(db, path, args.days))
            return EXIT_OK
        if kind == 'ClientStorage':
            db.pack(days=args.days)
            print('the ZEO server packed its storage (%s); its file\'s '
                  'size shows on the server' % uri)
            return EXIT_OK
        if kind == 'RelStorage':
            db.pack(days=args.days)
            print('packed the RelStorage database %s. For a big database, '
                  'run RelStorage\'s zodbpack from cron instead (it can '
                  'pack in the background); a history-free database only '
                  'drops records no longer reachable, with no old '
                  'versions to remove' % uri)
            return EXIT_OK
        raise CommandError('nothing to pack in %s (a %s keeps no history)'
                           % (uri, kind))


def _pack_file(db, path, days):
    """Pack the FileStorage ``db`` at ``path``; what came of it, as a
    sentence that names only files that are there.

    FileStorage deletes the ``.old`` file of an earlier pack first, then
    keeps the file as it was as ``.old`` only if the pack wrote a new one.
    The earlier ``.old`` is set aside during the pack and put back when no
    new one was written: a backup stays until a newer one replaces it.
    """
    old = path + '.old'
    aside = old + '.aside'
    had_old = os.path.exists(old)
    if had_old:
        os.replace(old, aside)
    before = os.path.getsize(path)
    wrote = False
    try:
        db.pack(days=days)
    finally:
        wrote = os.path.exists(old)
        if had_old:
            if wrote:
                os.remove(aside)
            else:
                os.replace(aside, old)
    after = os.path.getsize(path)
    said = ('packed %s: %s before, %s after (%d and %d bytes)'
            % (path, size(before), size(after), before, after))
    if wrote:
        return ('%s; the file as it was is kept as %s (%s: delete it to '
                'free the space; the next pack that drops something '
                'replaces it)' % (said, old, size(os.path.getsize(old))))
    return ('%s; nothing to drop%s, the file was left as it was%s'
            % (said, ' older than %s' % counted(days, 'day') if days else '',
               '; the backup of an earlier pack is still kept as %s' % old
               if had_old else ''))


def run_upgrade(args):
    # tqdm: a progress bar for a conversion that takes minutes on millions
    # of tracks (see upgrade); it writes to stderr, only on a terminal.
    from tqdm import tqdm

    from cybertools_tracking.upgrade import needs_upgrade, old_trees
    from cybertools_tracking.upgrade import renew_trees, upgrade, use_marshal
    name = storage_name(args)
    with connection(args, write=False) as (manager, conn):
        storage = conn.root().get(name)
        if storage is None:
            existing_storage(conn, args)      # says what is wrong
        converted = needs_upgrade(storage)
        if converted:
            new = storage.__dict__.get('_store')    # a stopped upgrade's
            done = 0 if new is None else sum(1 for _ in new.numbers())
            with tqdm(total=len(storage), initial=done, unit=' tracks',
                      file=sys.stderr, disable=None) as bar:
                count = upgrade(conn.db(), name, args.batch, bar.update)
            print('converted %d tracks of storage %r to the row layout'
                  % (done + count, name))
            manager.abort()                 # see the conversion's commits
        old = old_trees(storage)
        if old:
            # Trees of the first row layout: bigger buckets (see upgrade).
            with tqdm(total=old, unit=' trees', file=sys.stderr,
                      disable=None) as bar:
                count = renew_trees(conn.db(), name, progress=bar.update)
            print('renewed %d combination trees and registry shards of '
                  'storage %r' % (count, name))
        # Row groups written with marshal from now on (see upgrade): this
        # version's processes read both, older ones only pickles.
        manager.abort()
        marshalled = retry_transaction(lambda: use_marshal(storage),
                                       manager)
        if marshalled:
            print('storage %r writes its rows with marshal from now on '
                  '(faster to read); a process still running an earlier '
                  'cybertools-tracking cannot read them: restart every '
                  'process (every ZEO client) on this version' % name)
        # The goal registry (goals/upgrade.py): sharded groups, the index
        # of due times. The first full "goals tick" would do it as well.
        manager.abort()
        goals = retry_transaction(storage.goals.upgrade_registry, manager)
        if goals:
            print('upgraded the goal registry of storage %r: %s'
                  % (name, ', '.join(goals)))
        if not (converted or old or marshalled or goals):
            print('storage %r has the current row layout and goal registry '
                  'already: nothing to do' % name)
    return EXIT_OK


def run_zeo(args):
    from cybertools_tracking.zeoserver import serve
    serve(args.path, args.host, args.port,
          announce=lambda line: print(line, flush=True))
    return EXIT_OK
