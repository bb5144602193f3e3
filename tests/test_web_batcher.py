"""Group commit: concurrent single saves share a transaction; each
request still gets its own answer."""

import threading
import types

import pytest

pytest.importorskip('fastapi')

from fastapi import HTTPException  # noqa: E402

from cybertools_tracking.db import get_storage, open_db  # noqa: E402
from cybertools_tracking.web.batcher import GroupCommitter  # noqa: E402


@pytest.fixture
def app(tmp_path):
    db = open_db(str(tmp_path / 'group.fs'))
    yield types.SimpleNamespace(state=types.SimpleNamespace(
        db=db, storage_name='tracking', attempts=5))
    db.close()


def test_saves_that_wait_share_one_commit_and_one_refusal_stays_alone(app):
    first_in = threading.Event()
    go_on = threading.Event()
    transactions = {}

    def work(storage, user):
        # the transaction each save was made in (kept: no id is reused)
        transactions[user] = storage._p_jar.transaction_manager.get()
        if user == 'first':
            first_in.set()
            go_on.wait(30)      # the others queue up meanwhile
        track_id = storage.saveUserTrack('t', 0, user, {})
        return track_id

    committer = GroupCommitter(app, work)
    answers = {}

    def submit(user):
        try:
            answers[user] = committer.submit(user)
        except HTTPException as error:
            answers[user] = error

    threads = [threading.Thread(target=submit, args=('first',))]
    threads[0].start()
    assert first_in.wait(30)
    users = ['u%d' % n for n in range(5)] + ['bad\udc00']
    for user in users:
        threads.append(threading.Thread(target=submit, args=(user,)))
        threads[-1].start()
    while committer._queue.qsize() < len(users):
        threading.Event().wait(0.01)
    go_on.set()
    for thread in threads:
        thread.join(30)
    committer.stop()

    refused = answers.pop('bad\udc00')
    assert refused.status_code == 400 and 'surrogate' in refused.detail
    assert all(attempts == 1 for _, attempts in answers.values())
    with app.state.db.transaction() as connection:
        storage = get_storage(connection)
        tracks = {user: storage[track_id]
                  for user, (track_id, _) in answers.items()}
        assert sorted(t.userName for t in storage.values()) == sorted(
            answers)
        assert set(tracks) == set(answers)
    # The five that waited were one transaction.
    shared = {id(transactions[user]) for user in users[:5]}
    assert len(shared) == 1
    assert id(transactions['first']) not in shared


def test_a_group_that_fails_is_tried_again_one_by_one(app):
    calls = []

    def work(storage, user):
        calls.append(user)
        if user == 'boom':
            raise RuntimeError('not a refusal of the storage')
        return storage.saveUserTrack('t', 0, user, {})

    committer = GroupCommitter(app, work)
    committer._start()
    # Queue three before the thread takes any: one group.
    committer._queue.put(None)
    committer._thread.join(30)
    committer._thread = None
    from concurrent.futures import Future
    futures = {}
    for user in ('a', 'boom', 'b'):
        futures[user] = Future()
        committer._queue.put((user, futures[user]))
    committer._start()
    assert futures['a'].result(30)[0] and futures['b'].result(30)[0]
    with pytest.raises(RuntimeError):
        futures['boom'].result(30)
    committer.stop()
    # The group stopped at the error; then each alone.
    assert calls == ['a', 'boom', 'a', 'boom', 'b']
    with app.state.db.transaction() as connection:
        assert sorted(t.userName for t in get_storage(
            connection).values()) == ['a', 'b']


def test_a_save_given_up_before_its_group_is_not_made_and_harms_none(app):
    # A request's coroutine may be cancelled (its client went away, the
    # server stops) while its save waits in the queue: the save is then
    # not made, and the committer goes on with the others.
    import asyncio
    first_in, go_on = threading.Event(), threading.Event()

    def work(storage, user):
        if user == 'first':
            first_in.set()
            go_on.wait(30)
        return storage.saveUserTrack('t', 0, user, {})

    committer = GroupCommitter(app, work)
    answers = {}
    waiting = threading.Thread(target=lambda: answers.setdefault(
        'first', committer.submit('first')))
    waiting.start()
    assert first_in.wait(30)

    async def given_up():
        task = asyncio.ensure_future(committer.save('gone'))
        while committer._queue.qsize() < 1:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    asyncio.run(given_up())
    go_on.set()
    waiting.join(30)
    assert answers['first'][1] == 1
    # The committer is alive and saves what comes next.
    assert committer.submit('next')[1] == 1
    committer.stop()
    with app.state.db.transaction() as connection:
        assert sorted(t.userName for t in get_storage(
            connection).values()) == ['first', 'next']
