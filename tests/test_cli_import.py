"""import: resumable after Ctrl-C, SIGTERM and SIGKILL, changed files
refused, rejects, gzip input, ISO 8601 times; query --run 0."""

import contextlib
import gzip
import io
import json
import os
import re
import signal
import subprocess
import sys

import pytest

from cybertools_tracking.cli import main
from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.imports import import_progress

from tests.test_cli import jsonl, tracks_in, write


def cli(*argv):
    """cli(*argv) -> (exit code, stdout, stderr) of the command line."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def run():
    return cli


def ctrl_c_at(monkeypatch, n):
    """Ctrl-C comes as the track numbered ``n`` is saved."""
    from cybertools_tracking.cli import loading
    real = loading._save

    def save(storage, record, *more):
        if record.get('data', {}).get('n') == n:
            raise KeyboardInterrupt
        return real(storage, record, *more)
    monkeypatch.setattr(loading, '_save', save)


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / 'tracking.fs')


def numbered(count, start=0):
    return jsonl(*({'taskId': 't%d' % (n % 3), 'userName': 'u%d' % (n % 7),
                    'data': {'n': n}, 'timeStamp': 1_700_000_000 + n}
                   for n in range(start, start + count)))


def numbers(db):
    return sorted(data['n'] for *_, data in tracks_in(db))


def progress_of(db, path):
    database = open_db(db)
    try:
        with database.transaction() as connection:
            found = import_progress(connection, 'tracking',
                                    os.path.abspath(path))
            return None if found is None else (found.line, found.offset,
                                                found.imported, found.done)
    finally:
        database.close()


def start_import(db, path, *options):
    return subprocess.Popen(
        [sys.executable, '-m', 'cybertools_tracking', '--db', db, 'import',
         path, '--progress', *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stopped_at_15_of_20(db, tmp_path, monkeypatch):
    """Write 20 numbered lines and import them in batches of 5, stopped
    by Ctrl-C at the line of track 15: tracks 0 to 14 are stored. Returns
    the file's path."""
    path = write(tmp_path, numbered(20))
    ctrl_c_at(monkeypatch, 15)
    assert cli('--db', db, 'import', path, '--batch', '5')[0] == 130
    monkeypatch.undo()
    return path


def wait_for_a_commit(process):
    line = process.stderr.readline()      # --progress: after the first
    assert ': line ' in line, line


@pytest.mark.parametrize('how', ['SIGKILL', 'SIGTERM'])
def test_an_import_stopped_by_a_signal_resumes_exactly(run, db, tmp_path,
                                                       how):
    path = write(tmp_path, numbered(30000))
    process = start_import(db, path, '--batch', '100')
    try:
        wait_for_a_commit(process)
        process.send_signal(getattr(signal, how))
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    stored = numbers(db)
    line, offset, imported, done = progress_of(db, path)
    # What is stored is exactly what the progress record says: whole
    # batches, the first lines of the file.
    assert not done and 0 < len(stored) < 30000, (out, err)
    assert stored == list(range(len(stored))) and len(stored) % 100 == 0
    assert (line, imported) == (len(stored), len(stored))
    with open(path, 'rb') as f:
        assert offset == len(b''.join(f.readline() for _ in range(line)))
    if how == 'SIGTERM':
        assert process.returncode == 128 + signal.SIGTERM
        stopped = re.fullmatch(
            r'imported (\d+) tracks, skipped 0 lines; interrupted by SIGTERM '
            r'at line (\d+)(, the (\d+) tracks? read since the last commit '
            r'(?:were|was) not stored)?; resume from line (\d+) with "import '
            r'--resume (.*)"\n', out)
        assert stopped, out
        done_, at, _, lost, resume, named = stopped.groups()
        assert (int(done_), int(resume), named) == (line, line + 1, path)
        assert line <= int(at) <= line + int(lost or 0) + 1
    else:
        assert process.returncode == -signal.SIGKILL
    code, out, err = run('--db', db, 'import', '--resume', path)
    assert (code, err) == (0, '')
    # (More than 10,000 stored by the resumed run: pack is suggested.)
    # This run's count, then the file's total.
    resumed = re.fullmatch(r'imported (\d+) tracks \(30000 in all\), skipped '
                           r'0 lines \(0 in all\)'
                           r'(\. Run "pack" to make the file smaller.*)?\n',
                           out)
    assert resumed, out
    assert int(resumed.group(1)) == 30000 - imported
    assert numbers(db) == list(range(30000))
    # Done: nothing more to resume.
    code, out, err = run('--db', db, 'import', '--resume', path)
    assert code == 0 and 'is complete (30000 tracks' in err


