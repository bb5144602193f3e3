"""The command line: main() in-process against FileStorages in tmp_path,
plus the installed console script in real subprocesses."""

import csv
import datetime
import io
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
import transaction
from ZODB.FileStorage import FileStorage
from ZODB.POSException import ConflictError

from cybertools_tracking.check import check_storage
from cybertools_tracking.cli import main
from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking import db as db_module


@pytest.fixture
def run(capsys):
    """run(*argv) -> (exit code, stdout, stderr)."""
    def run(*argv):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err
    return run


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / 'tracking.fs')


def tracks_in(path, name='tracking'):
    """[(taskId, runId, userName, timeStamp, data)] stored, in id order."""
    database = open_db(path)
    try:
        with database.transaction() as connection:
            storage = get_storage(connection, name, create=False)
            return [(t.taskId, t.runId, t.userName, t.timeStamp, t.data)
                    for t in storage.values()]
    finally:
        database.close()


def local(*args):
    return int(datetime.datetime(*args).timestamp())


def jsonl(*records):
    return ''.join((r if isinstance(r, str) else json.dumps(r)) + '\n'
                   for r in records)


def write(tmp_path, text, name='in.jsonl'):
    path = tmp_path / name
    path.write_text(text, encoding='utf-8')
    return str(path)


def script():
    found = shutil.which('cybertools-tracking')
    if found is None:
        candidate = os.path.join(os.path.dirname(sys.executable),
                                 'cybertools-tracking')
        found = candidate if os.path.exists(candidate) else None
    if found is None:
        pytest.skip('the cybertools-tracking script is not installed')
    return found


# demo

def test_demo_fills_a_fresh_storage_and_refuses_a_used_one(run, db, tmp_path):
    started = time.perf_counter()
    code, first, err = run('--db', db, 'demo')
    assert time.perf_counter() - started < 3
    assert (code, err) == (0, '')
    assert 'python/intro' in first and 'stats/means' in first
    stored = tracks_in(db)
    assert 2000 < len(stored) < 5000

    # Run again on its own sample, the demo shows it again.
    code, again, err = run('--db', db, 'demo')
    assert (code, err, again) == (0, '', first)
    assert tracks_in(db) == stored

    # Once other tracks were added, it refuses.
    extra = tmp_path / 'extra.jsonl'
    extra.write_text('{"taskId": "t", "userName": "u", "data": {}}\n')
    assert run('--db', db, 'import', str(extra))[0] == 0
    stored = tracks_in(db)
    code, out, err = run('--db', db, 'demo')
    assert code == 1 and out == ''
    assert err.count('\n') == 1
    assert 'already has %d tracks' % len(stored) in err and '--force' in err
    assert tracks_in(db) == stored

    # --force starts over: the same sample, the same report.
    code, again, err = run('--db', db, 'demo', '--force')
    assert (code, err) == (0, '')
    assert again == first
    assert len(tracks_in(db)) == len(stored) - 1


def test_demo_plays_its_scenario(run, db):
    assert run('--db', db, 'demo')[0] == 0
    code, out, err = run('--db', db, 'runs', '--format', 'json')
    runs = {(r['taskId'], r['id']): r for r in json.loads(out)}
    means = [r for (task, _), r in runs.items() if task == 'stats/means']
    assert [(r['finished'], r['current']) for r in means] == [(True, False)]
    intro = sorted(r['id'] for (task, _), r in runs.items()
                   if task == 'python/intro')
    assert len(intro) == 2
    assert runs['python/intro', intro[0]]['current'] is False
    assert runs['python/intro', intro[1]]['current'] is True
    # No track of the closed course after its close.
    closed = runs['stats/means', means[0]['id']]['end']
    stored = tracks_in(db)
    assert max(ts for task, _, _, ts, _ in stored
               if task == 'stats/means') <= closed
    assert {frozenset(data) for *_, data in stored} == {
        frozenset({'page', 'score', 'duration'})}
    assert len({user for _, _, user, _, _ in stored}) == 20


def test_demo_leaves_other_objects_in_the_root_alone(run, db):
    database = open_db(db)
    with database.transaction() as connection:
        connection.root()['tracking'] = {'not': 'a storage'}
    database.close()
    code, out, err = run('--db', db, 'demo', '--force')
    assert code == 1
    assert "root['tracking'] is a dict" in err


# import

GOOD = [
    {'taskId': 't1', 'userName': 'u1', 'data': {'page': 1},
     'timeStamp': 1700000000},
    {'taskId': 't1', 'userName': 'u2', 'data': {'page': 2, 'x': [1, {}]},
     'timeStamp': 1700000001.0},     # whole seconds (1.9 is refused)
    {'taskId': 't2', 'userName': 'u1', 'data': {}, 'timeStamp': 1700000002,
     'runId': 0},
]


