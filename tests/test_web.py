"""The HTTP API, through a real uvicorn server and real HTTP (httpx)."""

import json
import threading

import pytest

pytest.importorskip('fastapi')
httpx = pytest.importorskip('httpx')

from cybertools_tracking.db import get_storage, open_db  # noqa: E402
from cybertools_tracking.web import Tokens, create_app, load_tokens  # noqa
from cybertools_tracking.web.auth import TOKENS_ENV  # noqa: E402
from tests.webserver import running  # noqa: E402

TOKEN = 'test-token-1234'
AUTH = {'Authorization': 'Bearer ' + TOKEN}
T0 = 1_700_000_000


@pytest.fixture
def db(tmp_path):
    db = open_db(str(tmp_path / 'web.fs'))
    yield db
    db.close()


@pytest.fixture
def api(db):
    app = create_app(db, tokens=[TOKEN], open_reads=True, poll_seconds=0.05)
    with running(app) as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client


def track(user='ann', task='t', **more):
    return dict(taskId=task, userName=user, **more)


def test_tokens_guard_writes(db):
    with running(create_app(db, tokens=[])) as url:
        answer = httpx.post(url + '/tracks', json=track(), headers=AUTH)
        assert answer.status_code == 403
        assert TOKENS_ENV in answer.json()['detail']
        assert '--token-file' in answer.json()['detail']
        # Reads are closed by default: they want a token too.
        answer = httpx.get(url + '/tasks')
        assert answer.status_code == 403
        assert '--open-reads' in answer.json()['detail']
    with running(create_app(db, tokens=[TOKEN, 'other'])) as url:
        assert httpx.post(url + '/tracks', json=track()).status_code == 401
        wrong = httpx.post(url + '/tracks', json=track(),
                           headers={'Authorization': 'Bearer ' + TOKEN[:-1]})
        assert wrong.status_code == 403
        assert httpx.get(url + '/tasks').status_code == 401
        assert httpx.post(url + '/tracks', json=track(),
                          headers=AUTH).status_code == 201
        assert httpx.get(url + '/tasks', headers=AUTH).json() == ['t']
        assert httpx.get(url + '/tasks', params={
            'access_token': 'other'}).json() == ['t']


def test_tokens_from_a_file_or_the_environment(tmp_path):
    path = tmp_path / 'tokens'
    path.write_text('# writers\none\n\n two \n')
    tokens = load_tokens(str(path))
    assert len(tokens) == 2 and tokens.accepts('two')
    assert not tokens.accepts('tw') and not tokens.accepts(None)
    assert len(load_tokens(environ={TOKENS_ENV: 'a, b c'})) == 3
    assert not load_tokens(environ={})
    with pytest.raises(TypeError):
        Tokens('one')


def test_reads_never_create_the_storage(db, api):
    answer = api.get('/tracks')
    assert answer.status_code == 404
    assert 'made by the first write' in answer.json()['detail']
    with db.transaction() as connection:
        assert 'tracking' not in connection.root()