def test_ctrl_c_rolls_back_the_batch_and_names_the_line(run, db, tmp_path,
                                                        monkeypatch):
    from cybertools_tracking.cli import loading
    path = write(tmp_path, numbered(25))
    real = loading._save
    calls = []

    def interrupted(storage, record, *more):
        calls.append(1)
        if len(calls) == 13:
            raise KeyboardInterrupt
        return real(storage, record, *more)
    monkeypatch.setattr(loading, '_save', interrupted)
    code, out, err = run('--db', db, 'import', path, '--batch', '5')
    assert code == 130
    assert out == ('imported 10 tracks, skipped 0 lines; interrupted by '
                   'SIGINT at line 13, the 2 tracks read since the last '
                   'commit were not stored; resume from line 11 with '
                   '"import --resume %s"\n' % path)
    monkeypatch.undo()
    assert numbers(db) == list(range(10))
    assert run('--db', db, 'import', '--resume', path)[0] == 0
    assert numbers(db) == list(range(25))


def test_a_changed_file_is_refused(run, db, tmp_path, monkeypatch):
    path = stopped_at_15_of_20(db, tmp_path, monkeypatch)
    original = open(path).read()
    # Shorter: refused, by size; without advice to duplicate the tracks.
    write(tmp_path, original[:-30])
    code, out, err = run('--db', db, 'import', '--resume', path)
    assert code == 1 and out == ''
    assert 'changed since the import stopped at line 15' in err
    assert 'bytes, it has' in err
    assert 'would store every line again' in err and 'tail -n +16' in err
    # As long, other content before the offset: refused, by content.
    write(tmp_path, original.replace('"n": 3}', '"n": 9}', 1))
    code, out, err = run('--db', db, 'import', '--resume', path)
    assert code == 1 and 'its first' in err and 'are not the ones' in err
    # Changed after the offset only: that is where it goes on.
    write(tmp_path, original.replace('"n": 17}', '"n": 71}', 1))
    assert run('--db', db, 'import', '--resume', path)[0] == 0
    assert numbers(db) == list(range(17)) + [18, 19, 71]


def test_a_file_that_grew_resumes_with_its_new_lines(run, db, tmp_path,
                                                     monkeypatch):
    path = stopped_at_15_of_20(db, tmp_path, monkeypatch)
    original = open(path).read()
    write(tmp_path, original + numbered(2, 20))       # appended to
    code, out, err = run('--db', db, 'import', '--resume', path)
    assert (code, err) == (0, '') and numbers(db) == list(range(22))
    # Complete, and grown again: the new lines only.
    write(tmp_path, original + numbered(3, 20))
    code, out, err = run('--db', db, 'import', '--resume', path)
    assert (code, err) == (0, '') and numbers(db) == list(range(23))
    code, out, err = run('--db', db, 'import', '--resume', path)
    assert code == 0 and 'nothing to resume' in err
    # Grown, but with other bytes before: refused.
    write(tmp_path, original.replace('"n": 3}', '"n": 9}', 1)
          + numbered(4, 20))
    code, out, err = run('--db', db, 'import', '--resume', path)
    assert code == 1 and 'are not the ones imported' in err
    assert numbers(db) == list(range(23))


def test_resume_needs_a_recorded_import(run, db, tmp_path):
    path = write(tmp_path, numbered(3))
    code, out, err = run('--db', db, 'import', '--resume', path)
    assert code == 1 and 'no import of %s' % path in err
    code, out, err = run('--db', db, 'import', '--resume', '-')
    assert code == 2 and '--resume needs a file' in err


def test_rejects_go_to_a_file_to_fix_and_import_again(run, db, tmp_path):
    lines = numbered(4).splitlines()
    lines[1] = '{"taskId": "t", "userName": "u", "data": [1]}'
    lines[3] = '{"taskId": "t", "userName": "u", "data": {'
    path = write(tmp_path, '\n'.join(lines) + '\n')
    rejects = str(tmp_path / 'rejects.jsonl')
    code, out, err = run('--db', db, 'import', path, '--rejects', rejects)
    assert code == 1 and out == 'imported 2 tracks, skipped 2 lines\n'
    found = [json.loads(line) for line in open(rejects)]
    assert [(r['line'], r['text']) for r in found] == [
        (2, lines[1]), (4, lines[3])]
    assert found[0]['reason'] == 'data must be a mapping, got [1]'
    assert found[1]['reason'].startswith('invalid JSON')
    # Fixed by hand: the first has a list for data, the second is cut.
    first = dict(json.loads(found[0]['text']), data={'n': -2})
    second = json.loads(found[1]['text'] + '"n": -4}}')
    fixed = write(tmp_path, jsonl(first, second), 'fixed.jsonl')
    assert run('--db', db, 'import', fixed)[0] == 0
    assert numbers(db) == [-4, -2, 0, 2]


