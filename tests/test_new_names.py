"""validation.check_new_name at every front end: a name a write gives a
track or run (empty, with a * or a control character) is refused by the
Python API, HTTP and import alike, in the same words, storing nothing;
names stored before the rule are still read. Through a real uvicorn
server and a real FileStorage."""

import json
from unittest import mock

import pytest

from cybertools_tracking import storage as storage_module
from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.validation import InvalidValueError, check_name

from tests.test_cli import tracks_in, write
from tests.test_cli_import import cli

TOKEN = 'names-token'
BAD = [('taskId', 't*'), ('taskId', ''), ('userName', 'a\x00b'),
       ('userName', '')]


def message(field, value):
    with pytest.raises(InvalidValueError) as info:
        storage_module.TrackingStorage().saveUserTrack(
            **dict({'taskId': 't', 'userName': 'u', 'runId': 0,
                    'data': {}}, **{field: value}))
    return str(info.value)


@pytest.mark.parametrize('field, value', BAD)
def test_http_and_import_refuse_a_name_as_the_api_does(tmp_path, field,
                                                         value):
    pytest.importorskip('fastapi')
    httpx = pytest.importorskip('httpx')
    from cybertools_tracking.web import create_app
    from tests.webserver import running
    expected = message(field, value)
    path = str(tmp_path / 'names.fs')
    line = dict({'taskId': 't', 'userName': 'u', 'data': {}},
                **{field: value})
    code, out, err = cli('--db', path, 'import',
                         write(tmp_path, json.dumps(line) + '\n'))
    assert ' line 1: %s\n' % expected in err
    assert tracks_in(path) == []
    db = open_db(path)
    try:
        app = create_app(db, tokens=[TOKEN])
        with running(app) as url:
            answer = httpx.post(url + '/tracks', json=line, timeout=60,
                                headers={'Authorization': 'Bearer ' + TOKEN})
        assert answer.status_code in (400, 422), answer.text
        assert answer.json()['detail'] == expected
        with db.transaction() as connection:
            assert len(get_storage(connection)) == 0
    finally:
        db.close()


def test_names_stored_before_the_rule_are_read_and_exported(tmp_path):
    path = str(tmp_path / 'old.fs')
    db = open_db(path)
    with db.transaction() as connection:
        storage = get_storage(connection)
        # As a database of an earlier version holds them.
        with mock.patch.object(storage_module, 'check_new_name',
                               check_name):
            storage.saveUserTrack('t*', 0, '', {'n': 1}, timeStamp=5)
    db.close()
    assert tracks_in(path) == [('t*', 1, '', 5, {'n': 1})]
    code, out, err = cli('--db', path, 'export')
    assert (code, err) == (0, '')
    assert '"taskId": "t*", "runId": 1, "userName": ""' in out
    # Imported elsewhere, such a line is refused and said why.
    again = str(tmp_path / 'new.fs')
    code, out, err = cli('--db', again, 'import',
                         write(tmp_path, out, 'export.jsonl'))
    assert 'taskId must not contain *' in err
    assert tracks_in(again) == []
