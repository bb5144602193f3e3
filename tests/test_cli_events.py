"""``cybertools-tracking events``: the outbox as JSON Lines."""

import json
import subprocess
import sys

import pytest

from cybertools_tracking.cli import main
from cybertools_tracking.db import get_storage, open_db


def fill(uri, names):
    db = open_db(uri)
    try:
        with db.transaction() as connection:
            outbox = get_storage(connection).events
            for name in names:
                outbox.append('test.%s' % name, {'name': name})
    finally:
        db.close()


def lines(text):
    return [json.loads(line) for line in text.splitlines()]


def test_prints_the_feed_since_a_position(tmp_path, capsys):
    path = str(tmp_path / 'events.fs')
    fill(path, ['a', 'b', 'c'])
    assert main(['--db', path, 'events']) == 0
    events = lines(capsys.readouterr().out)
    assert [e['data']['name'] for e in events] == ['a', 'b', 'c']
    assert [e['type'] for e in events] == ['test.a', 'test.b', 'test.c']
    assert events[0]['id'] == str(events[0]['position'])
    since = events[0]['position']
    assert main(['events', '--db', path, '--since', str(since),
                 '--limit', '1']) == 0
    assert [e['data']['name'] for e in lines(capsys.readouterr().out)] == [
        'b']


def test_prune_drops_old_events(tmp_path, capsys):
    path = str(tmp_path / 'events.fs')
    fill(path, ['a', 'b'])
    assert main(['--db', path, 'events', '--prune']) == 0
    assert 'dropped 0 events' in capsys.readouterr().err    # 7 days
    assert main(['--db', path, 'events', '--prune', '--max-age', '0']) == 0
    assert 'dropped 2 events' in capsys.readouterr().err
    assert main(['--db', path, 'events']) == 0
    assert capsys.readouterr().out == ''


def test_no_database_is_an_error_not_a_new_one(tmp_path, capsys):
    path = tmp_path / 'none.fs'
    assert main(['--db', str(path), 'events']) == 1
    assert 'no database' in capsys.readouterr().err
    assert not path.exists()


@pytest.mark.server
def test_follow_prints_what_another_process_commits(zeo_uri):
    fill(zeo_uri, ['before'])
    follower = subprocess.Popen(
        [sys.executable, '-m', 'cybertools_tracking', '--db', zeo_uri,
         'events', '--follow', '--interval', '0.05', '--limit', '3'],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(follower.stdout.readline())
        assert first['data']['name'] == 'before'
        fill(zeo_uri, ['one', 'two'])
        out, err = follower.communicate(timeout=60)
    finally:
        follower.kill()
    assert follower.returncode == 0, err
    assert [e['data']['name'] for e in lines(out)] == ['one', 'two']