def test_import_good_lines(run, db, tmp_path):
    path = write(tmp_path, jsonl(*GOOD))
    code, out, err = run('--db', db, 'import', path)
    assert (code, out, err) == (0, 'imported 3 tracks, skipped 0 lines\n',
                                '')
    assert tracks_in(db) == [
        ('t1', 1, 'u1', 1700000000, {'page': 1}),
        ('t1', 1, 'u2', 1700000001, {'page': 2, 'x': [1, {}]}),
        ('t2', 2, 'u1', 1700000002, {}),
    ]
    # An explicit run number, and the options after the command.
    path = write(tmp_path, jsonl(dict(GOOD[0], runId=2, taskId='t2')),
                 'more.jsonl')
    assert run('import', path, '--db', db)[0] == 0
    assert tracks_in(db)[-1][:3] == ('t2', 2, 'u1')


def test_import_without_timestamp_uses_now(run, db, tmp_path):
    path = write(tmp_path, jsonl({'taskId': 't', 'userName': 'u',
                                  'data': {}}))
    before = int(time.time())
    assert run('--db', db, 'import', path)[0] == 0
    [(_, _, _, ts, _)] = tracks_in(db)
    assert before <= ts <= time.time()


BAD = [
    (2, 'not json', 'invalid JSON'),
    (3, '[1, 2]', 'expected a JSON object, got an array'),
    (4, '{"taskId": "t1", "data": {}}', "missing field 'userName'"),
    (5, '{"taskId": 5, "userName": "u", "data": {}}',
     'taskId must be a string, got 5'),
    (6, '{"taskId": "t", "userName": "u", "data": [1]}',
     'data must be a mapping'),
    (7, '{"taskId": "t", "userName": "u", "data": {}, "runId": 99}',
     'runId 99'),
    (8, '{"taskId": "t", "userName": "u", "data": {}, "runId": "1"}',
     'runId must be an int'),
    (9, '{"taskId": "t", "userName": "u", "data": {}, "timeStamp": "x"}',
     'timeStamp: expected seconds since the epoch'),
    (10, '{"taskId": "t", "userName": "u", "data": {}, "timestamp": 1}',
     "unknown field 'timestamp'"),
]


def mixed_input():
    """GOOD[0], the BAD lines 2-10, an empty line 11, then GOOD[1:]."""
    lines = [json.dumps(GOOD[0])] + [text for _, text, _ in BAD] + ['']
    return '\n'.join(lines + [json.dumps(r) for r in GOOD[1:]]) + '\n'


def test_import_skips_bad_lines_and_says_why(run, db, tmp_path):
    path = write(tmp_path, mixed_input())
    code, out, err = run('--db', db, 'import', path, '--batch', '2')
    assert code == 1
    assert out.startswith('imported 3 tracks, skipped %d lines; ' % len(BAD))
    messages = err.splitlines()
    assert len(messages) == len(BAD)
    for message, (number, _, reason) in zip(messages, BAD):
        assert message.startswith('cybertools-tracking: %s line %d: '
                                  % (path, number))
        assert reason in message
    assert [(t, u) for t, _, u, _, _ in tracks_in(db)] == [
        ('t1', 'u1'), ('t1', 'u2'), ('t2', 'u1')]


def hostile_input():
    """Lines the storage refused only after writing, or not at all, before
    it validated everything: GOOD[0], six bad lines 2-7, then GOOD[1:]."""
    deep = '{"a": ' * 500 + '{}' + '}' * 500
    lines = [
        json.dumps(GOOD[0]),
        '{"taskId": "t", "userName": "u", "data": {}, "timeStamp": 1e19}',
        '{"taskId": "t", "userName": "u", "data": {}, '
        '"timeStamp": -18446744073709551616}',
        '{"taskId": "t", "userName": "bad\\udcff", "data": {}}',
        '{"taskId": "\\udcff", "userName": "u", "data": {}}',
        '{"taskId": "t", "userName": "u", "data": %s}' % deep,
        '{"taskId": "t", "userName": "u", "data": {"n": %s}}' % ('9' * 5000),
    ]
    return '\n'.join(lines + [json.dumps(r) for r in GOOD[1:]]) + '\n'


def test_import_reports_hostile_lines_and_commits_none(run, db, tmp_path):
    path = write(tmp_path, hostile_input())
    code, out, err = run('--db', db, 'import', path, '--batch', '2')
    assert code == 1
    assert out.startswith('imported 3 tracks, skipped 6 lines; ')
    reasons = ['timeStamp must be a second of the years 1 to 9999',
               'timeStamp must be a second of the years 1 to 9999',
               "userName must be text that UTF-8 can encode, got "
               "'bad\\udcff'",
               'taskId must be text that UTF-8 can encode',
               'is nested more than 100 levels deep',
               'invalid JSON: Exceeds the limit']
    messages = err.splitlines()
    assert len(messages) == len(reasons)
    for number, (message, reason) in enumerate(zip(messages, reasons), 2):
        assert message.startswith('cybertools-tracking: %s line %d: '
                                  % (path, number))
        assert reason in message
    assert [(t, u) for t, _, u, _, _ in tracks_in(db)] == [
        ('t1', 'u1'), ('t1', 'u2'), ('t2', 'u1')]
    # What reads every task and user still works.
    assert run('--db', db, 'check')[0] == 0
    for command in ('stats', 'runs', 'query'):
        code, out, err = run('--db', db, command, *(
            ['--task', 't*'] if command == 'query' else []))
        assert (code, err) == (0, ''), command