def test_save_query_and_page_newest_first(api):
    saved = api.post('/tracks', json=track(data={'score': 7},
                                           timeStamp=T0), headers=AUTH)
    assert saved.status_code == 201 and saved.headers['X-Attempts'] == '1'
    assert saved.json() == {'id': '0000001', 'taskId': 't', 'runId': 1,
                            'userName': 'ann', 'timeStamp': T0,
                            'data': {'score': 7}, 'eventId': None}
    batch = [track('u%d' % (i % 3), 'task/%d' % (i % 2), timeStamp=T0 + i // 2,
                   data={'i': i}) for i in range(25)]
    answer = api.post('/tracks/batch', json={'tracks': batch}, headers=AUTH)
    assert answer.status_code == 201 and answer.json()['count'] == 25
    # Pages of 4, newest first, ties in a second broken by the id.
    seen, cursor = [], None
    while True:
        params = {'taskId': 'task/*', 'limit': 4}
        if cursor:
            params['cursor'] = cursor
        page = api.get('/tracks', params=params).json()
        seen += [t['data']['i'] for t in page['tracks']]
        cursor = page['next']
        if cursor is None:
            break
    assert seen == list(range(24, -1, -1))
    # Asked for in so many words, or the other way round.
    for newest, order in (('true', list(range(24, -1, -1))),
                          ('false', list(range(25)))):
        seen, cursor = [], None
        while True:
            params = {'taskId': 'task/*', 'limit': 4, 'newestFirst': newest}
            if cursor:
                params['cursor'] = cursor
            answer = api.get('/tracks', params=params)
            assert answer.status_code == 200, answer.text
            seen += [t['data']['i'] for t in answer.json()['tracks']]
            cursor = answer.json()['next']
            if cursor is None:
                break
        assert seen == order, newest
    only = api.get('/tracks', params={'userName': ['u0', 'u1'],
                                      'taskId': 'task/0',
                                      'timeFrom': T0 + 2, 'timeTo': T0 + 5})
    assert sorted(t['data']['i'] for t in only.json()['tracks']) == [
        4, 6, 10]
    assert api.get('/tracks', params={'limit': 100}).json()['tracks'][-1][
        'id'] == '0000001'
    assert api.get('/tracks/0000001').json()['data'] == {'score': 7}
    missing = api.get('/tracks/0009999')
    assert missing.status_code == 404
    assert missing.json()['detail'] == 'no track "0009999"'
    assert api.get('/tracks/last', params={
        'taskId': 't', 'userName': 'nobody'}).json()['detail'] == \
        'no track of "nobody" in task "t", run current'
    last = api.get('/tracks/last', params={'taskId': 'task/0',
                                           'userName': 'u0'}).json()
    assert last['data'] == {'i': 24}
    assert api.get('/tasks').json() == ['t', 'task/0', 'task/1']
    assert api.get('/users', params={'taskId': 'task/1'}).json() == [
        'u0', 'u1', 'u2']
    stats = api.get('/stats').json()
    assert stats['tracks'] == 26 and stats['users'] == 4 and \
        stats['tasks'] == 3


def test_bad_input_is_a_400_with_the_library_message_and_writes_nothing(api):
    api.post('/tracks', json=track(), headers=AUTH)
    bad = [track('u%d' % i) for i in range(3)]
    bad[2]['timeStamp'] = 10 ** 12         # past the year 9999
    answer = api.post('/tracks/batch', json={'tracks': bad}, headers=AUTH)
    assert answer.status_code == 400
    assert answer.json()['detail'].startswith('tracks[2]: timeStamp')
    assert api.get('/stats').json()['tracks'] == 1     # none of the batch
    answer = api.post('/tracks', content=b'{"taskId": "t", "userName": '
                      b'"\\udc00"}', headers={**AUTH, 'Content-Type':
                                              'application/json'})
    assert answer.status_code == 400 and 'surrogate' in answer.text
    assert api.post('/tracks', json={'taskId': 't'},
                    headers=AUTH).status_code == 422       # shape: pydantic
    assert api.get('/tracks', params={'cursor': 'x'}).status_code == 400
    for params in ({'user': 'ann'}, {'task': 't'}, {'foo': '1'},
                   {'userName': 'ann', 'foo': '1'}):
        answer = api.get('/tracks', params=params)
        name = [n for n in params if n != 'userName'][0]
        assert answer.status_code == 400, params
        assert "unknown query parameter '%s'" % name in answer.text
        assert 'userName' in answer.json()['detail']
        assert 'timeFromTo' not in answer.json()['detail']
        assert 'cursor' in answer.json()['detail']
    # The closest names are offered, by the rule forget-user offers users.
    for name, meant in (('user', 'userName'), ('username', 'userName'),
                        ('task', 'taskId'), ('from', 'timeFrom')):
        detail = api.get('/tracks', params={name: 'x'}).json()['detail']
        assert detail.startswith("unknown query parameter %r (did you "
                                 "mean %r?): expected " % (name, meant)), \
            detail
        # HTTP words it with its own names, the library's words not added.
        assert detail.count('did you mean') == 1, detail
        assert 'criterion' not in detail, detail
    detail = api.get('/tracks', params={'foo': '1'}).json()['detail']
    assert 'did you mean' not in detail
    # a cache-buster and other names starting with _ are ignored
    assert len(api.get('/tracks', params={'userName': 'ann', '_': '123',
                                          '_x': 'y'}).json()['tracks']) == 1
    # what the command line refuses: a * not at the end, a reversed range
    for name, value in (('taskId', 'py*on/intro'), ('userName', '*nn')):
        answer = api.get('/tracks', params={name: value})
        assert answer.status_code == 400, name
        assert answer.json()['detail'].startswith(
            "%s %r: only a trailing * makes a prefix" % (name, value))
    answer = api.get('/tracks', params={'timeFrom': '2024-01-17',
                                        'timeTo': '2024-01-16'})
    assert answer.status_code == 400
    assert answer.json()['detail'] == (
        'timeFrom 2024-01-17 is after timeTo 2024-01-16: no time is in '
        'that range; give the earlier time to timeFrom')
    assert api.get('/tracks', params={'timeFrom': '2024-01-16',
                                      'timeTo': '2024-01-16'}).status_code \
        == 200
    assert len(api.get('/tracks', params={'userName': 'ann'}).json()[
        'tracks']) == 1
    too_many = {'tracks': [track()] * 10_001}
    assert api.post('/tracks/batch', json=too_many,
                    headers=AUTH).status_code == 422


