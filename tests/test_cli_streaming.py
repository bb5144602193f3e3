"""``query`` streams newest first, a window of time at a time
(``cli/streaming.py``), and counts every track from the storage's count."""

import random

import pytest
import transaction

from cybertools_tracking.cli import streaming
from cybertools_tracking.cli.streaming import newest_first
from cybertools_tracking.db import get_storage, open_db

from tests.test_cli import run  # noqa: F401  (a fixture)


@pytest.fixture
def storage():
    """A storage in memory with 3,000 tracks at uneven times: bursts
    (40 tracks in one second, one of 300), a gap of years, a stretch of
    one track a minute, and one track far in the future."""
    db = open_db('memory://')
    manager = transaction.TransactionManager()
    connection = db.open(manager)
    storage = get_storage(connection)
    rnd = random.Random(5)
    times = ([1_000_000_000 + 60 * n for n in range(2000)]
             + [1_500_000_000 + rnd.randrange(86400) for n in range(600)]
             + [1_500_100_000] * 40 + [1_600_000_000] * 300
             + [2_000_000_000 + n for n in range(59)] + [250_000_000_000])
    rnd.shuffle(times)
    for n, ts in enumerate(times):
        storage.saveUserTrack('task/%d' % (n % 3), 0, 'user%d' % (n % 7),
                              {'n': n}, timeStamp=ts)
    yield storage
    manager.abort()
    connection.close()
    db.close()


@pytest.fixture
def small_windows(monkeypatch):
    """Windows of a few tracks, so that every branch is taken: windows cut
    at their cap, a second holding more than a cap."""
    monkeypatch.setattr(streaming, 'FIRST_TARGET', 5)
    monkeypatch.setattr(streaming, 'TARGET', 50)
    monkeypatch.setattr(streaming, 'FIRST_SPAN', 10)


def names(tracks):
    return [track.__name__ for track in tracks]


@pytest.mark.parametrize('criteria', [
    {}, {'taskId': 'task/1'}, {'userName': ['user2', 'user5']},
    {'taskId': 'task/*', 'timeFrom': 1_500_000_000, 'timeTo': 1_600_000_000},
    {'timeTo': 1_000_060_000}, {'taskId': 'nothing'}])
def test_the_stream_is_query_newest_first(storage, small_windows, criteria):
    # The storage's answer (query needs a criterion: a time range is one).
    expected = storage.query(newestFirst=True, **dict(
        {'timeFrom': -6 * 10**10}, **criteria))
    assert names(newest_first(storage, criteria)) == names(expected)
    assert names(newest_first(storage, criteria, limit=77)) == \
        names(expected[:77])


def test_the_stream_with_the_windows_it_has(storage):
    expected = storage.query(timeFrom=0, newestFirst=True)
    assert names(newest_first(storage, {})) == names(expected)


def test_printing_starts_before_everything_is_read(storage, small_windows,
                                                   monkeypatch):
    read = []
    query = storage.query

    def counted(**criteria):
        found = query(**criteria)
        read.append(len(found))
        return found
    monkeypatch.setattr(storage, 'query', counted)
    stream = newest_first(storage, {})
    first = next(stream)
    assert first.timeStamp == 250_000_000_000
    assert sum(read) < 20           # of 3,000
    # --limit stops the reading: the newest 100 cost few more.
    read.clear()
    assert len(list(newest_first(storage, {}, limit=100))) == 100
    assert sum(read) <= 100 + 2 * streaming.TARGET
    read.clear()
    assert list(newest_first(storage, {}, limit=0)) == [] and read == []


def test_a_bad_criterion_is_refused_before_anything(storage):
    from cybertools_tracking.validation import ValidationError
    with pytest.raises(ValidationError):
        next(newest_first(storage, {'userName': 42}))


def test_query_count_without_criteria_is_the_storage_count(
        run, tmp_path, monkeypatch):  # noqa: F811
    db = str(tmp_path / 'demo.fs')
    assert run('--db', db, 'demo')[0] == 0
    from cybertools_tracking.storage import TrackingStorage

    def no_query(self, **criteria):
        raise AssertionError('a count without criteria reads no tracks')
    monkeypatch.setattr(TrackingStorage, 'query', no_query)
    assert run('--db', db, 'query', '--count') == (0, '2843\n', '')
    assert run('--db', db, 'query', '--count', '--limit', '5') == \
        (0, '5\n', '')
    assert run('--db', db, 'query', '--task', '*', '--count') == \
        (0, '2843\n', '')
    monkeypatch.undo()
    assert run('--db', db, 'query', '--user', 's*', '--count') == \
        (0, '586\n', '')


def test_a_table_streams_with_the_widths_of_its_first_rows(capsys):
    from cybertools_tracking.cli.formatting import stream_table
    rows = iter([('a', 'x'), ('bbb', 'y')] + [('c', 'z')] * 200
                + [('dddddd', 'w')])
    stream_table(('h', 'last'), rows)
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == ['h    last', 'a    x', 'bbb  y']
    assert lines[-1] == 'dddddd  w' and len(lines) == 204


def test_windows_cut_at_their_cap_and_a_crowded_second(storage,
                                                       small_windows,
                                                       monkeypatch):
    calls = []
    query = storage.query

    def recorded(**criteria):
        found = query(**criteria)
        calls.append((criteria, len(found)))
        return found
    monkeypatch.setattr(storage, 'query', recorded)
    assert len(list(newest_first(storage, {}))) == 3000
    # Some windows were cut at their cap (2 * TARGET), and the second
    # with 300 tracks was read alone, without a cap.
    assert any(found == criteria.get('limit') == 100
               for criteria, found in calls)
    assert any(criteria['timeFrom'] == criteria['timeTo'] == 1_600_000_000
               and 'limit' not in criteria and found == 300
               for criteria, found in calls)