def test_import_never_commits_a_line_that_failed_after_writing(
        run, db, tmp_path, monkeypatch):
    # An error the storage does not promise to raise before writing (a
    # bug, a goal that fails after the track was saved): the line is
    # reported and skipped, and the rest of its batch saved again.
    from cybertools_tracking.storage import TrackingStorage
    save = TrackingStorage.saveUserTrack

    def failing_save(self, taskId, runId, userName, data, **kw):
        result = save(self, taskId, runId, userName, data, **kw)
        if data.get('boom'):
            raise RuntimeError('failed after writing')
        return result

    monkeypatch.setattr(TrackingStorage, 'saveUserTrack', failing_save)
    records = [dict(GOOD[0], data={'i': i, 'boom': i in (2, 5)})
               for i in range(7)]
    path = write(tmp_path, jsonl(*records))
    code, out, err = run('--db', db, 'import', path, '--batch', '3')
    assert code == 1
    assert out.startswith('imported 5 tracks, skipped 2 lines; ')
    assert err.splitlines() == [
        'cybertools-tracking: %s line %d: cannot be saved: RuntimeError: '
        'failed after writing' % (path, number) for number in (3, 6)]
    assert [d['i'] for _, _, _, _, d in tracks_in(db)] == [0, 1, 3, 4, 6]
    assert run('--db', db, 'check')[0] == 0


def test_import_abort_keeps_earlier_batches_only(run, db, tmp_path):
    good = [{'taskId': 't', 'userName': 'u%d' % i, 'data': {'i': i},
             'timeStamp': 1700000000 + i} for i in range(1, 6)]
    path = write(tmp_path, jsonl(*good, '{"taskId": "t"}', good[0]))
    code, out, err = run('--db', db, 'import', path, '--batch', '2',
                         '--on-error', 'abort')
    assert code == 1
    # Lines 1-4 were committed in two batches; line 5 was in the batch
    # that line 6 spoiled; line 7 was never read.
    assert [u for _, _, u, _, _ in tracks_in(db)] == ['u1', 'u2', 'u3', 'u4']
    assert err == ("cybertools-tracking: %s line 6: missing fields "
                   "'userName', 'data'\n" % path)
    assert out == ('imported 4 tracks, skipped 0 lines; aborted at line 6, '
                   'the 1 track read since the last commit was not '
                   'stored\n')


def test_import_abort_in_the_first_batch_stores_nothing(run, db, tmp_path):
    path = write(tmp_path, jsonl(*GOOD[:2], '{"taskId": 1}', GOOD[2]))
    code, out, err = run('--db', db, 'import', path, '--on-error', 'abort')
    assert code == 1 and 'line 3:' in err
    # The (empty) storage is there: it is made in a transaction of its
    # own, so that processes starting on a new database all find one.
    assert tracks_in(db) == []


def test_import_from_stdin(run, db, monkeypatch):
    monkeypatch.setattr(sys, 'stdin', io.StringIO(
        '\n' + jsonl(*GOOD) + '\n   \n{oops\n'))
    code, out, err = run('--db', db, '--storage', 'other', 'import', '-')
    assert code == 1
    assert out == 'imported 3 tracks, skipped 1 line\n'
    assert err.startswith('cybertools-tracking: stdin line 7: invalid JSON')
    assert len(tracks_in(db, 'other')) == 3


def test_import_reads_bytes_and_reports_bad_encoding(run, db, tmp_path):
    path = tmp_path / 'in.jsonl'
    path.write_bytes(b'\xef\xbb\xbf' + json.dumps(GOOD[0]).encode() + b'\n'
                     + b'{"taskId": "\xff"}\n'
                     + json.dumps({'taskId': 't\u00e4', 'userName': 'm\u00fc',
                                   'data': {'s': '\u2713'}},
                                  ensure_ascii=False).encode() + b'\n')
    code, out, err = run('--db', db, 'import', path)
    assert code == 1 and 'line 2: not UTF-8' in err
    assert [(t, u, d) for t, _, u, _, d in tracks_in(db)] == [
        ('t1', 'u1', {'page': 1}), ('t\u00e4', 'm\u00fc', {'s': '\u2713'})]


def test_import_of_a_missing_file_creates_no_database(run, db, tmp_path):
    code, out, err = run('--db', db, 'import', tmp_path / 'nothing.jsonl')
    assert code == 1
    assert 'cannot read' in err and 'nothing.jsonl' in err
    assert not os.path.exists(db)