def test_runs(api):
    started = api.post('/runs', json={'taskId': 'r'}, headers=AUTH)
    assert started.status_code == 201 and started.json()['current']
    api.post('/tracks', json=track(task='r'), headers=AUTH)
    stopped = api.post('/runs/stop', json={'taskId': 'r'}, headers=AUTH)
    assert stopped.json()['finished'] and not stopped.json()['current']
    stopped = api.post('/runs/stop', json={'taskId': 'r'}, headers=AUTH)
    assert stopped.status_code == 404
    assert stopped.json()['detail'] == 'no run current of task "r" to stop'
    assert [r['id'] for r in api.get('/runs', params={
        'finished': True}).json()] == [1]
    # Whose current run? A missing taskId, said as for any missing field.
    for body in ({}, {'runId': 0}, {'taskId': None, 'finish': False}):
        stopped = api.post('/runs/stop', json=body, headers=AUTH)
        assert stopped.status_code == 422, body
        [problem] = stopped.json()['detail']
        assert (problem['type'], problem['loc']) == (
            'missing', ['body', 'taskId']), problem
        assert problem['msg'].startswith('Field required: the task whose '
                                         'current run to stop'), problem
        assert 'null' not in problem['msg']
    # A run named by its number needs no task (runs may have none).
    started = api.post('/runs', json={}, headers=AUTH).json()
    stopped = api.post('/runs/stop', json={'runId': started['id']},
                       headers=AUTH)
    assert stopped.status_code == 200 and stopped.json()['finished']
    stopped = api.post('/runs/stop', json={'runId': 99}, headers=AUTH)
    assert (stopped.status_code, stopped.json()['detail']) == (
        404, 'no run 99 to stop')
    # A run of another task than the one named: a 409, nothing stopped.
    other = api.post('/runs', json={'taskId': 'q'}, headers=AUTH).json()
    stopped = api.post('/runs/stop', json={'taskId': 'r', 'runId':
                                           other['id']}, headers=AUTH)
    assert (stopped.status_code, stopped.json()['detail']) == (
        409, 'run %d is a run of task "q", not of "r"; nothing was '
        'stopped' % other['id'])
    [run] = api.get('/runs', headers=AUTH, params={'taskId': 'q'}).json()
    assert run['current'] and not run['finished']