def test_gzip_input_and_iso_times(run, db, tmp_path):
    records = [
        {'taskId': 't', 'userName': 'u', 'data': {'n': 0},
         'timeStamp': '2024-01-15T08:00:00Z'},
        {'taskId': 't', 'userName': 'u', 'data': {'n': 1},
         'timeStamp': '2024-01-15T09:30:00+01:30'},
        {'taskId': 't', 'userName': 'u', 'data': {'n': 2},
         'timeStamp': '2024-01-15T08:00:01.000+00:00'},   # .75: refused
        {'taskId': 't', 'userName': 'u', 'data': {'n': 3},
         'timeStamp': '2024-01-15T03:00-0500'},
    ]
    path = tmp_path / 'in.jsonl.gz'
    with gzip.open(path, 'wt', encoding='utf-8') as f:
        f.write(jsonl(*records))
    assert run('--db', db, 'import', str(path))[:2] == (
        0, 'imported 4 tracks, skipped 0 lines\n')
    assert [ts for _, _, _, ts, _ in tracks_in(db)] == [
        1705305600, 1705305600, 1705305601, 1705305600]
    code, out, err = run('--db', db, 'query', '--from',
                         '2024-01-15T08:00:01Z', '--format', 'jsonl')
    assert [json.loads(line)['data']['n'] for line in out.splitlines()] == [2]


def test_gzip_input_resumes(run, db, tmp_path, monkeypatch):
    path = str(tmp_path / 'in.jsonl.gz')
    with gzip.open(path, 'wt', encoding='utf-8') as f:
        f.write(numbered(50))
    ctrl_c_at(monkeypatch, 33)
    assert run('--db', db, 'import', path, '--batch', '10')[0] == 130
    monkeypatch.undo()
    assert numbers(db) == list(range(30))
    assert run('--db', db, 'import', '--resume', path)[0] == 0
    assert numbers(db) == list(range(50))


def test_run_0_is_the_current_run(run, db, tmp_path):
    path = write(tmp_path, numbered(6))
    assert run('--db', db, 'import', path)[0] == 0
    database = open_db(db)
    with database.transaction() as connection:
        storage = get_storage(connection)
        storage.startRun('t0')
        storage.saveUserTrack('t0', 0, 'x', {'n': 100}, timeStamp=1)
    database.close()

    def query(*args):
        code, out, err = run('--db', db, 'query', '--format', 'jsonl', *args)
        assert (code, err) == (0, '')
        return sorted(json.loads(line)['data']['n']
                      for line in out.splitlines())
    assert query('--task', 't0', '--run', '0') == [100]
    assert query('--task', 't*', '--run', '0') == [1, 2, 4, 5, 100]
    assert query('--run', '0', '--user', 'u0') == []   # t0 started anew
    assert query('--run', '0', '--user', 'u1') == [1]
    assert query('--task', 'nothing', '--run', '0') == []


def test_an_import_from_stdin_leaves_no_record(db, monkeypatch):
    from cybertools_tracking.imports import ROOT_KEY
    monkeypatch.setattr(sys, 'stdin', io.StringIO(numbered(3)))
    assert cli('--db', db, 'import', '-', '--batch', '2')[:2] == (
        0, 'imported 3 tracks, skipped 0 lines\n')
    database = open_db(db)
    with database.transaction() as connection:
        assert list(connection.root()[ROOT_KEY].keys()) == []
    database.close()