def test_import_retries_a_conflicting_commit(run, db, tmp_path, monkeypatch):
    open_db(db).close()     # a new database commits its root
    commit = transaction.TransactionManager.commit
    failures = []

    def flaky_commit(self):
        # The first commit with changes fails (opening a database commits
        # a transaction of its own, empty once the root exists).
        if not failures and self.get()._resources:
            failures.append(1)
            raise ConflictError('simulated')
        return commit(self)

    monkeypatch.setattr(transaction.TransactionManager, 'commit',
                        flaky_commit)
    monkeypatch.setattr(db_module, 'backoff_delay', lambda attempt: 0.001)
    path = write(tmp_path, jsonl(*GOOD))
    code, out, err = run('--db', db, 'import', path, '--batch', '2')
    assert failures and (code, err) == (0, '')
    assert len(tracks_in(db)) == 3     # each exactly once


def lose_the_first_batch_commit(monkeypatch, reaches_the_database):
    """The import's first batch commit fails as when its ZEO server goes
    away: before the commit reaches the database, or after (the reply is
    lost)."""
    from ZEO.Exceptions import ClientDisconnected
    from cybertools_tracking.cli import loading as cli
    real = cli.retry_transaction
    lost = []

    def retry_transaction(work, manager, **options):
        if not lost:
            lost.append(manager)
            commit = manager.commit

            def commit_and_lose():
                del manager.commit
                if reaches_the_database:
                    commit()
                raise ClientDisconnected('simulated')
            manager.commit = commit_and_lose
        return real(work, manager, **options)
    monkeypatch.setattr(cli, 'retry_transaction', retry_transaction)


@pytest.mark.parametrize('reaches_the_database', [False, True])
def test_import_redoes_a_batch_whose_commit_was_lost(
        run, db, tmp_path, monkeypatch, reaches_the_database):
    pytest.importorskip('ZEO')
    lose_the_first_batch_commit(monkeypatch, reaches_the_database)
    path = write(tmp_path, jsonl(*GOOD))
    code, out, err = run('--db', db, 'import', path, '--batch', '2')
    assert (code, out) == (0, 'imported 3 tracks, skipped 0 lines\n')
    assert err == 'cybertools-tracking: %s\n' % (
        'the batch in progress was committed before the server went away'
        if reaches_the_database else
        'saving again the 2 tracks read since the last commit')
    assert [u for _, _, u, _, _ in tracks_in(db)] == ['u1', 'u2', 'u1']


def test_import_redoes_the_batch_when_a_save_loses_the_server(
        run, db, tmp_path, monkeypatch):
    from ZEO.Exceptions import ClientDisconnected
    from cybertools_tracking.storage import TrackingStorage
    save = TrackingStorage.saveUserTrack
    calls = []

    def flaky_save(self, *args, **kw):
        calls.append(args)
        if len(calls) == 2:
            raise ClientDisconnected('simulated')
        return save(self, *args, **kw)
    monkeypatch.setattr(TrackingStorage, 'saveUserTrack', flaky_save)
    path = write(tmp_path, jsonl(*GOOD))
    code, out, err = run('--db', db, 'import', path)
    assert (code, out) == (0, 'imported 3 tracks, skipped 0 lines\n')
    assert err == ('cybertools-tracking: saving again the 1 track read '
                   'since the last commit\n')
    # Line 1, line 2 (lost), line 1 again, line 2 again, line 3.
    assert [args[2] for args in calls] == ['u1', 'u2', 'u1', 'u2', 'u1']
    assert [u for _, _, u, _, _ in tracks_in(db)] == ['u1', 'u2', 'u1']


def test_import_shows_progress_only_on_a_terminal(db, tmp_path, monkeypatch,
                                                  capsys):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    path = write(tmp_path, jsonl(*GOOD))
    terminal = Terminal()
    monkeypatch.setattr(sys, 'stderr', terminal)
    assert main(['--db', db, 'import', path, '--batch', '1']) == 0
    shown = terminal.getvalue()
    # A tqdm bar: the source, the percent of its bytes, the tracks.
    assert path in shown and '100%' in shown and '3 tracks' in shown
    monkeypatch.undo()
    assert main(['--db', db, 'import', path, '--batch', '1', '--again']) == 0
    assert capsys.readouterr().err == ''
    # Plain lines when asked, not on a terminal.
    assert main(['--db', db, 'import', path, '--batch', '1',
                 '--progress', '--again']) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith('%s: line 1 (' % path)
    assert '%), 1 track imported, 0 lines skipped, ' in lines[0]
    assert lines[0].endswith(' tracks/s')


# query

@pytest.fixture
def filled(run, db, tmp_path):
    records = []
    for day in (1, 2, 3):
        for user in ('sam', 'sara', 'bob'):
            for task in ('a/1', 'a/2', 'b/1'):
                records.append({
                    'taskId': task, 'userName': user,
                    'data': {'day': day, 'u': user},
                    'timeStamp': local(2024, 1, day, 12, len(records))})
    assert run('--db', db, 'import', write(tmp_path, jsonl(*records)))[0] == 0
    return db