def test_goals_and_templates(api):
    count = {'type': 'CountTracker', 'name': 'three', 'target': [2, 3],
             'conditions': [{'type': 'KeyValueGE', 'key': 'data.score',
                             'value': 50}]}
    added = api.post('/goals', params={'group': 'ann'}, json=count,
                     headers=AUTH)
    assert added.status_code == 201 and added.json()['group_id'] == 'ann'
    assert api.post('/goals', params={'group': 'ann'}, json=count,
                    headers=AUTH).status_code == 409
    bad = dict(count, conditions=[{'type': 'KeyValueGE', 'key': 'x'}])
    answer = api.post('/goals', params={'group': 'bob'}, json=bad,
                      headers=AUTH)
    assert answer.status_code == 400 and 'value' in answer.json()['detail']
    for score in (60, 10, 70):
        api.post('/tracks', json=track(data={'score': score}), headers=AUTH)
    [shown] = api.get('/goals', params={'group': 'ann'}).json()
    assert shown['progress'] == 2 and shown['stage'] == 2
    reset = api.post('/goals/reset', params={'group': 'ann', 'name': 'three',
                                             'reset_policy': 3},
                     headers=AUTH)
    assert reset.status_code == 200 and reset.json()['progress'] == 0
    assert api.delete('/goals', params={'group': 'ann', 'name': 'three'},
                      headers=AUTH).status_code == 200
    assert api.get('/goals', params={'group': 'ann'}).json() == []
    gone = api.delete('/goals', params={'group': 'ann', 'name': 'three'},
                      headers=AUTH)
    # Names quoted as JSON, as the 409s of goals and eventIds quote them.
    assert gone.status_code == 404
    assert gone.json()['detail'] == 'group "ann" has no goal "three"'
    # A reset of a goal the group lacks: the same 404, not a 400
    # "not enough values to unpack".
    reset = api.post('/goals/reset', params={'group': 'ann', 'name': 'three'},
                     headers=AUTH)
    assert reset.status_code == 404
    assert reset.json()['detail'] == 'group "ann" has no goal "three"'

    once = {'type': 'CountTracker', 'name': 'once', 'target': 1,
            'conditions': []}
    assert api.post('/templates', params={'taskId': 'q'}, json=once,
                    headers=AUTH).status_code == 201
    twice = api.post('/templates', params={'taskId': 'q'}, json=once,
                     headers=AUTH)
    assert twice.status_code == 409
    assert twice.json()['detail'] == \
        'task "q" has a goal template "once" already'
    none = api.delete('/templates', params={'taskId': 'q', 'name': 'twice'},
                      headers=AUTH)
    assert none.status_code == 404
    assert none.json()['detail'] == 'task "q" has no goal template "twice"'
    api.post('/tracks', json=track('cy', 'q'), headers=AUTH)
    [copy] = api.get('/templates', params={'taskId': 'q',
                                           'userName': 'cy'}).json()
    assert copy['state'] == 'completed'
    assert [t['name'] for t in api.get('/templates', params={
        'taskId': 'q'}).json()] == ['once']
    assert api.delete('/templates', params={'taskId': 'q', 'name': 'once'},
                      headers=AUTH).status_code == 200
    events = api.get('/events/page').json()['events']
    assert [e['type'] for e in events] == [
        'goal.tracker_added', 'goal.reset', 'goal.stage_completed',
        'goal.reset', 'goal.tracker_added', 'goal.all_completed']



def test_a_path_no_track_has_is_a_400_naming_the_path_meant(api):
    pages = {'type': 'CountTracker', 'name': 'pages', 'target': 3,
             'conditions': [{'type': 'KeyExists', 'key': 'page'}]}
    for path, params in (('/goals', {'group': 'ann'}),
                         ('/templates', {'taskId': 'q'})):
        answer = api.post(path, params=params, json=pages, headers=AUTH)
        assert answer.status_code == 400
        assert "'data.page'" in answer.json()['detail']
    assert api.get('/goals', params={'group': 'ann'}).json() == []
    assert api.get('/templates', params={'taskId': 'q'}).json() == []