def test_bad_event_ids_and_run_lines_are_bad_lines(run, db, tmp_path):
    lines = [
        '{"taskId": "t", "userName": "u", "data": {}, "eventId": 5}',
        '{"taskId": "t", "userName": "u", "data": {}, "eventId": ""}',
        '{"kind": "run", "id": 1, "taskId": "t"}',
        '{"kind": "run", "id": 1, "taskId": "t", "start": 1, "end": 2, '
        '"finished": "no", "current": true}',
        '{"taskId": "t", "userName": "u", "data": {"$bytes": "*"}}',
        '{"taskId": "t", "userName": "u", "data": {}, "eventId": "ok"}',
    ]
    code, out, err = run('--db', db, 'import', write(tmp_path,
                                                     '\n'.join(lines)))
    assert code == 1 and out.startswith('imported 1 track, skipped 5 lines; ')
    reasons = [line.split(': ', 2)[2] for line in err.splitlines()]
    assert reasons[0] == 'eventId must be a string, got 5'
    assert reasons[1].startswith('eventId must not be empty')
    assert reasons[2].startswith("a run line has no fields 'start', 'end'")
    assert reasons[3] == "finished must be true or false, got 'no'"
    assert reasons[4].startswith('invalid JSON: cannot read $bytes')
    assert len(tracks_in(db)) == 1


def test_rejects_into_the_input_file_is_refused(run, db, tmp_path):
    path = write(tmp_path, numbered(3))
    content = open(path).read()
    os.link(path, str(tmp_path / 'hard.jsonl'))
    os.symlink(path, str(tmp_path / 'soft.jsonl'))
    for rejects in (path, str(tmp_path / '.' / 'in.jsonl'),
                    str(tmp_path / 'hard.jsonl'),
                    str(tmp_path / 'soft.jsonl')):
        code, out, err = run('--db', db, 'import', path, '--rejects',
                             rejects)
        assert code == 2 and 'is the file to import' in err, rejects
        assert rejects in err
        assert open(path).read() == content
        assert not os.path.exists(db)           # nothing opened to write
    code, out, err = run('--db', db, 'import', path, '--rejects',
                         str(tmp_path / 'r.jsonl'))
    assert code == 0 and numbers(db) == [0, 1, 2]


def test_a_complete_import_is_not_repeated_unless_asked(run, db, tmp_path):
    path = write(tmp_path, numbered(3) + '{"bad"\n')
    rejects = str(tmp_path / 'r.jsonl')
    assert run('--db', db, 'import', path, '--rejects', rejects)[0] == 1
    assert os.path.getsize(rejects) > 0
    code, out, err = run('--db', db, 'import', path)
    assert code == 1 and out == ''
    assert re.search(r'%s was imported into the storage \'tracking\' '
                     r'already, completely, on \d{4}-\d\d-\d\d \d\d:\d\d UTC '
                     r'\(4 lines: 3 tracks, 1 line skipped\)' % re.escape(path),
                     err)
    assert '--again' in err and '--resume' not in err
    assert numbers(db) == [0, 1, 2]
    write(tmp_path, numbered(3) + '{"bad"\n' + numbered(1, 3))
    code, out, err = run('--db', db, 'import', path)
    assert code == 1 and '"import --resume %s"' % path in err
    code, out, err = run('--db', db, 'import', path, '--again')
    assert code == 1 and out.startswith('imported 4 tracks, skipped 1 line')
    assert numbers(db) == [0, 0, 1, 1, 2, 2, 3]


