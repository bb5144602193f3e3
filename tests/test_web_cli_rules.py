"""HTTP follows the command line's rules (a new user's trial): track data
read and written as ``import`` and ``export`` do (``jsoncodec``),
``runId=0`` as ``query --run 0``, and messages that quote names as JSON
without escaping what is not ASCII. Through a real uvicorn server."""

import json
import math

import pytest

pytest.importorskip('fastapi')
httpx = pytest.importorskip('httpx')

from cybertools_tracking.cli import main  # noqa: E402
from cybertools_tracking.jsoncodec import dumps  # noqa: E402
from cybertools_tracking.db import get_storage, open_db  # noqa: E402
from cybertools_tracking.goals.trackers import CountTracker  # noqa: E402
from cybertools_tracking.goals.conditions import KeyExists  # noqa: E402
from cybertools_tracking.web import create_app  # noqa: E402
from tests.webserver import running  # noqa: E402

TOKEN = 'rules-token'
AUTH = {'Authorization': 'Bearer ' + TOKEN}
JSON = dict(AUTH, **{'Content-Type': 'application/json'})
T0 = 1_700_000_000


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / 'rules.fs')


@pytest.fixture
def db(path):
    db = open_db(path)
    yield db
    db.close()


@pytest.fixture
def api(db):
    app = create_app(db, tokens=[TOKEN], open_reads=True)
    with running(app) as url:
        with httpx.Client(base_url=url, timeout=60, headers=AUTH) as client:
            yield client


def stored_data(db):
    with db.transaction() as connection:
        storage = get_storage(connection)
        return {key: dict(track.data) for key, track in storage.items()}


def body(data):
    return '{"taskId": "t", "userName": "u", "data": %s}' % data


# 1. Track data: one rule with import and export

def test_non_finite_floats_come_back_as_export_writes_them(api, db):
    # A number too large for a float is refused, as import refuses it
    # (JSON has no word for the infinity float() would make of it).
    for given in ('1e400', '-1e400'):
        answer = api.post('/tracks', content=body('{"n": %s}' % given),
                          headers=JSON)
        assert answer.status_code == 400, answer.text
        assert 'is too large for a float' in answer.json()['detail']
    for given, stored in (('{"$float": "inf"}', math.inf),
                          ('{"$float": "-inf"}', -math.inf),
                          ('{"$float": "nan"}', None)):
        answer = api.post('/tracks', content=body('{"n": %s}' % given),
                          headers=JSON)
        assert answer.status_code == 201, answer.text
        track_id = answer.json()['id']
        value = stored_data(db)[track_id]['n']
        if stored is None:
            assert math.isnan(value)
        else:
            assert value == stored
        # Never null: the CLI's encoding, in the answer and in reads.
        expected = json.loads(dumps({'n': value}))
        assert answer.json()['data'] == expected
        assert api.get('/tracks/' + track_id).json()['data'] == expected
        page = api.get('/tracks', params={'taskId': 't', 'limit': 1}).json()
        assert page['tracks'][0]['data'] == expected
    assert expected == {'n': {'$float': 'nan'}}


def test_nan_and_infinity_literals_are_a_400_naming_the_field(api, db):
    for literal, write in (('NaN', 'nan'), ('Infinity', 'inf'),
                           ('-Infinity', '-inf')):
        answer = api.post('/tracks', headers=JSON, content=body(
            '{"scores": [1, %s]}' % literal))
        assert answer.status_code == 400, answer.text
        assert answer.json()['detail'] == (
            'data.scores[1]: %s is not JSON (write {"$float": "%s"})'
            % (literal, write))
    answer = api.post('/tracks/batch', headers=JSON, content=(
        '{"tracks": [%s, %s]}' % (body('{}'), body('{"n": NaN}'))))
    assert answer.status_code == 400
    assert answer.json()['detail'].startswith('tracks[1].data.n: NaN is')
    assert stored_data(db) == {}


def test_tags_are_decoded_as_import_decodes_them(api, db):
    data = ('{"d": {"$decimal": "1.10"}, "t": {"$tuple": [1, 2]}, '
            '"m": {"$map": [["$x", 1]]}}')
    answer = api.post('/tracks', headers=JSON, content=body(data))
    assert answer.status_code == 201, answer.text
    [stored] = stored_data(db).values()
    assert str(stored['d']) == '1.10' and stored['t'] == (1, 2)
    assert stored['m'] == {'$x': 1}
    assert answer.json()['data'] == json.loads(data)
    # A tag that does not decode is a 400 too, nothing stored.
    bad = api.post('/tracks', headers=JSON, content=body(
        '{"b": {"$bytes": "***"}}'))
    assert bad.status_code == 400
    assert bad.json()['detail'].startswith('cannot read $bytes')
    assert len(stored_data(db)) == 1
    # A body that is not JSON stays FastAPI's 422.
    assert api.post('/tracks', headers=JSON,
                    content='{"taskId": ').status_code == 422