def test_goals_of_the_time_and_composite_kinds(api):
    lesson = [{'type': 'KeyValueEQ', 'key': 'taskId', 'value': 'lesson'}]
    window = {'type': 'WindowTracker', 'name': 'two-an-hour', 'target': 2,
              'window': 3600, 'conditions': lesson,
              'limiters': [{'type': 'SlidingWindowLimiter', 'count': 5,
                            'window': 60}]}
    period = {'type': 'PeriodTracker', 'name': 'daily', 'target': 1,
              'period': 'daily', 'tz': 'Europe/Berlin', 'streak_target': 3,
              'conditions': lesson,
              'limiters': [{'type': 'DeadlineLimiter',
                            'deadline': T0 + 86400 * 30}]}
    for tracker in (window, period):
        added = api.post('/goals', params={'group': 'ann'}, json=tracker,
                         headers=AUTH)
        assert added.status_code == 201, added.text
        shown = added.json()
        assert shown['type'] == tracker['type'] and shown['progress'] == 0
        assert shown['limiters'][0]['type'] == tracker['limiters'][0]['type']
    # A composite has no conditions; without a target it wants all of
    # its components.
    every = {'type': 'CompositeTracker', 'name': 'both', 'components': [
                 {'group_id': 'ann', 'name': 'two-an-hour'},
                 {'group_id': 'ann', 'name': 'daily'}]}
    added = api.post('/goals', params={'group': 'team'}, json=every,
                     headers=AUTH)
    assert added.status_code == 201, added.text
    assert added.json()['target'] is None
    assert added.json()['conditions'] == []
    one = {'type': 'CompositeTracker', 'name': 'either', 'target': 1,
           'measure': 'completed', 'components': every['components']}
    added = api.post('/goals', params={'group': 'team'}, json=one,
                     headers=AUTH)
    assert added.status_code == 201, added.text
    assert added.json()['target'] == [1]
    # Other kinds still need their conditions and target: the library's
    # message names the missing field.
    for missing in ('conditions', 'target'):
        answer = api.post('/goals', params={'group': 'cy'}, headers=AUTH,
                          json={key: value for key, value in dict(
                              window, name='w1').items() if key != missing})
        assert answer.status_code == 400, answer.text
        assert 'missing field(s) %s' % missing in answer.json()['detail']
    for ts in (T0, T0 + 600):
        assert api.post('/tracks', json=track(task='lesson', timeStamp=ts),
                        headers=AUTH).status_code == 201
    shown = {t['name']: t for t in api.get('/goals', params={
        'group': 'ann'}).json()}
    assert shown['two-an-hour']['state'] == 'completed'
    assert shown['two-an-hour']['times'] == [T0, T0 + 600]
    assert shown['two-an-hour']['window'] == 3600
    assert shown['daily']['met'] is True and shown['daily']['tz'] == \
        'Europe/Berlin'
    assert shown['daily']['period_key'] == '2023-11-14'
    # A composite reads its components with an item of its own group.
    api.post('/tracks', json=track('team', 'meeting', timeStamp=T0 + 700),
             headers=AUTH)
    team = {t['name']: t for t in api.get('/goals', params={
        'group': 'team'}).json()}['both']
    assert team['progress'] == 1 and team['components'] == every[
        'components']
    # What a GET gave (state and all) is a definition to post again.
    again = dict(shown['daily'], name='daily-again')
    posted = api.post('/goals', params={'group': 'ann'}, json=again,
                      headers=AUTH)
    assert posted.status_code == 201, posted.text
    assert posted.json()['progress'] == 0 and posted.json()['met'] is False
    # Bad definitions: the library's message names the field; unknown
    # fields are refused by the model; nothing is added.
    for bad, words in (
            (dict(window, name='w2', window=-1), 'window must be a positive'),
            (dict(period, name='p2', tz='Mars/Base'), 'IANA time zone'),
            (dict(every, name='c2', components=[
                {'group_id': 'ann', 'name': 'nope'}]), "no tracker 'nope'")):
        answer = api.post('/goals', params={'group': 'cy'}, json=bad,
                          headers=AUTH)
        assert answer.status_code == 400 and words in answer.json()[
            'detail'], answer.text
    assert api.post('/goals', params={'group': 'cy'}, json=dict(
        window, name='w3', colour='red'), headers=AUTH).status_code == 422
    assert api.get('/goals', params={'group': 'cy'}).json() == []