def query(run, db, *args):
    code, out, err = run('--db', db, 'query', '--format', 'json', *args)
    assert (code, err) == (0, '')
    return json.loads(out)


def test_query_criteria(run, filled):
    db = filled
    found = query(run, db, '--user', 's*', '--task', 'a/1', '--id-order')
    assert [(t['userName'], t['data']['day']) for t in found] == [
        ('sam', 1), ('sara', 1), ('sam', 2), ('sara', 2), ('sam', 3),
        ('sara', 3)]
    # Newest first unless --id-order: the same tracks, from the last.
    assert query(run, db, '--user', 's*', '--task', 'a/1') == found[::-1]
    found = query(run, db, '--user', 'sam', '--user', 'bob',
                  '--task', 'a/*', '--from', '2024-01-02', '--to',
                  '2024-01-02')
    assert {(t['userName'], t['taskId']) for t in found} == {
        ('sam', 'a/1'), ('sam', 'a/2'), ('bob', 'a/1'), ('bob', 'a/2')}
    assert {t['data']['day'] for t in found} == {2}
    # Times as seconds; --to is inclusive.
    first = local(2024, 1, 1, 12, 0)
    found = query(run, db, '--from', first, '--to', first + 60)
    assert [t['timeStamp'] for t in found] == [first + 60, first]
    found = query(run, db, '--to', '2024-01-01T12:01')
    assert len(found) == 2
    found = query(run, db, '--from', '2024-01-03T12:25:00')
    assert [t['id'] for t in found] == ['0000027', '0000026']
    # Runs: each task got one, numbered in order of first use.
    assert {t['taskId'] for t in query(run, db, '--run', 2)} == {'a/2'}
    assert len(query(run, db, '--run', 1, '--run', 3)) == 18
    assert query(run, db, '--task', 'nothing') == []


def test_query_limit_and_order(run, filled):
    db = filled
    found = query(run, db, '--task', '*', '--limit', 2, '--id-order')
    assert [t['id'] for t in found] == ['0000001', '0000002']
    found = query(run, db, '--task', '*', '--limit', 2, '--newest-first')
    assert [t['id'] for t in found] == ['0000027', '0000026']
    # Newest first is the default; no criterion means every track.
    assert query(run, db, '--limit', 2) == found
    assert len(query(run, db)) == 27
    assert query(run, db, '--task', '*', '--limit', 0) == []
    code, out, err = run('--db', db, 'query', '--id-order', '--newest-first')
    assert code == 2 and '--id-order and --newest-first' in err


def test_query_formats(run, filled):
    db = filled
    args = ('--db', db, 'query', '--user', 'bob', '--task', 'b/1',
            '--limit', '2', '--id-order')
    as_list = query(run, *args[1:2], *args[3:])
    assert as_list[0] == {
        'id': '0000009', 'taskId': 'b/1', 'runId': 3, 'userName': 'bob',
        'timeStamp': local(2024, 1, 1, 12, 8),
        'data': {'day': 1, 'u': 'bob'}}

    code, out, err = run(*args, '--format', 'jsonl')
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == as_list

    code, out, err = run(*args)
    assert code == 0
    assert out.splitlines() == [
        'id       taskId  runId  userName  time                 data',
        '0000009  b/1     3      bob       2024-01-01 12:08:00  '
        '{"day":1,"u":"bob"}',
        '0000018  b/1     3      bob       2024-01-02 12:17:00  '
        '{"day":2,"u":"bob"}',
    ]
    code, out, err = run('--db', db, 'query', '--task', 'none')
    assert out.split() == ['id', 'taskId', 'runId', 'userName', 'time',
                           'data']


def test_query_usage_errors(run, filled):
    for bad in (('--from', 'yesterday'), ('--to', '2024-13-01'),
                ('--limit', '-1'), ('--run', '-1'), ('--format', 'xml')):
        code, out, err = run('--db', filled, 'query', '--task', '*', *bad)
        assert code == 2, bad
        assert bad[0] in err


# runs and stats

def test_runs(run, db, tmp_path):
    path = write(tmp_path, jsonl(*GOOD))
    assert run('--db', db, 'import', path)[0] == 0
    code, out, err = run('--db', db, 'runs')
    assert code == 0
    t0 = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(1700000000))
    t1 = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(1700000001))
    t2 = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(1700000002))
    assert out.splitlines() == [
        'id  taskId  start                end                  finished'
        '  current',
        '1   t1      %s  %s  no        *' % (t0, t1),
        '2   t2      %s  %s  no        *' % (t2, t2),
    ]
    code, out, err = run('--db', db, 'runs', '--task', 't2', '--format',
                         'json')
    assert json.loads(out) == [{'id': 2, 'taskId': 't2', 'start': 1700000002,
                                'end': 1700000002, 'finished': False,
                                'current': True}]
    assert run('--db', db, 'runs', '--task', 'none')[1].split() == [
        'id', 'taskId', 'start', 'end', 'finished', 'current']


