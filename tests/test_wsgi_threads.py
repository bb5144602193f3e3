"""A real app process, many client threads: goals and their announcements
stay exact (issue 7, §7).

``wsgi_goal_app.py`` serves a FileStorage with a thread per request and
an after-commit listener that writes each goal event to a file.  Eight
client threads send 50 requests each over loopback, one in nine failing on
purpose after its save.  Afterwards the database must hold exactly the
tracks of the requests that got a 200, every tracker's progress must equal
its user's (or user and task's) count of them, and the event file must
hold each event of those commits exactly once, caused by a successful
request, and nothing of the failed ones.
"""

import collections
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time

import pytest

from cybertools_tracking.check import check_storage
from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.goals import CountTracker
from cybertools_tracking.tracked_goals import task_group

APP = os.path.join(os.path.dirname(__file__), 'wsgi_goal_app.py')
CLIENTS, PER_CLIENT = 8, 50
FAIL_EVERY = 9                   # about one request in nine fails
USERS = ['user-%d' % n for n in range(4)]
TASKS = ['task-%d' % n for n in range(3)]
T0 = 1_700_000_000               # request k is stamped T0 + k
# Per user: stages that keep counting, and one that completes.
USER_GOALS = {'requests': [10, 25, 10 ** 6], 'first-20': [20]}
# Per user and task, copied from the template with the first track.
TASK_GOALS = {'visits': [1, 5]}


def expected_events(group, goals, count):
    """The completion events of ``count`` tracks counted by ``goals``:
    {(code, group, name, progress, stage)}, and 1001 for each added."""
    events = []
    for name, targets in goals.items():
        events.append((1001, group, name, 0, 1))
        for stage, target in enumerate(targets, 1):
            if count < target:
                break
            code = 1003 if stage == len(targets) else 1002
            events.append((code, group, name, target, stage))
    return events


def progress_of(targets, count):
    """(progress, stage, state) after ``count`` tracks."""
    stage = 1
    for target in targets:
        if count < target:
            return count, stage, 'active'
        if stage == len(targets):
            return target, stage, 'completed'
        stage += 1


def setup_database(path):
    db = open_db(path)
    with db.transaction() as connection:
        storage = get_storage(connection)
        for user in USERS:
            for name, targets in USER_GOALS.items():
                storage.goals.add_tracker(user, CountTracker(
                    name=name, conditions=[], target=targets))
        for task in TASKS:
            storage.startRun(task)
            for name, targets in TASK_GOALS.items():
                storage.goals.add_task_goal(task, CountTracker(
                    name=name, conditions=[], target=targets))
    db.close()


def start_app(path, events_path):
    process = subprocess.Popen(
        [sys.executable, APP, path, events_path], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if not line.startswith('listening on '):
        process.kill()
        out, err = process.communicate(timeout=30)
        raise AssertionError('the app did not start: %r\n%s' % (line, err))
    return process, int(line.split()[-1])


def post(port, body):
    connection = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
    try:
        connection.request('POST', '/track', json.dumps(body),
                           {'Content-Type': 'application/json'})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def run_clients(port):
    """Fire the requests; return {request: (body, status, answer)}."""
    results, errors = {}, []
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS)

    def client(n):
        rnd = random.Random(n)
        try:
            start.wait(timeout=30)
            for i in range(PER_CLIENT):
                k = n * PER_CLIENT + i
                body = {'request': T0 + k, 'user': rnd.choice(USERS),
                        'task': rnd.choice(TASKS),
                        'fail': rnd.randrange(FAIL_EVERY) == 0}
                status, answer = post(port, body)
                with lock:
                    results[body['request']] = (body, status, answer)
        except BaseException as error:      # reported by the test
            errors.append(error)
    threads = [threading.Thread(target=client, args=(n,))
               for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), \
        'a client hangs'
    assert errors == [], errors
    return results