def read_sse(response, count):
    """The first ``count`` events of an SSE response as (id, event, data)."""
    found, current = [], {}
    for line in response.iter_lines():
        if not line:
            if 'data' in current:
                found.append((current.get('id'), current.get('event'),
                              json.loads(current['data'])))
                if len(found) == count:
                    return found
            current = {}
        elif not line.startswith(':'):
            name, _, value = line.partition(':')
            current[name] = value[1:] if value.startswith(' ') else value
    return found


def test_event_stream_resumes_with_last_event_id(db, api):
    with db.transaction() as connection:
        storage = get_storage(connection)
        storage.addTrackObserver(storage.events)
    api.post('/tracks', json=track('before'), headers=AUTH)
    got = []

    def listen():
        with api.stream('GET', '/events') as response:   # new events only
            assert response.headers['content-type'].startswith(
                'text/event-stream')
            got.extend(read_sse(response, 2))
    listener = threading.Thread(target=listen)
    listener.start()
    # The stream starts at the newest event: wait until it is connected.
    import time
    time.sleep(0.5)
    for user in ('one', 'two', 'three'):
        api.post('/tracks', json=track(user), headers=AUTH)
    listener.join(30)
    assert [(e, d['data']['userName']) for _, e, d in got] == [
        ('track.saved', 'one'), ('track.saved', 'two')]
    assert got[0][0] == str(got[0][2]['position'])
    with api.stream('GET', '/events', headers={
            'Last-Event-ID': got[1][0]}) as response:
        [(_, _, data)] = read_sse(response, 1)
    assert data['data']['userName'] == 'three'
    with api.stream('GET', '/events', params={'since': 0}) as response:
        assert [d['data']['userName'] for _, _, d in read_sse(
            response, 4)] == ['before', 'one', 'two', 'three']
    assert api.get('/events', headers={
        'Last-Event-ID': 'x'}).status_code == 400


def test_openapi_documents_every_endpoint(api):
    schema = api.get('/openapi.json').json()
    paths = schema['paths']
    expected = {
        '/tracks': {'get', 'post'}, '/tracks/batch': {'post'},
        '/tracks/last': {'get'}, '/tracks/{trackId}': {'get'},
        '/tasks': {'get'}, '/users': {'get'}, '/runs': {'get', 'post'},
        '/runs/stop': {'post'}, '/stats': {'get'},
        '/goals': {'get', 'post', 'delete'}, '/goals/reset': {'post'},
        '/goals/tick': {'post'},
        '/templates': {'get', 'post', 'delete'}, '/events': {'get'},
        '/events/page': {'get'}, '/': {'get'}, '/dashboard/charts': {'get'}}
    assert {path: set(ops) for path, ops in paths.items()} == expected
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert operation.get('summary'), (method, path)
    saving = paths['/tracks']['post']
    assert saving['security'] == [{'HTTPBearer': []}]
    assert {'400', '401', '403', '409', '503'} <= set(saving['responses'])
    schemas = schema['components']['schemas']
    assert {'TrackOut', 'RunOut', 'TrackerIn', 'TrackerOut', 'Limiter',
            'EventOut'} <= set(schemas)
    assert any(name.startswith('Condition') for name in schemas)
    model = schemas['TrackIn']
    assert {'taskId', 'userName', 'eventId', 'timeStamp'} <= set(
        model['properties'])
    assert paths['/events']['get']['responses']['200']['content'].keys() == {
        'text/event-stream'}


