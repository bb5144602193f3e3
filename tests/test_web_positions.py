"""Event positions in JSON: strings of digits, exact beyond 2**53, the
same in the Python API's JSON, the command line's JSON Lines, the HTTP
API's pages and its Server-Sent Events."""

import json

import pytest

pytest.importorskip('fastapi')
httpx = pytest.importorskip('httpx')

from cybertools_tracking.cli import main  # noqa: E402
from cybertools_tracking.db import get_storage, open_db  # noqa: E402
from cybertools_tracking.web import create_app  # noqa: E402
from tests.test_web import read_sse  # noqa: E402
from tests.webserver import running  # noqa: E402

JS_SAFE = 2 ** 53 - 1       # Number.MAX_SAFE_INTEGER


def fill(db, names):
    with db.transaction() as connection:
        outbox = get_storage(connection).events
        for name in names:
            outbox.append('test.%s' % name, {'name': name})
    with db.transaction() as connection:
        return [e.position for e in get_storage(connection).events.since(0)]


def test_positions_are_strings_of_digits_everywhere(tmp_path, capsys):
    path = str(tmp_path / 'positions.fs')
    db = open_db(path)
    try:
        stored = fill(db, ['a', 'b', 'c'])
        # Why: a position is past what a JavaScript number holds exactly.
        assert all(p > JS_SAFE for p in stored)
        # (b is the second event of its transaction: index 1, an odd
        # number past 2**53, which no double holds)
        assert int(float(stored[1])) != stored[1]
        with db.transaction() as connection:
            first = get_storage(connection).events.since(0)[0]
        assert first.as_json()['position'] == str(stored[0])
        assert first.as_json()['id'] == str(stored[0])
        with running(create_app(db, open_reads=True,
                                poll_seconds=0.05)) as url:
            page = httpx.get(url + '/events/page').json()
            assert [e['position'] for e in page['events']] == [
                str(p) for p in stored]
            assert page['last'] == str(stored[-1])
            assert httpx.get(url + '/stats').json()[
                'lastEventPosition'] == str(stored[-1])
            # The digits given back as they came: since and Last-Event-ID.
            rest = httpx.get(url + '/events/page', params={
                'since': page['events'][0]['position']}).json()
            assert [e['data']['name'] for e in rest['events']] == ['b', 'c']
            with httpx.stream('GET', url + '/events', headers={
                    'Last-Event-ID': page['events'][1]['id']}) as response:
                [(sse_id, kind, data)] = read_sse(response, 1)
            assert (sse_id, kind) == (str(stored[2]), 'test.c')
            assert data['position'] == str(stored[2])
            # One off is another place: the position is taken exactly.
            with httpx.stream('GET', url + '/events', headers={
                    'Last-Event-ID': str(stored[1] - 1)}) as response:
                [(sse_id, _, _)] = read_sse(response, 1)
            assert sse_id == str(stored[1])
            for bad in ('+%d' % stored[0], '1e30', '-1', '12 3',
                        '%d.0' % stored[0]):
                answer = httpx.get(url + '/events', headers={
                    'Last-Event-ID': bad})
                assert answer.status_code == 400, bad
                assert 'Last-Event-ID' in answer.json()['detail']
            schema = httpx.get(url + '/openapi.json').json()[
                'components']['schemas']
            assert schema['EventOut']['properties']['position'][
                'type'] == 'string'
            assert schema['EventPage']['properties']['last'][
                'type'] == 'string'
    finally:
        db.close()
    # The command line's JSON Lines say the same.
    assert main(['--db', path, 'events']) == 0
    lines = [json.loads(line)
             for line in capsys.readouterr().out.splitlines()]
    assert [e['position'] for e in lines] == [str(p) for p in stored]
    assert main(['--db', path, 'events', '--since',
                 lines[1]['position']]) == 0
    assert [json.loads(line)['data']['name'] for line in
            capsys.readouterr().out.splitlines()] == ['c']