def stop_app(process):
    try:
        out, err = process.communicate(input='', timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError('the app did not stop:\n%s' % err[-3000:])
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def diff(what, expected, actual):
    expected, actual = collections.Counter(expected), collections.Counter(
        actual)
    if expected != actual:
        raise AssertionError(
            '%s: expected once, missing: %s; extra or repeated: %s'
            % (what, sorted((expected - actual).elements()),
               sorted((actual - expected).elements())))


@pytest.mark.slow
def test_threaded_app_announces_each_committed_event_once(tmp_path):
    path = str(tmp_path / 'app.fs')
    events_path = str(tmp_path / 'events.jsonl')
    setup_database(path)
    started = time.monotonic()
    process, port = start_app(path, events_path)
    try:
        results = run_clients(port)
    finally:
        counts = stop_app(process)
    elapsed = time.monotonic() - started

    ok = {k: body for k, (body, status, _) in results.items()
          if status == 200}
    failed = {k: body for k, (body, status, _) in results.items()
              if status == 500 and body['fail']}
    unexpected = {k: r for k, r in results.items()
                  if k not in ok and k not in failed}
    assert unexpected == {}, unexpected
    assert all(not body['fail'] for body in ok.values())
    assert len(results) == CLIENTS * PER_CLIENT
    assert failed, 'no request failed on purpose: change the seeds'
    assert counts == {'saved': len(ok), 'failed': len(failed),
                      'retries': counts['retries'], 'errors': 0}, counts
    print('%d saved, %d failed on purpose, %d retries, %.1f s'
          % (len(ok), len(failed), counts['retries'], elapsed))

    per_user = collections.Counter(body['user'] for body in ok.values())
    per_task = collections.Counter((body['task'], body['user'])
                                   for body in ok.values())
    db = open_db(path)
    try:
        with db.transaction() as connection:
            storage = get_storage(connection, create=False)
            # Exactly the tracks of the successful requests.
            assert len(storage) == len(ok)
            stored = collections.Counter(
                (t.data['request'], t.userName, t.taskId)
                for t in storage.values())
            diff('stored tracks', [(k, b['user'], b['task'])
                                   for k, b in ok.items()], stored)
            assert sorted(storage.keys()) == sorted(
                results[k][2]['track'] for k in ok)
            assert check_storage(storage) == []
            # Exact progress of every tracker.
            for user in USERS:
                for name, targets in USER_GOALS.items():
                    [tracker] = storage.goals.get_trackers(
                        user, name, include_completed=True)
                    assert (tracker.progress, tracker.current_stage,
                            tracker.state) == progress_of(
                                targets, per_user[user]), (user, name)
                for task in TASKS:
                    trackers = storage.goals.user_task_goals(
                        task, user, include_completed=True)
                    if not per_task[task, user]:
                        assert trackers == []
                        continue
                    [tracker] = trackers
                    assert (tracker.progress, tracker.current_stage,
                            tracker.state) == progress_of(
                                TASK_GOALS['visits'], per_task[task, user])
    finally:
        db.close()

    # Each event of a committed transaction exactly once, none else.
    with open(events_path, encoding='utf-8') as f:
        heard = [json.loads(line) for line in f]
    expected = []
    for user in USERS:
        expected += [e for e in expected_events(user, USER_GOALS,
                                                per_user[user])
                     if e[0] != 1001]        # added before the app started
        for task in TASKS:
            if per_task[task, user]:
                expected += expected_events(task_group(task, user),
                                            TASK_GOALS, per_task[task, user])
    diff('events in the file', expected,
         [(e['code'], e['group'], e['name'], e['progress'], e['stage'])
          for e in heard])
    # ... each caused by a successful request of that user (and task).
    for e in heard:
        body = ok.get(e['request'])
        assert body is not None, ('an event of a failed request: %r' % e
                                  if e['request'] in failed else e)
        assert e['group'] in (body['user'],
                              task_group(body['task'], body['user'])), e
