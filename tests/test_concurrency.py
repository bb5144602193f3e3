"""Several processes writing into one database at once, on ZEO and on
RelStorage over PostgreSQL: nothing lost, nothing counted twice."""

import collections
import json
import os
import subprocess
import sys

import pytest
import transaction

from cybertools_tracking.check import check_storage
from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.goals import CountTracker, KeyValueEQ
from cybertools_tracking.tracked_goals import task_group

WRITER = os.path.join(os.path.dirname(__file__), 'writer.py')
WRITERS, PER_WRITER, BATCH = 4, 2500, 50
USERS = ['user-%d' % n for n in range(10)]


def setup_goals(uri):
    """A storage whose users each count their 'a' tracks, and whose tasks
    give each user a copy of a visit counter; stages at 20 and 60 (5 and
    25), then a target no one reaches, so progress keeps counting."""
    db = open_db(uri)
    with db.transaction() as connection:
        storage = get_storage(connection)
        for user in USERS:
            storage.goals.add_tracker(user, CountTracker(
                name='a-count', target=[20, 60, 10 ** 9],
                conditions=[KeyValueEQ('data.kind', 'a')]))
        for task in ['task-%d' % n for n in range(4)]:
            storage.goals.add_task_goal(task, CountTracker(
                name='visits', target=[5, 25, 10 ** 9], conditions=[]))
    return db


def run_writers(uri, writers=WRITERS, count=PER_WRITER, batch=BATCH):
    processes = [subprocess.Popen(
        [sys.executable, WRITER, uri, str(n), str(count), str(batch)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(writers)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
        results.append(json.loads(out))
    return results


def check_result(db, results):
    ids = [i for r in results for i in r['ids']]
    connection = db.open()
    storage = get_storage(connection, create=False)
    assert len(ids) == len(set(ids)) == WRITERS * PER_WRITER
    assert len(storage) == WRITERS * PER_WRITER
    assert sorted(storage.keys()) == sorted(ids)
    assert check_storage(storage) == []

    tracks = list(storage.values())
    users_of = collections.defaultdict(set)
    a_tracks = collections.Counter()
    visits = collections.Counter()
    for track in tracks:
        users_of[track.taskId].add(track.userName)
        visits[track.taskId, track.userName] += 1
        if track.data['kind'] == 'a':
            a_tracks[track.userName] += 1
    assert storage.getTaskIds() == sorted(users_of)
    for task, users in users_of.items():
        assert storage.getUserNames(task) == sorted(users)

    for user in USERS:
        [tracker] = storage.goals.get_trackers(user)
        assert tracker.progress == a_tracks[user]
        assert tracker.current_stage == 3
    for (task, user), count in visits.items():
        [tracker] = storage.goals.user_task_goals(task, user)
        assert tracker.progress == count and tracker.current_stage == 3

    # Every stage completed exactly once, announced once, after a commit.
    heard = collections.Counter(tuple(e) for r in results for e in r['heard'])
    for user in USERS:
        assert heard[1002, user, 'a-count'] == 2
    for task, user in visits:
        assert heard[1002, task_group(task, user), 'visits'] == 2
    assert heard[1001, 'user-0', 'a-count'] == 0   # added before the writers
    assert sum(n for (code, _, _), n in heard.items() if code == 1003) == 0
    transaction.abort()
    connection.close()
    return sum(r['retries'] for r in results)


@pytest.mark.server
def test_four_writers_on_zeo(zeo_uri):
    db = setup_goals(zeo_uri)
    results = run_writers(zeo_uri)
    print('ZEO retries:', check_result(db, results))
    db.close()


@pytest.mark.server
def test_four_writers_on_postgresql(postgres_uri):
    db = setup_goals(postgres_uri)
    results = run_writers(postgres_uri)
    print('PostgreSQL retries:', check_result(db, results))
    db.close()