def test_stats(run, db, tmp_path):
    assert run('--db', db, 'import', write(tmp_path, jsonl(*GOOD)))[0] == 0
    code, out, err = run('--db', db, 'stats', '--format', 'json')
    stats = json.loads(out)
    assert stats['fileSize'] == os.path.getsize(db)
    del stats['fileSize']
    assert stats == {'database': db, 'storage': 'tracking', 'tracks': 3,
                     'tasks': 2, 'users': 2, 'runs': 2, 'currentRuns': 2,
                     'finishedRuns': 0,
                     'tracksPerTask': {'t1': 2, 't2': 1},
                     'trackEvents': False}
    code, out, err = run('--db', db, 'stats')
    assert code == 0
    assert 'tracks:     3\n' in out and 'file size:' in out
    assert '  t1      2\n' in out


def test_stats_of_a_memory_database_has_no_file_size(run):
    code, out, err = run('--db', 'memory://', 'stats')
    assert code == 1 and "no tracking storage 'tracking'" in err


# databases

def test_reading_commands_do_not_write(run, filled):
    with open(filled, 'rb') as f:
        before = f.read()
    for command in (('query', '--task', '*'), ('runs',), ('stats',)):
        assert run('--db', filled, *command)[0] == 0
    with open(filled, 'rb') as f:
        assert f.read() == before


def test_reading_commands_need_a_database(run, tmp_path):
    missing = tmp_path / 'missing.fs'
    for command in (('query', '--task', '*'), ('runs',), ('stats',)):
        code, out, err = run('--db', missing, *command)
        assert code == 1, command
        assert err == ('cybertools-tracking: no database at %s (create one '
                       'with "import" or "demo", or name another with '
                       '--db)\n' % missing)
    assert not missing.exists()


def test_database_from_environment_and_default(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, jsonl(GOOD[0]))
    assert run('import', path)[0] == 0
    assert len(tracks_in(str(tmp_path / 'var' / 'tracking.fs'))) == 1
    monkeypatch.setenv('CYBERTOOLS_TRACKING_DB', str(tmp_path / 'env.fs'))
    assert run('import', path)[0] == 0
    assert len(tracks_in(str(tmp_path / 'env.fs'))) == 1
    # --db wins over the environment.
    default = str(tmp_path / 'var' / 'tracking.fs')
    assert run('--db', default, 'import', path, '--again')[0] == 0
    assert len(tracks_in(default)) == 2


def test_usage_errors(run, tmp_path):
    assert run()[0] == 2
    assert run('frobnicate')[0] == 2
    code, out, err = run('--db', 'nosuch://x', 'stats')
    assert code == 2 and 'nosuch://x' in err
    code, out, err = run('--help')
    assert code == 0 and 'import' in out and 'demo' in out


def test_a_broken_database_is_one_line(run, tmp_path):
    path = tmp_path / 'broken.fs'
    path.write_bytes(b'this is not a FileStorage')
    code, out, err = run('--db', path, 'stats')
    assert code == 1
    assert err.startswith('cybertools-tracking: cannot open the database')
    assert err.count('\n') == 1


# real processes

