"""What a new user's trial of the HTTP API found: replays of an eventId
with or without a timeStamp, feed positions beyond the feed, errors that
named internal parameters, booleans taken as times, query times in the
forms POST takes, short answers to huge bodies, conflicts inside one
batch, and ticks of groups without goals. Through a real uvicorn server."""

import datetime
import json

import pytest

pytest.importorskip('fastapi')
httpx = pytest.importorskip('httpx')

from cybertools_tracking.db import get_storage, open_db  # noqa: E402
from cybertools_tracking.goals.limiters import DeadlineLimiter  # noqa
from cybertools_tracking.goals.trackers import CountTracker  # noqa: E402
from cybertools_tracking.web import create_app  # noqa: E402
from tests.webserver import running  # noqa: E402

TOKEN = 'trial-token'
AUTH = {'Authorization': 'Bearer ' + TOKEN}
T0 = 1_700_000_000
D = 86400


@pytest.fixture
def db(tmp_path):
    db = open_db(str(tmp_path / 'trial.fs'))
    yield db
    db.close()


@pytest.fixture
def api(db):
    app = create_app(db, tokens=[TOKEN], open_reads=True, poll_seconds=0.05)
    with running(app) as url:
        with httpx.Client(base_url=url, timeout=60, headers=AUTH) as client:
            yield client


def track(**more):
    return dict({'taskId': 't1', 'userName': 'bob', 'data': {'a': 1}}, **more)


def count_tracks(db):
    with db.transaction() as connection:
        return len(get_storage(connection))


# 1. eventId replays and the timeStamp