def test_event_ids_make_saves_idempotent_where_the_storage_has_them(db, api):
    import inspect
    from cybertools_tracking.storage import TrackingStorage
    first = api.post('/tracks', json=track(eventId='e-1', data={'a': 1}),
                     headers=AUTH)
    assert first.status_code == 201                 # accepted either way
    if 'eventId' not in inspect.signature(
            TrackingStorage.saveUserTrack).parameters:
        pytest.skip('this storage has no event ids (issue 9 adds them)')
    assert 'Idempotent-Replayed' not in first.headers
    again = api.post('/tracks', json=track(eventId='e-1', data={'a': 1}),
                     headers=AUTH)
    # A replay: the stored track, 200 (nothing created), said in a header.
    assert again.status_code == 200
    assert again.headers['Idempotent-Replayed'] == 'true'
    assert again.json() == first.json()
    other = api.post('/tracks', json=track(eventId='e-1', data={'a': 2}),
                     headers=AUTH)
    assert other.status_code == 409
    assert '"e-1"' in other.json()['detail']
    batch = api.post('/tracks/batch', headers=AUTH, json={'tracks': [
        track(eventId='e-2'), track(eventId='e-1', data={'a': 1})]})
    assert batch.json()['ids'][1] == first.json()['id']
    assert batch.json()['replayed'] == [1]
    # Another track under a known event id, in a batch: a 409, nothing
    # of the batch saved.
    refused = api.post('/tracks/batch', headers=AUTH, json={'tracks': [
        track(eventId='e-3'), track(eventId='e-1', data={'a': 3})]})
    assert refused.status_code == 409
    assert 'tracks[1]' in refused.json()['detail']
    assert 'data {"a": 1}, now {"a": 3}' in refused.json()['detail']
    # Every answer with a track says its event id.
    assert first.json()['eventId'] == 'e-1'
    assert again.json()['eventId'] == 'e-1'
    track_id = first.json()['id']
    assert api.get('/tracks/' + track_id).json()['eventId'] == 'e-1'
    assert api.get('/tracks/last', params={'taskId': 't', 'userName': 'ann'}
                   ).json()['eventId'] == 'e-2'
    assert sorted((t['eventId'] or '') for t in api.get(
        '/tracks').json()['tracks']) == ['e-1', 'e-2']
    # Without group commit (each save its own transaction) the same.
    with running(create_app(db, tokens=[TOKEN], open_reads=True,
                            group_commit=False)) as url:
        alone = httpx.post(url + '/tracks', headers=AUTH, json=track(
            eventId='e-1', data={'a': 1}))
        assert alone.status_code == 200, alone.text
        assert alone.headers['Idempotent-Replayed'] == 'true'
        assert alone.json()['id'] == first.json()['id']
        fresh = httpx.post(url + '/tracks', headers=AUTH, json=track(
            eventId='e-4'))
        assert fresh.status_code == 201
        assert httpx.post(url + '/tracks', headers=AUTH, json=track(
            eventId='e-4', data={'b': 1})).status_code == 409


def test_errors_map_to_http_answers():
    from transaction.interfaces import TransientError
    from ZODB.POSException import ConflictError
    from cybertools_tracking.db import DatabaseUnavailableError
    from cybertools_tracking.goals.interfaces import ConflictingNameError
    from cybertools_tracking.validation import InvalidValueError
    from cybertools_tracking.web.units import http_error
    for error, status in (
            (ConflictError('again'), 503), (TransientError('x'), 503),
            (DatabaseUnavailableError(('127.0.0.1', 1), 2), 503),
            (ConflictingNameError('ann', 'three'), 409),
            (InvalidValueError('runId must be ...'), 400),
            (KeyError('no track'), 404)):
        mapped = http_error(error)
        assert mapped.status_code == status, error
    assert http_error(ConflictError('x')).headers == {'Retry-After': '1'}
    assert http_error(KeyError('no track')).detail == 'no track'
    bug = RuntimeError('a bug')
    assert http_error(bug) is bug                   # a 500, not hidden