def test_what_http_answers_import_reads_back_the_same(api, db, tmp_path,
                                                      capsys):
    api.post('/tracks', headers=JSON, content=body(
        '{"n": {"$float": "inf"}, "d": {"$decimal": "2.50"}}'))
    [answer] = api.get('/tracks').json()['tracks']
    lines = tmp_path / 'tracks.jsonl'
    del answer['runId']     # a run of this database, not the other's
    lines.write_text(json.dumps(answer) + '\n')
    other = str(tmp_path / 'other.fs')
    assert main(['--db', other, 'import', str(lines)]) == 0
    capsys.readouterr()
    copy = open_db(other)
    try:
        [data] = stored_data(copy).values()
    finally:
        copy.close()
    assert data == stored_data(db)[answer['id']]


# 2. runId=0: the current run, as query --run 0

def test_run_zero_is_the_current_run_of_the_tasks_asked_for(api, db):
    for task in ('a', 'b'):
        assert api.post('/tracks', json={
            'taskId': task, 'userName': 'u', 'timeStamp': T0}).status_code \
            == 201
    assert api.post('/runs', json={'taskId': 'a'}).status_code == 201
    api.post('/tracks', json={'taskId': 'a', 'userName': 'v',
                              'timeStamp': T0 + 1})

    def users(**criteria):
        answer = api.get('/tracks', params=criteria)
        assert answer.status_code == 200, answer.text
        return sorted((t['taskId'], t['runId'], t['userName'])
                      for t in answer.json()['tracks'])
    assert users(taskId='a', runId=0) == [('a', 3, 'v')]
    assert users(taskId='b', runId=0) == [('b', 2, 'u')]
    # Several tasks, a prefix, no task at all: each task's current run.
    assert users(taskId=['a', 'b'], runId=0) == users(runId=0) == \
        users(taskId='*', runId=0) == [('a', 3, 'v'), ('b', 2, 'u')]
    assert users(taskId='a', runId=[0, 1]) == [('a', 1, 'u'), ('a', 3, 'v')]
    # No current run: nothing, as on the command line.
    assert users(taskId='c', runId=0) == []


# 3. Messages: JSON quotes, not ASCII escapes; close names offered

@pytest.fixture
def goals(db):
    with db.transaction() as connection:
        storage = get_storage(connection)
        storage.goals.add_tracker('alice', CountTracker(
            'nötig', [KeyExists('data.x')], 2))
        storage.goals.add_tracker('bob', CountTracker(
            'ü✓', [KeyExists('data.x')], 2))


def test_goal_messages_quote_as_json_and_offer_close_names(api, goals):
    answer = api.delete('/goals', params={'group': 'ali"ce', 'name': 'n"oü'})
    assert answer.status_code == 404
    detail = answer.json()['detail']
    # The group has no goals: the close groups are offered.
    assert detail == ('group "ali\\"ce" has no goal "n\\"oü"; did you mean '
                      'group "alice"?')
    raw = answer.content.decode('utf-8')
    assert '\\u00fc' not in raw and 'ü' in raw
    answer = api.post('/goals/reset', params={'group': 'alice',
                                              'name': 'notig'})
    assert answer.status_code == 404
    assert answer.json()['detail'] == (
        'group "alice" has no goal "notig"; did you mean "nötig"?')
    answer = api.post('/goals', params={'group': 'bob'}, json={
        'type': 'CountTracker', 'name': 'ü✓', 'target': 1,
        'conditions': [{'type': 'KeyExists', 'key': 'data.x'}]})
    assert answer.status_code == 409
    assert answer.json()['detail'].startswith(
        'group "bob" already has a tracker named "ü✓"')
    # Templates: the task's template names.
    assert api.post('/templates', params={'taskId': 'tâche'}, json={
        'type': 'CountTracker', 'name': 'lire', 'target': 1,
        'conditions': [{'type': 'KeyExists', 'key': 'data.x'}]}
        ).status_code == 201
    answer = api.delete('/templates', params={'taskId': 'tâche',
                                              'name': 'lir'})
    assert answer.status_code == 404
    assert answer.json()['detail'] == (
        'task "tâche" has no goal template "lir"; did you mean "lire"?')


def test_track_and_run_messages_quote_as_json(api):
    api.post('/tracks', json={'taskId': 'tâche', 'userName': 'zoë'})
    answer = api.get('/tracks/last', params={'taskId': 'tâche',
                                             'userName': 'zoé'})
    assert answer.status_code == 404
    assert answer.json()['detail'].startswith(
        'no track of "zoé" in task "tâche", run current')
    assert 'did you mean "zoë"?' in answer.json()['detail']
    answer = api.get('/tracks/ü')
    assert answer.status_code == 404
    assert answer.json()['detail'] == 'no track "ü"'
    answer = api.get('/tracks', params={'cursor': 'né'})
    assert answer.status_code == 400
    assert answer.json()['detail'].endswith('got "né"')


def test_the_feed_carries_data_json_has_no_word_for(db):
    # With every track an event, such data was refused as a whole (the
    # outbox wants JSON): now the event carries it as export writes it.
    app = create_app(db, tokens=[TOKEN], open_reads=True, track_events=True)
    with running(app) as url:
        with httpx.Client(base_url=url, timeout=60, headers=AUTH) as api:
            answer = api.post('/tracks', headers=JSON, content=body(
                '{"n": {"$float": "inf"}, "d": {"$decimal": "2.50"}}'))
            assert answer.status_code == 201, answer.text
            [event] = api.get('/events/page').json()['events']
    assert event['type'] == 'track.saved'
    assert event['data']['data'] == {'n': {'$float': 'inf'},
                                     'd': {'$decimal': '2.50'}}