def test_console_script_end_to_end(tmp_path):
    command = [script(), '--db', str(tmp_path / 'db.fs')]
    done = subprocess.run(command + ['demo'], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert 'Filled the storage' in done.stdout
    done = subprocess.run(
        [sys.executable, '-m', 'cybertools_tracking', '--db',
         str(tmp_path / 'db.fs'), 'query', '--user', 'sam', '--limit', '3',
         '--format', 'json'],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [t['userName'] for t in json.loads(done.stdout)] == ['sam'] * 3
    done = subprocess.run(command + ['import', '-'], input='{"taskId": 1}\n',
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert 'stdin line 1:' in done.stderr


def test_a_locked_file_storage_is_a_clear_error(tmp_path):
    path = str(tmp_path / 'locked.fs')
    holder = FileStorage(path)      # this process holds the lock
    try:
        done = subprocess.run([script(), '--db', path, 'stats'],
                              capture_output=True, text=True, timeout=60)
    finally:
        holder.close()
    assert done.returncode == 1
    assert done.stdout == ''
    assert done.stderr.count('\n') == 1
    assert 'Traceback' not in done.stderr
    assert 'is in use by another process' in done.stderr
    assert path in done.stderr


def test_check_reports_a_consistent_storage_and_a_broken_one(tmp_path, capsys):
    import transaction
    from cybertools_tracking.db import get_storage, open_db
    path = str(tmp_path / 'c.fs')
    assert main(['--db', path, 'demo']) == 0
    capsys.readouterr()
    assert main(['--db', path, 'check']) == 0
    assert capsys.readouterr().out.startswith('consistent: 2843 tracks')
    db = open_db(path)
    conn = db.open()
    get_storage(conn)._tracks.pop(7)
    transaction.commit()
    conn.close()
    db.close()
    assert main(['--db', path, 'check']) == 1
    captured = capsys.readouterr()
    assert 'len() says 2843, there are 2842 tracks' in captured.out
    assert 'problems found' in captured.err


# paths and servers

@pytest.mark.parametrize('name', ['what?.fs', 'a b#c.fs', '100%.fs',
                                  'caf\u00e9.fs'])
def test_db_path_is_taken_literally(run, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, jsonl(*GOOD))
    code, out, err = run('--db', 'var/' + name, 'import', path)
    assert (code, err) == (0, '')
    assert (tmp_path / 'var' / name).is_file()
    assert [p.name for p in (tmp_path / 'var').iterdir()
            if not p.name.startswith(name)] == []
    code, out, err = run('--db', 'var/' + name, 'stats', '--format', 'json')
    assert code == 0 and json.loads(out)['tracks'] == 3
    # Reading commands look for the same file.
    code, out, err = run('--db', 'var/x' + name, 'stats')
    assert code == 1
    assert 'no database at %s' % (tmp_path / 'var' / ('x' + name)) in err


def test_wait_must_be_seconds(run):
    for bad in ('-1', 'soon', 'nan', 'inf'):
        code, out, err = run('--wait', bad, 'stats')
        assert code == 2 and '--wait' in err, bad


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_no_zeo_server_is_waited_for_then_a_clear_error(run):
    address = '127.0.0.1:%d' % free_port()
    started = time.monotonic()
    code, out, err = run('--db', 'zeo://' + address, '--wait', '1.5',
                         'stats')
    assert 1.5 <= time.monotonic() - started < 5
    assert (code, out) == (1, '')
    assert err.splitlines() == [
        'cybertools-tracking: waiting for the ZEO server at %s (up to 1.5 '
        'seconds) ...' % address,
        'cybertools-tracking: the ZEO server at %s did not answer for 1.5 '
        'seconds; is it running? ("cybertools-tracking zeo" serves a '
        'FileStorage)' % address]


def numbered_line(n):
    return json.dumps({'taskId': 't%d' % (n % 7), 'userName': 'u%d' % (n % 41),
                       'data': {'n': n}, 'timeStamp': 1700000000 + n}) + '\n'


class Import:
    """``cybertools-tracking import -`` in a process of its own, fed
    through a pipe by the test."""

    def __init__(self, uri, *options):
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'cybertools_tracking', '--db', uri,
             'import', '-', '--batch', '100', *options],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self.fed = 0

    def feed(self, count):
        self.process.stdin.write(''.join(
            numbered_line(n) for n in range(self.fed, self.fed + count)))
        self.process.stdin.flush()
        self.fed += count

    def finish(self):
        out, err = self.process.communicate(timeout=120)
        return self.process.returncode, out, err


def stored(uri):
    """[(taskId, userName, n)] of the tracks in the database at uri."""
    db = open_db(uri)
    try:
        with db.transaction() as connection:
            storage = get_storage(connection, create=False)
            return [(t.taskId, t.userName, t.data['n'])
                    for t in storage.values()]
    finally:
        db.close()


def wait_until_stored(uri, count, timeout=60):
    db = open_db(uri)
    try:
        deadline = time.monotonic() + timeout
        while True:
            with db.transaction() as connection:
                storage = connection.root().get('tracking')
                if storage is not None and len(storage) >= count:
                    return
            assert time.monotonic() < deadline, 'the import did not commit'
            time.sleep(0.1)
    finally:
        db.close()


def kill(server):
    server.kill()                   # no goodbye: as in a crash
    server.wait()


@pytest.fixture
def zeo_path(tmp_path):
    pytest.importorskip('ZEO')
    return str(tmp_path / 'zeo' / 'tracking.fs')


def test_import_waits_for_a_restarted_zeo_server(zeo_path):
    from tests.conftest import start_zeo, stop
    server, uri = start_zeo(zeo_path)
    address = uri[len('zeo://'):]
    load = Import(uri, '--wait', '60')
    try:
        load.feed(1000)
        wait_until_stored(uri, 1000)        # ten batches committed
        load.feed(50)                       # half a batch, not committed
        time.sleep(0.5)
        kill(server)
        time.sleep(0.5)
        load.feed(100)                      # read while the server is away
        time.sleep(2)
        server, _ = start_zeo(zeo_path, int(address.rsplit(':', 1)[1]))
        load.feed(1850)
        code, out, err = load.finish()
    finally:
        load.process.kill()
        stop(server)
    tracks = stored(zeo_path)       # the file itself: faster than loads
    assert (code, out) == (0, 'imported 3000 tracks, skipped 0 lines\n'), err
    lines = err.splitlines()
    assert lines[:2] == [
        'cybertools-tracking: the ZEO server at %s went away; waiting for '
        'it (up to 60 seconds) ...' % address,
        'cybertools-tracking: connected to the ZEO server at %s' % address]
    # The batch in progress was saved again, once.
    assert lines[2:] == ['cybertools-tracking: saving again the 50 tracks '
                         'read since the last commit']
    # Every line exactly once.
    assert len(tracks) == 3000
    assert sorted(n for _, _, n in tracks) == list(range(3000))
    assert len(set(tracks)) == 3000
    db = open_db(zeo_path)
    with db.transaction() as connection:
        assert check_storage(get_storage(connection, create=False)) == []
    db.close()


def test_import_stops_when_the_zeo_server_stays_away(zeo_path):
    from tests.conftest import start_zeo, stop
    server, uri = start_zeo(zeo_path)
    address = uri[len('zeo://'):]
    load = Import(uri, '--wait', '2')
    try:
        load.feed(1000)
        wait_until_stored(uri, 1000)
        load.feed(50)
        time.sleep(0.5)
        kill(server)
        started = time.monotonic()
        time.sleep(0.5)
        load.feed(150)
        code, out, err = load.finish()
        took = time.monotonic() - started
        server, _ = start_zeo(zeo_path, int(address.rsplit(':', 1)[1]))
        tracks = stored(uri)
    finally:
        load.process.kill()
        stop(server)
    assert code == 1
    assert 2 <= took < 2 + 5, (out, err)
    assert err.splitlines() == [
        'cybertools-tracking: the ZEO server at %s went away; waiting for '
        'it (up to 2 seconds) ...' % address,
        'cybertools-tracking: the ZEO server at %s did not answer for 2 '
        'seconds; is it running? ("cybertools-tracking zeo" serves a '
        'FileStorage)' % address]
    # It stopped at the first line read while the server was away; the
    # 1000 tracks committed before are stored, line 1001 is next.
    assert out == ('imported 1000 tracks, skipped 0 lines; stopped at line '
                   '1051, the 50 tracks read since the last commit were not '
                   'stored; resume from line 1001\n')
    assert sorted(n for _, _, n in tracks) == list(range(1000))


# the package

def test_every_command_says_what_it_does_with_an_example(run):
    from cybertools_tracking.cli import make_parser
    parser = make_parser()
    names = [action for action in parser._subparsers._group_actions
             ][0].choices
    assert {'demo', 'import', 'query', 'runs', 'stats', 'check',
            'zeo'} <= set(names)
    for name in names:
        code, out, err = run(name, '--help')
        assert code == 0, name
        assert 'example:\n  cybertools-tracking ' in out, name
        description = out.split('\n\n')[1]
        assert len(description.split()) >= 4, (name, description)


def test_the_demo_leaves_no_marker_in_the_storage(run, db):
    from cybertools_tracking.storage import TrackingStorage
    assert run('--db', db, 'demo')[0] == 0
    database = open_db(db)
    try:
        with database.transaction() as connection:
            storage = get_storage(connection, create=False)
            storage._p_activate()
            own = set(storage.__dict__) - set(TrackingStorage().__dict__)
            assert own == set()
    finally:
        database.close()


def test_import_twice_with_event_ids_stores_each_track_once(run, db,
                                                            tmp_path):
    records = [dict(r, eventId='e%d' % n) for n, r in enumerate(GOOD)]
    path = write(tmp_path, jsonl(*records))
    assert run('--db', db, 'import', path)[:2] == (
        0, 'imported %d tracks, skipped 0 lines\n' % len(GOOD))
    stored = tracks_in(db)
    assert run('--db', db, 'import', path, '--again')[:2] == (
        0, 'imported 0 tracks, skipped 0 lines, %d lines with event ids '
        'stored before\n' % len(GOOD))
    assert tracks_in(db) == stored
    changed = dict(records[0], data={'page': 99})
    code, out, err = run('--db', db, 'import', write(tmp_path, jsonl(changed),
                                                     'changed.jsonl'))
    assert code == 1
    assert 'eventId "e0" names track 0000001' in err
    assert tracks_in(db) == stored


def test_query_writes_event_ids_in_every_format(run, db, tmp_path):
    records = [dict(GOOD[0], eventId='e-1'), GOOD[2]]
    assert run('--db', db, 'import', write(tmp_path, jsonl(*records)))[0] == 0
    code, out, err = run('--db', db, 'query', '--task', '*', '--format', 'csv',
                         '--id-order')
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [row['eventId'] for row in rows] == ['e-1', '']
    for format in ('json', 'jsonl'):
        out = run('--db', db, 'query', '--task', '*', '--format', format,
                  '--id-order')[1]
        found = (json.loads(out) if format == 'json'
                 else [json.loads(line) for line in out.splitlines()])
        assert [t.get('eventId') for t in found] == ['e-1', None], format
        assert 'eventId' not in found[1]
