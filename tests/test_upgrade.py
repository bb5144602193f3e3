"""A database written before the row layout converts, and answers as before.

tests/fixtures/old_layout.fs was written by the code before the row layout
(see tests/fixtures/make_old_layout.py), and old_layout.json holds what
that code answered about it.
"""

import json
import os
import shutil

import pytest
import transaction

from cybertools_tracking import upgrade as upgrading
from cybertools_tracking.check import check_storage
from cybertools_tracking.cli import main
from cybertools_tracking.db import DEFAULT_NAME, get_storage, open_db
from tests.fixtures.make_old_layout import Visit, answers

HERE = os.path.join(os.path.dirname(__file__), 'fixtures')
with open(os.path.join(HERE, 'old_layout.json')) as f:
    EXPECTED = json.load(f)


@pytest.fixture
def old_path(tmp_path):
    path = str(tmp_path / 'old.fs')
    shutil.copy(os.path.join(HERE, 'old_layout.fs'), path)
    return path


def _root_storage(db):
    conn = db.open()
    return conn, conn.root()[DEFAULT_NAME]


def _assert_converted(path):
    db = open_db(path)
    conn, st = _root_storage(db)
    try:
        assert st.layout == 'rows'
        assert '_tracks' not in st.__dict__ and '_index' not in st.__dict__
        assert st.trackFactory is Visit
        assert answers(st) == EXPECTED
        assert check_storage(st) == []
        # ... and it goes on working: new numbers, index values, queries.
        new = st.saveUserTrack('quiz', 0, 'u2', {'page': 'p3'})
        assert int(new) > max(int(k) for k in EXPECTED['keys'])
        assert new in [t.__name__ for t in st.query(page='p3')]
        assert st.getLastUserTrack('quiz', 0, 'u2').__name__ == new
        transaction.abort()
    finally:
        conn.close()
        db.close()


def test_converted_on_open(old_path):
    db = open_db(old_path)
    conn = db.open()
    st = get_storage(conn)
    assert st.layout == 'rows'
    assert answers(st) == EXPECTED       # before the commit too
    transaction.commit()
    conn.close()
    db.close()
    _assert_converted(old_path)


def test_not_converted_when_the_caller_aborts(old_path):
    db = open_db(old_path)
    conn = db.open()
    get_storage(conn)
    transaction.abort()
    conn2, st = _root_storage(db)
    assert st.layout == 'records'
    conn2.close()
    conn.close()
    db.close()


def test_a_big_storage_is_refused_on_open(old_path, monkeypatch):
    monkeypatch.setattr(upgrading, 'ON_OPEN_MAX', 10)
    db = open_db(old_path)
    conn = db.open()
    with pytest.raises(upgrading.LayoutError, match='cybertools-tracking '
                                                    'upgrade'):
        get_storage(conn)
    transaction.abort()
    conn.close()
    db.close()


def test_upgrade_command(old_path, capsys):
    assert main(['--db', old_path, 'upgrade', '--batch', '40']) == 0
    out = capsys.readouterr().out
    assert 'converted %d tracks' % EXPECTED['len'] in out
    _assert_converted(old_path)
    assert main(['--db', old_path, 'upgrade']) == 0
    assert 'nothing to do' in capsys.readouterr().out


def test_upgrade_resumes_after_a_stop(old_path):
    db = open_db(old_path)
    batches = []

    def stop_after_two(count):
        batches.append(count)
        if len(batches) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        upgrading.upgrade(db, DEFAULT_NAME, 30, stop_after_two)
    conn, st = _root_storage(db)
    assert st.layout == 'records' and st._upgrade.done > 0
    assert sum(1 for _ in st._store.numbers()) == 60
    conn.close()
    assert upgrading.upgrade(db, DEFAULT_NAME, 30) == EXPECTED['len'] - 60
    db.close()
    _assert_converted(old_path)