def test_a_truncated_gzip_file_stops_the_import_cleanly(run, db, tmp_path):
    path = str(tmp_path / 'in.jsonl.gz')
    complete = gzip.compress(numbered(2000).encode())
    with open(path, 'wb') as f:
        f.write(complete[:len(complete) * 2 // 3])
    code, out, err = run('--db', db, 'import', path, '--batch', '100')
    assert code == 1
    [message] = err.splitlines()
    assert re.fullmatch(r'cybertools-tracking: %s cannot be read after byte '
                        r'\d+ of its content: the compressed data is cut '
                        r'short or damaged \(EOFError: .*\) \(at line \d+\)'
                        % re.escape(path), message), message
    stored = numbers(db)
    assert stored and stored == list(range(len(stored)))
    assert len(stored) % 100 == 0 and 'resume from line %d' % (
        len(stored) + 1) in out
    with open(path, 'wb') as f:             # the download completed
        f.write(complete)
    assert run('--db', db, 'import', '--resume', path)[0] == 0
    assert numbers(db) == list(range(2000))
    # Damaged, not cut short: one line too.
    with open(path, 'wb') as f:
        f.write(complete[:40] + bytes(200) + complete[240:])
    code, out, err = run('--db', db, 'import', path, '--again')
    assert code == 1 and len(err.splitlines()) == 1
    assert 'cut short or damaged' in err


def test_a_big_import_suggests_pack(run, db, tmp_path, monkeypatch):
    from cybertools_tracking.cli import loading
    monkeypatch.setattr(loading, 'PACK_HINT', 5)
    code, out, err = run('--db', db, 'import', write(tmp_path, numbered(5)))
    assert code == 0 and 'pack' not in out
    code, out, err = run('--db', db, 'import',
                         write(tmp_path, numbered(6), 'six.jsonl'))
    assert code == 0 and out.rstrip().endswith(
        'Run "pack" to make the file smaller: each batch left old versions '
        'of records in it')


def test_a_plain_import_of_a_stopped_file_is_refused(run, db, tmp_path):
    """A real stop (SIGKILL after a commit), then ``import FILE`` without
    --resume: refused, nothing stored twice; --resume finishes it, and
    --restart imports from the first line on purpose."""
    path = write(tmp_path, numbered(20000))
    process = start_import(db, path, '--batch', '100')
    try:
        wait_for_a_commit(process)
        process.kill()
        process.communicate(timeout=60)
    finally:
        process.kill()
    stored = numbers(db)
    line, offset, imported, done = progress_of(db, path)
    assert not done and 0 < len(stored) == line < 20000
    code, out, err = run('--db', db, 'import', path)
    assert (code, out) == (1, '')
    assert re.fullmatch(
        r'cybertools-tracking: an import of %s into the storage \'tracking\' '
        r'stopped at line %d on \d{4}-\d\d-\d\d \d\d:\d\d UTC \(%d tracks '
        r'stored, 0 lines skipped\): "import --resume %s" goes on from line '
        r'%d\. Importing it from the first line stores those tracks twice '
        r'\(but for lines with event ids\); use --restart to do that '
        r'anyway\n' % (re.escape(path), line, line, re.escape(path),
                       line + 1), err), err
    assert numbers(db) == stored
    assert progress_of(db, path) == (line, offset, imported, False)
    assert run('--db', db, 'import', '--resume', path)[0] == 0
    assert numbers(db) == list(range(20000))
    # Once complete, --restart (like --again) stores the file again.
    code, out, err = run('--db', db, 'import', path, '--restart')
    assert code == 0 and out.startswith('imported 20000 tracks')
    assert numbers(db) == sorted(list(range(20000)) * 2)


def test_restart_after_a_stop_starts_from_the_first_line(run, db, tmp_path,
                                                         monkeypatch):
    path = stopped_at_15_of_20(db, tmp_path, monkeypatch)
    assert numbers(db) == list(range(15))
    code, out, err = run('--db', db, 'import', path, '--restart')
    assert code == 0 and out == 'imported 20 tracks, skipped 0 lines\n'
    assert numbers(db) == sorted(list(range(15)) + list(range(20)))
    assert progress_of(db, path)[3] is True


def test_a_csv_import_resumes_as_csv(run, db, tmp_path, monkeypatch):
    """The header is read again on --resume: the rows after the stop are
    read as CSV."""
    source = str(tmp_path / 'source.fs')
    assert run('--db', source, 'import', write(tmp_path, numbered(30)))[0] \
        == 0
    table, runs = str(tmp_path / 'tracks.csv'), str(tmp_path / 'runs.csv')
    assert run('--db', source, 'export', '--format', 'csv', '-o',
               table)[0] == 0
    assert run('--db', source, 'export', '--format', 'csv', '--runs', '-o',
               runs)[0] == 0
    # Without its runs a table of tracks says what to import first.
    code, out, err = run('--db', str(tmp_path / 'other.fs'), 'import', table)
    assert code == 1
    assert out.startswith('imported 0 tracks, skipped 30 lines; ')
    assert err.splitlines()[0] == (
        'cybertools-tracking: %s line 2: runId 1: there is no such run (a '
        'CSV table of tracks names runs by number: import the table of '
        'runs, "export --format csv --runs", first)' % table)
    assert run('--db', db, 'import', runs)[0] == 0
    ctrl_c_at(monkeypatch, 17)
    assert run('--db', db, 'import', table, '--batch', '5')[0] == 130
    monkeypatch.undo()
    assert numbers(db) == list(range(15))
    code, out, err = run('--db', db, 'import', '--resume', table)
    assert (code, err) == (0, '')
    assert numbers(db) == list(range(30))


def current_runs(db):
    """{taskId: (the current run's start, end)} of the storage in db."""
    database = open_db(db)
    try:
        with database.transaction() as connection:
            storage = get_storage(connection)
            return {task: (storage.getRun(number).start,
                           storage.getRun(number).end)
                    for task, number in storage.getCurrentRuns().items()}
    finally:
        database.close()


def test_imported_runs_leave_a_current_run_alone(db, tmp_path):
    """A task's current run changes by an import only where the task has
    none, or with --replace-current; a run not marked current never
    changes it (it took the task's current run away)."""
    def run(id, task, start, current, finished=False):
        return {'kind': 'run', 'id': id, 'taskId': task, 'start': start,
                'end': start + 10, 'finished': finished, 'current': current}
    first = write(tmp_path, jsonl(run(1, 'a', 100, True),
                                  run(2, 'b', 200, True)), 'first.jsonl')
    assert cli('--db', db, 'import', first)[0] == 0
    before = current_runs(db)
    assert before == {'a': (100, 110), 'b': (200, 210)}
    # An older run of 'a' (not current), a new current one of 'a' and
    # 'b' each, and one of a task without runs ('c').
    later = write(tmp_path, jsonl(
        run(1, 'a', 50, False, finished=True), run(2, 'a', 300, True),
        run(3, 'b', 400, True), run(4, 'c', 500, True),
        {'taskId': 'a', 'userName': 'u', 'data': {}, 'runId': 2,
         'timeStamp': 305}),
        'later.jsonl')
    code, out, err = cli('--db', db, 'import', later)
    assert (code, err) == (0, '')
    assert out == ('imported 1 track and 4 runs, skipped 0 lines; 2 runs '
                   'marked current did not become current, as their '
                   'tasks have a current run already (a, b): '
                   '--replace-current makes them current\n')
    assert current_runs(db) == dict(before, c=(500, 510))
    # The track went into the run the file named, not the current one.
    database = open_db(db)
    with database.transaction() as connection:
        storage = get_storage(connection)
        [track] = storage.query(taskId='a', userName='u')
        assert storage.getRun(track.runId).start == 300
        assert not storage.getRun(track.runId).finished
        assert [(r.start, r.finished) for r in storage.getRuns('a')] == [
            (100, False), (50, True), (300, False)]
    database.close()
    # Asked for: the file's current runs replace the tasks' ones.
    code, out, err = cli('--db', db, 'import', later, '--again',
                         '--replace-current')
    assert (code, err) == (0, '')
    assert out == 'imported 1 track and 4 runs, skipped 0 lines\n'
    assert current_runs(db) == {'a': (300, 310), 'b': (400, 410),
                                'c': (500, 510)}


def test_a_runs_table_into_a_storage_with_runs_keeps_its_current_runs(
        db, tmp_path):
    runs = write(tmp_path, 'id,taskId,start,end,finished,current\n'
                 '1,a,100,110,false,true\n2,a,50,60,true,false\n',
                 'runs.csv')
    assert cli('--db', db, 'import', runs)[0] == 0
    assert current_runs(db) == {'a': (100, 110)}
    code, out, err = cli('--db', db, 'import', runs, '--again')
    assert code == 0 and '1 run marked current did not become current, ' \
        'as its task has a current run already (a)' in out
    assert current_runs(db) == {'a': (100, 110)}


def advised(err):
    """The command a refusal advises, as argv after "import"."""
    match = re.search(r'"import (\S+) --rejects FILE"', err)
    assert match, err
    return match.group(1)


def rejects_of(path):
    with open(path, encoding='utf-8') as lines:
        return [json.loads(line) for line in lines]


def test_the_advice_after_a_partly_failed_import_works(db, tmp_path):
    """The refusal of a repeated import names a command that writes the
    lines skipped, and it stores nothing: not the good lines twice."""
    lines = numbered(5).splitlines()
    lines[1] = '{"taskId": "t", "userName": "u", "data": [1]}'
    lines[3] = '{"taskId": "t", "userName": "u"'
    path = write(tmp_path, '\n'.join(lines) + '\n')
    assert cli('--db', db, 'import', path)[0] == 1       # no --rejects
    assert numbers(db) == [0, 2, 4]
    code, out, err = cli('--db', db, 'import', path)
    assert code == 1 and 'fix the 2 lines it skipped' in err
    assert advised(err) == path
    rejects = str(tmp_path / 'bad.jsonl')
    code, out, err = cli('--db', db, 'import', advised(err), '--rejects',
                         rejects)
    assert (code, err) == (1, '')        # the lines are not stored yet
    assert 'wrote the 2 lines it skipped to %s, storing nothing' % rejects \
        in out and 'import %s' % rejects in out
    assert numbers(db) == [0, 2, 4]                      # nothing twice
    found = rejects_of(rejects)
    assert [(r['line'], r['text']) for r in found] == [
        (2, lines[1]), (4, lines[3])]
    # The reasons are the import's own, as it refused the lines.
    assert found[0]['reason'] == 'data must be a mapping, got [1]'
    assert found[1]['reason'].startswith('invalid JSON')
    # Fixed where they are, the rejects are imported as they are.
    found[0]['text'] = found[0]['text'].replace('[1]', '{"n": 1}')
    found[1]['text'] += ', "data": {"n": 3}}'
    write(tmp_path, jsonl(*found), 'bad.jsonl')
    assert cli('--db', db, 'import', rejects) == (
        0, 'imported 2 tracks, skipped 0 lines\n', '')
    assert numbers(db) == [0, 1, 2, 3, 4]
    # The number and reason are not data.
    assert all(set(data) == {'n'} for *_, data in tracks_in(db))


def test_the_summary_of_an_import_that_skipped_lines_says_how_to_get_them(
        db, tmp_path, monkeypatch):
    """The first import names the command that writes the lines it
    skipped; that command works, stores nothing and exits 1 (the lines
    are not stored yet), as does each time it is run."""
    lines = numbered(4).splitlines()
    lines[2] = '{"taskId": "t", "userName": "u", "data": [1]}'
    path = write(tmp_path, '\n'.join(lines) + '\n')
    code, out, err = cli('--db', db, 'import', path)
    assert code == 1 and out == (
        'imported 3 tracks, skipped 1 line; "import %s --rejects FILE" '
        'writes it to FILE, storing nothing\n' % path)
    rejects = str(tmp_path / 'bad.jsonl')
    advice = advised(out)
    for attempt in range(2):
        code, out, err = cli('--db', db, 'import', advice, '--rejects',
                             rejects)
        assert (code, err) == (1, ''), attempt
        assert 'wrote the 1 line it skipped to %s' % rejects in out
        assert [r['line'] for r in rejects_of(rejects)] == [3]
        assert numbers(db) == [0, 1, 3]
    # With --rejects given, or from stdin (no record to read), no advice.
    other = str(tmp_path / 'other.fs')
    code, out, err = cli('--db', other, 'import', path, '--rejects',
                         rejects)
    assert (code, out) == (1, 'imported 3 tracks, skipped 1 line\n')
    with open(path) as stdin:
        monkeypatch.setattr(sys, 'stdin', io.StringIO(stdin.read()))
    code, out, err = cli('--db', other, 'import', '-')
    assert (code, out) == (1, 'imported 3 tracks, skipped 1 line\n')


def test_the_advice_after_an_import_that_stored_nothing_imports_again(
        db, tmp_path):
    """Nothing stored, nothing is held against the file: the command
    named imports it again, writing the lines it skips."""
    bad = '{"taskId": "t", "userName": "u", "data": [1]}\n'
    path = write(tmp_path, bad * 2)
    code, out, err = cli('--db', db, 'import', path)
    assert code == 1 and out == (
        'imported 0 tracks, skipped 2 lines; "import %s --rejects FILE" '
        'writes them to FILE, importing the file again (nothing was '
        'stored)\n' % path)
    write(tmp_path, bad + numbered(1))
    rejects = str(tmp_path / 'bad.jsonl')
    code, out, err = cli('--db', db, 'import', advised(out), '--rejects',
                         rejects)
    assert (code, out) == (1, 'imported 1 track, skipped 1 line\n')
    assert [r['line'] for r in rejects_of(rejects)] == [1]
    assert numbers(db) == [0]


def test_rejects_only_refuses_a_changed_file_and_old_records(db, tmp_path):
    path = write(tmp_path, numbered(2) + '{"bad"\n')
    assert cli('--db', db, 'import', path)[0] == 1
    rejects = str(tmp_path / 'r.jsonl')
    write(tmp_path, numbered(2) + '{"bad": 1}\n')
    code, out, err = cli('--db', db, 'import', path, '--rejects', rejects)
    assert code == 1 and 'changed since it was imported' in err
    assert 'nothing was written to %s' % rejects in err
    # An import recorded before the skipped lines were kept.
    write(tmp_path, numbered(2) + '{"bad"\n')
    database = open_db(db)
    with database.transaction() as connection:
        progress = import_progress(connection, 'tracking',
                                   os.path.abspath(path))
        assert list(progress.rejected.items()) == [(3, progress.rejected[3])]
        del progress.rejected               # the class default: None
    database.close()
    code, out, err = cli('--db', db, 'import', path)
    assert code == 1 and '--db memory:// import %s --rejects FILE' % path \
        in err
    code, out, err = cli('--db', db, 'import', path, '--rejects', rejects)
    assert code == 1 and 'did not record which lines it skipped' in err
    command = re.search(r'cybertools-tracking (--db memory:// import .*)$',
                        err.strip()).group(1)
    assert cli(*command.split())[0] == 1
    assert [r['line'] for r in rejects_of(rejects)] == [3]
    assert numbers(db) == [0, 1]


def test_rejects_are_recorded_across_resumes_and_anew_with_again(
        db, tmp_path, monkeypatch):
    lines = numbered(8).splitlines()
    lines[1] = lines[6] = '{"bad"'
    path = write(tmp_path, '\n'.join(lines) + '\n')
    with monkeypatch.context() as patched:
        ctrl_c_at(patched, 4)
        assert cli('--db', db, 'import', path, '--batch', '2')[0] == 130
    assert cli('--db', db, 'import', path, '--resume')[0] == 1
    rejects = str(tmp_path / 'r.jsonl')
    assert cli('--db', db, 'import', path, '--rejects', rejects)[0] == 1
    assert [r['line'] for r in rejects_of(rejects)] == [2, 7]
    # Imported again from line 1: the lines this import skipped only.
    lines[1], lines[2] = lines[2], '{"bad"'
    write(tmp_path, '\n'.join(lines) + '\n')
    assert cli('--db', db, 'import', path, '--again')[0] == 1
    assert cli('--db', db, 'import', path, '--rejects', rejects)[0] == 1
    assert [r['line'] for r in rejects_of(rejects)] == [3, 7]


def test_a_rejects_file_is_read_as_the_lines_it_holds(db, tmp_path):
    """Rejects of a CSV table and of a JSON array carry the header that
    says how their text is read; a rejects file may mix in plain lines;
    the rejects of a rejects file are the first file's lines."""
    table = write(tmp_path, 'taskId;userName;data\nt;a;{"n": 1}\n'
                  't;b;[2]\nt;c\n', 'in.csv')
    rejects = str(tmp_path / 'r.jsonl')
    assert cli('--db', db, 'import', table, '--rejects', rejects)[0] == 1
    found = rejects_of(rejects)
    assert [(r['text'], r['header']) for r in found] == [
        ('t;b;[2]', 'taskId;userName;data'),
        ('t;c', 'taskId;userName;data')]
    again = str(tmp_path / 'r2.jsonl')
    code, out, err = cli('--db', db, 'import', rejects, '--rejects', again)
    assert code == 1 and out == 'imported 0 tracks, skipped 2 lines\n'
    assert "r.jsonl line 1: data must be a mapping, got [2]" in err
    assert [(r['line'], r['text'], r['header']) for r in rejects_of(again)] \
        == [(1, 't;b;[2]', 'taskId;userName;data'),
            (2, 't;c', 'taskId;userName;data')]
    found[0]['text'] = 't;b;{"n": 2}'
    fixed = write(tmp_path, jsonl(found[0], {'taskId': 't', 'userName': 'c',
                                             'data': {'n': 3}}), 'fixed.jsonl')
    assert cli('--db', db, 'import', fixed)[0] == 0
    assert numbers(db) == [1, 2, 3]

    array = write(tmp_path, '[\n{"taskId": "t", "userName": "d", '
                  '"data": {"n": 4}},\n{"taskId": "t", "userName": "e"},\n'
                  ']\n', 'in.json')
    assert cli('--db', db, 'import', array, '--rejects', rejects)[0] == 1
    [reject] = rejects_of(rejects)
    assert reject['header'] == '[' and reject['text'].endswith('},')
    reject['text'] = reject['text'].replace('}', ', "data": {"n": 5}}')
    write(tmp_path, jsonl(reject), 'r.jsonl')
    assert cli('--db', db, 'import', rejects)[0] == 0
    assert numbers(db) == [1, 2, 3, 4, 5]
    # A rejects line with a header import does not read is refused as such.
    odd = write(tmp_path, jsonl({'line': 1, 'reason': 'x', 'text': 'a,b',
                                 'header': 'task,user'}), 'odd.jsonl')
    code, out, err = cli('--db', db, 'import', odd)
    assert code == 1 and '"header" of a line of a rejects file: a CSV ' \
        'header that import does not read' in err
