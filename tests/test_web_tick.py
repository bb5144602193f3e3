"""``POST /goals/tick``: the tick of ``cybertools-tracking goals tick``
over HTTP, through a real uvicorn server."""

import pytest

pytest.importorskip('fastapi')
httpx = pytest.importorskip('httpx')

from cybertools_tracking.db import get_storage, open_db  # noqa: E402
from cybertools_tracking.goals.conditions import KeyExists  # noqa: E402
from cybertools_tracking.goals.limiters import DeadlineLimiter  # noqa
from cybertools_tracking.goals.periods import PeriodTracker  # noqa: E402
from cybertools_tracking.goals.trackers import CountTracker  # noqa: E402
from cybertools_tracking.web import create_app  # noqa: E402
from tests.webserver import running  # noqa: E402

TOKEN = 'tick-token'
AUTH = {'Authorization': 'Bearer ' + TOKEN}
D = 86400


@pytest.fixture
def db(tmp_path):
    db = open_db(str(tmp_path / 'tick.fs'))
    yield db
    db.close()


def prepare(db):
    # As tests/test_cli_goals_tick.py: anna's Berlin day, bob's deadline.
    with db.transaction() as connection:
        storage = get_storage(connection)
        storage.goals.add_tracker('anna', PeriodTracker(
            'daily', [KeyExists('data.page')], 1, tz='Europe/Berlin'))
        storage.goals.add_tracker('bob', CountTracker(
            'quiz', [], 5, limiters=[DeadlineLimiter(2 * D)]))
        # 23:30 UTC is 00:30 of the next day in Berlin
        storage.saveUserTrack('lesson', 0, 'anna', {'page': 1},
                              timeStamp=D - 1800)


def event_types(db):
    with db.transaction() as connection:
        return [e.type for e in get_storage(connection).events.since(0)]


def test_tick_does_what_the_command_does(db):
    prepare(db)
    with running(create_app(db, tokens=[TOKEN])) as url:
        with httpx.Client(base_url=url, headers=AUTH) as api:
            answer = api.post('/goals/tick', json={'at': D})
            assert answer.status_code == 200, answer.text
            assert answer.json() == {'at': D, 'closed': [], 'failed': [],
                                     'expired': [], 'changed': 0,
                                     'withoutGoals': []}
            # A time as the command line's --at takes it.
            answer = api.post('/goals/tick',
                              json={'at': '1970-01-03T00:00:00Z'})
            assert answer.json()['at'] == 2 * D
            assert answer.json()['closed'] == [
                {'group_id': 'anna', 'name': 'daily'}]
            assert answer.json()['changed'] == 1
            assert answer.headers['X-Attempts'] == '1'
            # Only the groups named; bob's deadline passed.
            answer = api.post('/goals/tick', json={'at': 3 * D,
                                                   'groups': ['bob', 'nobody']})
            assert answer.json()['failed'] == [
                {'group_id': 'bob', 'name': 'quiz'}]
            assert answer.json()['closed'] == []     # anna was not ticked
            # A group without goals is passed over, and said.
            assert answer.json()['withoutGoals'] == ['nobody']
    with db.transaction() as connection:
        storage = get_storage(connection)
        assert storage.goals.get_trackers('bob') == []
        daily = storage.goals.get_trackers('anna')[0]
        assert daily.closed_periods()[0].key == '1970-01-02'
    # What the tick did is in the event feed, as what tracks do is.
    types = event_types(db)
    assert types.count('goal.period_closed') == 1
    assert types.count('goal.tracker_failed') == 1


def test_tick_without_a_body_ticks_every_group_now(db):
    prepare(db)
    with running(create_app(db, tokens=[TOKEN])) as url:
        answer = httpx.post(url + '/goals/tick', headers=AUTH)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        # Now is long after 1970: the day closed, the deadline passed.
        assert body['closed'] == [{'group_id': 'anna', 'name': 'daily'}]
        assert body['failed'] == [{'group_id': 'bob', 'name': 'quiz'}]


def test_tick_wants_a_token_and_good_options_and_changes_nothing_else(db):
    prepare(db)
    with db.transaction() as connection:
        before = connection.db().lastTransaction()
    with running(create_app(db, tokens=[TOKEN], open_reads=True)) as url:
        assert httpx.post(url + '/goals/tick').status_code == 401
        assert httpx.post(url + '/goals/tick', headers={
            'Authorization': 'Bearer wrong'}).status_code == 403
        for bad, status, words in (
                ({'at': 'yesterday-ish'}, 422, 'yesterday-ish'),
                ({'at': 10 ** 12}, 400, 'at must be a time'),
                ({'at': True}, 422, 'at must be'),
                ({'groups': 'bob'}, 422, 'list'),
                ({'groups': [1]}, 422, 'string'),
                ({'when': 0}, 422, 'when')):
            answer = httpx.post(url + '/goals/tick', json=bad, headers=AUTH)
            assert answer.status_code == status, (bad, answer.text)
            assert words in answer.text, (bad, answer.text)
    with db.transaction() as connection:
        assert connection.db().lastTransaction() == before


def test_tick_without_a_storage_is_a_404_and_makes_none(tmp_path):
    db = open_db(str(tmp_path / 'empty.fs'))
    try:
        with running(create_app(db, tokens=[TOKEN])) as url:
            answer = httpx.post(url + '/goals/tick', headers=AUTH)
            assert answer.status_code == 404
            assert 'no tracking storage' in answer.json()['detail']
        with db.transaction() as connection:
            assert 'tracking' not in connection.root()
    finally:
        db.close()


def test_tick_is_documented(db):
    with running(create_app(db, tokens=[TOKEN])) as url:
        schema = httpx.get(url + '/openapi.json').json()
    operation = schema['paths']['/goals/tick']['post']
    assert operation['security'] == [{'HTTPBearer': []}]
    assert 'goals tick' in operation['description']
    assert {'200', '400', '401', '403', '404', '503'} <= set(
        operation['responses'])
    body = schema['components']['schemas']['TickIn']['properties']
    assert set(body) == {'at', 'groups'}
    assert set(schema['components']['schemas']['TickOut']['properties']) \
        == {'at', 'closed', 'failed', 'expired', 'changed', 'withoutGoals'}