def test_iso_times_are_taken_as_import_takes_them(api):
    for text, expected in (('2026-01-01T00:00:00Z', 1767225600),
                           ('2026-01-01T01:30:00+01:30', 1767225600),
                           ('2026-01-01T00:00+0000', 1767225600),
                           ('1767225600', 1767225600)):
        saved = api.post('/tracks', json=track(timeStamp=text), headers=AUTH)
        assert saved.status_code == 201, (text, saved.text)
        assert saved.json()['timeStamp'] == expected, text
    batch = api.post('/tracks/batch', headers=AUTH, json={'tracks': [
        track(timeStamp='2026-01-01T00:00:01Z')]})
    assert batch.status_code == 201
    bad = api.post('/tracks', json=track(timeStamp='New Year'), headers=AUTH)
    assert bad.status_code == 422 and 'timeStamp' in bad.text
    assert "got 'New Year'" in bad.text
    assert api.get('/stats').json()['tracks'] == 5


def test_removing_a_component_of_a_live_composite(api):
    def add(group, body):
        answer = api.post('/goals', params={'group': group}, json=body,
                          headers=AUTH)
        assert answer.status_code == 201, answer.text
    count = {'type': 'CountTracker', 'target': 1,
             'conditions': [{'type': 'KeyExists', 'key': 'data.x'}]}
    for name in ('c1', 'c2'):
        add('ann', dict(count, name=name))
    add('ann', {'type': 'CompositeTracker', 'name': 'both',
                'components': [{'group_id': 'ann', 'name': 'c1'},
                               {'group_id': 'ann', 'name': 'c2'}]})
    add('team', {'type': 'CompositeTracker', 'name': 'only-c2', 'target': 1,
                 'components': [{'group_id': 'ann', 'name': 'c2'}]})
    before = api.get('/goals', params={'group': 'ann'}).json()
    refused = api.delete('/goals', params={'group': 'ann', 'name': 'c1'},
                         headers=AUTH)
    assert refused.status_code == 409
    detail = refused.json()['detail']
    assert 'detach=true' in detail and 'remove_tracker' not in detail
    assert '"both" of group "ann"' in detail
    assert 'DELETE /goals?group=ann&name=both' in detail
    assert api.get('/goals', params={'group': 'ann'}).json() == before
    # detach=false is the default, said explicitly
    assert api.delete('/goals', params={'group': 'ann', 'name': 'c1',
                                        'detach': 'false'},
                      headers=AUTH).status_code == 409
    removed = api.delete('/goals', params={'group': 'ann', 'name': 'c1',
                                           'detach': 'true'}, headers=AUTH)
    assert removed.status_code == 200 and removed.json()['name'] == 'c1'
    assert removed.json()['state'] == 'removed'     # as it is after
    [both] = [t for t in api.get('/goals', params={'group': 'ann'}).json()
              if t['name'] == 'both']
    assert [c['name'] for c in both['components']] == ['c2']
    # a composite left with nothing: refused even with detach
    out = api.delete('/goals', params={'group': 'ann', 'name': 'c2',
                                       'detach': 'true'}, headers=AUTH)
    assert out.status_code == 409
    assert 'composite "' in out.json()['detail']
    assert '0 components left' in out.json()['detail']
    spec = api.get('/openapi.json').json()
    params = spec['paths']['/goals']['delete']['parameters']
    assert 'detach' in [p['name'] for p in params]
    assert '409' in spec['paths']['/goals']['delete']['responses']