def test_a_replay_may_carry_the_time_the_server_gave_the_first_save(api, db):
    first = api.post('/tracks', json=track(eventId='e1'))
    assert first.status_code == 201, first.text
    stored = first.json()['timeStamp']
    iso = datetime.datetime.fromtimestamp(
        stored, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    for given in (stored, stored + 0.25, iso):
        again = api.post('/tracks', json=track(eventId='e1', timeStamp=given))
        assert again.status_code == 200, (given, again.text)
        assert again.headers['Idempotent-Replayed'] == 'true'
        assert again.json() == first.json()
    # Another time is other content: a 409 naming the field, both sides.
    other = api.post('/tracks', json=track(eventId='e1',
                                           timeStamp=stored + 5))
    assert other.status_code == 409
    detail = other.json()['detail']
    assert 'timeStamp %d' % stored in detail
    assert 'now %d' % (stored + 5) in detail
    assert 'data' not in detail and 'userName' not in detail
    assert count_tracks(db) == 1


def test_a_replay_may_leave_out_the_time_the_first_save_gave(api, db):
    first = api.post('/tracks', json=track(eventId='e2', timeStamp=T0))
    assert first.status_code == 201
    again = api.post('/tracks', json=track(eventId='e2'))
    assert again.status_code == 200, again.text
    assert again.json()['timeStamp'] == T0
    batch = api.post('/tracks/batch', json={'tracks': [
        track(eventId='e2'), track(eventId='e2', timeStamp=T0),
        track(eventId='e3')]})
    assert batch.status_code == 201, batch.text
    assert batch.json()['replayed'] == [0, 1]
    assert batch.json()['ids'][:2] == [first.json()['id']] * 2
    assert count_tracks(db) == 2


def test_a_conflict_names_each_field_that_differs_with_both_values(api, db):
    api.post('/tracks', json=track(eventId='e4', timeStamp=T0))
    other = api.post('/tracks', json=track(eventId='e4', timeStamp=T0,
                                           userName='ann', data={'a': 2}))
    assert other.status_code == 409
    detail = other.json()['detail']
    # JSON, as the client sent it, not Python reprs
    assert 'userName "bob", now "ann"' in detail, detail
    assert 'data {"a": 1}, now {"a": 2}' in detail, detail
    assert 'taskId' not in detail and 'timeStamp' not in detail
    assert 'eventId "e4"' in detail and '0000001' in detail
    assert "'" not in detail, detail
    assert count_tracks(db) == 1


# 7. one eventId twice in one batch

def test_a_batch_naming_one_event_id_twice_names_the_items(api, db):
    api.post('/tracks', json=track(taskId='before'))
    answer = api.post('/tracks/batch', json={'tracks': [
        track(eventId='a1'), track(eventId='b5', data={'x': 1}),
        track(eventId='b5', data={'x': 2})]})
    assert answer.status_code == 409
    detail = answer.json()['detail']
    assert detail.startswith('tracks[2]: '), detail
    assert 'tracks[1]' in detail
    assert 'data {"x": 1}, now {"x": 2}' in detail
    assert 'eventId "b5"' in detail
    assert '0000' not in detail         # no track number: none was stored
    assert count_tracks(db) == 1
    # The same item twice is a replay of the first.
    answer = api.post('/tracks/batch', json={'tracks': [
        track(eventId='b5'), track(eventId='b5')]})
    assert answer.status_code == 201
    assert answer.json()['replayed'] == [1]
    assert answer.json()['ids'][0] == answer.json()['ids'][1]


# 2. positions beyond the feed

def test_positions_beyond_the_feed_give_the_feed_s_last_position(api, db):
    api.post('/goals', params={'group': 'bob'}, json={
        'type': 'CountTracker', 'name': 'one', 'target': 1,
        'conditions': []})
    page = api.get('/events/page').json()
    last = page['last']
    assert int(last) > 0
    beyond = str(int(last) * 10)
    answer = api.get('/events/page', params={'since': beyond})
    assert answer.status_code == 200
    assert answer.json() == {'events': [], 'last': last}
    # A client that keeps "last" sees what comes next.
    api.post('/tracks', json=track())
    later = api.get('/events/page', params={'since': answer.json()['last']})
    assert [e['type'] for e in later.json()['events']] == [
        'goal.all_completed']
    # The stream too: a Last-Event-ID beyond the feed starts at its end.
    with api.stream('GET', '/events', headers={
            'Last-Event-ID': beyond}) as stream:
        api.post('/goals', params={'group': 'ann'}, json={
            'type': 'CountTracker', 'name': 'two', 'target': 1,
            'conditions': []})
        lines = []
        for line in stream.iter_lines():
            if not line:
                break
            lines.append(line)
    assert lines[0] == 'event: goal.tracker_added'


# 3. and 4. names and types of times

def test_tick_errors_name_at(api, db):
    api.post('/tracks', json=track())
    for bad in (1e30, -1e30):
        answer = api.post('/goals/tick', json={'at': bad})
        assert answer.status_code in (400, 422)
        detail = json.dumps(answer.json())
        assert 'now_ts' not in detail and 'at' in detail, detail


@pytest.mark.parametrize('path, body, field', [
    ('/tracks', track(timeStamp=True), 'timeStamp'),
    ('/tracks', track(timeStamp=False), 'timeStamp'),
    ('/tracks/batch', {'tracks': [track(timeStamp=True)]}, 'timeStamp'),
    ('/goals/tick', {'at': True}, 'at'),
])
def test_booleans_are_not_times(api, db, path, body, field):
    api.post('/tracks', json=track(taskId='first'))
    answer = api.post(path, json=body)
    assert answer.status_code == 422, answer.text
    assert field in answer.text and 'boolean' in answer.text
    assert count_tracks(db) == 1


def test_booleans_are_not_times_in_goal_definitions(api, db):
    answer = api.post('/goals', params={'group': 'bob'}, json={
        'type': 'CountTracker', 'name': 'quiz', 'target': 5,
        'conditions': [],
        'limiters': [{'type': 'DeadlineLimiter', 'deadline': True}]})
    assert answer.status_code == 422, answer.text
    assert 'deadline' in answer.text


# 5. query times as POST takes them

def test_query_times_take_the_forms_a_save_takes(api, db):
    day = 1_705_363_200                   # 2024-01-16T00:00:00Z
    for ts in (day - 1, day, day + 3600, day + D):
        api.post('/tracks', json=track(timeStamp=ts))

    def times(**params):
        answer = api.get('/tracks', params=params)
        assert answer.status_code == 200, answer.text
        return sorted(t['timeStamp'] for t in answer.json()['tracks'])
    assert times(timeFrom='2024-01-16T00:00:00Z') == [day, day + 3600,
                                                      day + D]
    assert times(timeFrom=str(day), timeTo='2024-01-16T00:59:59Z') == [day]
    assert times(timeTo='%s' % (day - 0.5)) == [day - 1]
    # A date as --to takes it: its last second.
    utc_day = times(timeFrom='2024-01-16T00:00Z', timeTo='2024-01-16T01:00Z')
    assert utc_day == [day, day + 3600]
    assert times(timeStamp='2024-01-16T01:00:00+01:00') == [day]
    bad = api.get('/tracks', params={'timeFrom': 'noon'})
    assert bad.status_code == 400
    assert 'timeFrom' in bad.text and "'noon'" in bad.text


# 6. huge bodies are not echoed

def test_an_oversized_batch_gets_a_short_answer(api, db):
    answer = api.post('/tracks/batch', json={
        'tracks': [track(data={'n': i}) for i in range(20_000)]})
    assert answer.status_code == 422
    assert len(answer.content) < 1000, len(answer.content)
    assert 'at most 10000 tracks per batch, got 20000' in answer.text
    big = api.post('/tracks', json=track(data='x' * 100_000))
    assert big.status_code == 422
    assert len(big.content) < 1000 and 'data' in big.text


# 8. ticking groups without goals

def test_tick_reports_groups_without_goals(api, db):
    with db.transaction() as connection:
        storage = get_storage(connection)
        storage.goals.add_tracker('bob', CountTracker(
            'quiz', [], 5, limiters=[DeadlineLimiter(2 * D)]))
    answer = api.post('/goals/tick', json={'at': 3 * D,
                                           'groups': ['bob', 'nope']})
    assert answer.status_code == 200, answer.text
    assert answer.json()['failed'] == [{'group_id': 'bob', 'name': 'quiz'}]
    assert answer.json()['withoutGoals'] == ['nope']
    # bob's last tracker went with its deadline: he has none now.
    again = api.post('/goals/tick', json={'at': 3 * D, 'groups': ['bob']})
    assert again.json()['withoutGoals'] == ['bob']
    assert api.post('/goals/tick', json={'at': 3 * D}).json()[
        'withoutGoals'] == []


def test_a_conflict_message_cuts_long_values_and_shows_json():
    from cybertools_tracking.eventids import EventIdConflictError
    from cybertools_tracking.eventids import describe_differences
    from cybertools_tracking.web.units import conflict_message
    differences = [('data', {'text': 'x' * 500, 'ok': True}, {'ok': None}),
                   ('timeStamp', 1700000000.0, 1700000005.0)]
    error = EventIdConflictError(
        "eventId 'e9' names track 0000007 already, with other content: %s; "
        "an event id stands for one content (xAPI)"
        % describe_differences(differences), 'e9', '0000007', differences)
    message = conflict_message(error)
    assert message.startswith('eventId "e9" names track 0000007 already')
    assert 'now {"ok": null}' in message and 'True' not in message
    assert 'data {"text": "xxx' in message and '..., now' in message
    assert 'timeStamp 1700000000.0, now 1700000005.0' in message
    assert message.endswith('(xAPI)')
