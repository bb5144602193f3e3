"""The history of outcomes: records, queries, grants and revokes, and two
processes writing records at once on ZEO."""

import json
from decimal import Decimal

import pytest
import transaction
import ZODB
from zope.interface.verify import verifyObject

from cybertools_tracking.cli import main
from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.goals import CountLimiter, CountTracker, KeyExists
from cybertools_tracking.goals import TrackerAlreadyCompletedError
from cybertools_tracking.goals import TrackerLookupError, TrackerStateError
from cybertools_tracking.goals import TrackingManager
from cybertools_tracking.goals.history import KINDS, GoalHistory, Outcome
from cybertools_tracking.goals.interfaces import (
    IGoalHistory, IGrantableTracker, IOutcomeManager)

from tests.test_concurrency import run_writers


@pytest.fixture
def manager():
    """A manager on an in-memory database, on the thread's transactions."""
    db = ZODB.DB(None)
    yield TrackingManager(db)
    transaction.abort()
    db.close()


def counter(name="t", target=(1, 3), **kw):
    return CountTracker(name, [KeyExists("hit")], list(target), **kw)


def kinds(records):
    return [(r.group_id, r.tracker, r.kind, r.stage) for r in records]


def test_contracts(manager):
    history = GoalHistory(shards=2)
    assert verifyObject(IGoalHistory, history)
    assert verifyObject(IOutcomeManager, manager)
    assert verifyObject(IGrantableTracker, counter())


def test_outcomes_are_kept_across_resets_and_removal(manager):
    manager.add_tracker("ann", counter(loop_forever=True))
    for ts in range(1, 5):
        manager.track("ann", {"hit": 1}, now_ts=ts, cause="t%d" % ts)
    manager.reset_tracker("ann", "t", now_ts=10)
    manager.remove_tracker("ann")
    manager.add_tracker("ann", counter(), now_ts=11)
    found = manager.history("ann")
    # Newest first; a stage change's own reset is not kept, a reset by
    # hand is.
    assert kinds(found) == [
        ("ann", "t", "reset", 2),
        ("ann", "t", "stage_completed", 2),   # a lap of the last stage
        ("ann", "t", "stage_completed", 1),
    ]
    assert [r.track_id for r in found] == [None, "t3", "t1"]
    assert [r.time for r in found] == [10.0, 3.0, 1.0]
    assert found[1].progress == 3 and found[1].when.year == 1970
    assert found[1].when.tzinfo is not None


def test_completion_limit_and_expiry(manager):
    manager.add_tracker("bo", counter("done", (1,)))
    manager.add_tracker("bo", CountTracker("lim", [], 9,
                                           limiters=[CountLimiter(1)]))
    manager.add_tracker("bo", counter("old", (5,)), expire_at=50)
    manager.track("bo", {"hit": 1}, now_ts=20, cause="x")
    manager.track("bo", {"hit": 1}, now_ts=60, cause="y")
    assert kinds(manager.history("bo", time_to=59)) == [
        ("bo", "lim", "limited", 1), ("bo", "done", "completed", 1)]
    [expired] = manager.history("bo", kind="expired")
    assert (expired.tracker, expired.time, expired.progress) == (
        "old", 60.0, 1)
    manager.add_tracker("cy", counter("old", (5,)), expire_at=5)
    assert manager.remove_expired(now_ts=6)
    assert kinds(manager.history(kind="expired")) == [   # at 60, then 6
        ("bo", "old", "expired", 1), ("cy", "old", "expired", 0 + 1)]


def test_queries(manager):
    for group in ["a", "b", "c"]:
        manager.add_tracker(group, counter("x", (1, 2, 3)))
        manager.add_tracker(group, counter("y", (2,)))
    for ts in range(1, 4):
        for group in ["a", "b", "c"]:
            manager.track(group, {"hit": 1}, now_ts=ts * 10)
    everything = manager.history()
    assert len(everything) == 12
    assert [r.time for r in everything] == sorted(
        (r.time for r in everything), reverse=True)
    assert len(manager.history("a")) == 4
    assert kinds(manager.history("a", tracker="y")) == [
        ("a", "y", "completed", 1)]
    assert len(manager.history(tracker=["x", "y"], kind="completed")) == 6
    assert {r.stage for r in manager.history(
        kind="stage_completed", time_from=20, time_to=20)} == {2}
    assert len(manager.history(limit=5)) == 5
    assert manager.history(limit=0) == []
    assert manager.history("nobody") == []
    for bad, error in [(dict(kind="won"), ValueError),
                       (dict(limit=-1), ValueError),
                       (dict(tracker=3), TypeError),
                       (dict(group_id=7), TypeError),
                       (dict(time_from="yesterday"), TypeError)]:
        with pytest.raises(error):
            manager.history(**bad)


def test_a_read_never_writes(manager):
    assert manager.history() == [] and manager.registry is None
    with pytest.raises(ValueError, match="kind must be one of"):
        manager.history(kind="nope")


def test_grant_and_revoke(manager):
    manager.add_tracker("g", counter("badge", (2, 4)))
    manager.track("g", {"hit": 1}, now_ts=1)
    tracker = manager.grant("g", "badge", "ada", "met in person", now_ts=2)
    assert (tracker.current_stage, tracker.progress) == (2, 2)
    manager.grant("g", "badge", "ada", "second badge", now_ts=3)
    assert tracker.completed and manager.get_trackers("g") == []
    with pytest.raises(TrackerAlreadyCompletedError):
        manager.grant("g", "badge", "ada", "again", now_ts=4)
    assert kinds(manager.history("g")) == [
        ("g", "badge", "completed", 2), ("g", "badge", "granted", 2),
        ("g", "badge", "stage_completed", 1), ("g", "badge", "granted", 1)]
    granted = manager.history("g", kind="granted")
    assert [(r.grantor, r.reason) for r in granted] == [
        ("ada", "second badge"), ("ada", "met in person")]
    assert manager.history("g", kind="completed")[0].grantor == "ada"

    assert manager.revoke("g", "badge", "bob", "a mistake", now_ts=5) \
        is tracker
    assert tracker.active and manager.get_trackers("g") == [tracker]
    assert (tracker.current_stage, tracker.progress) == (2, 2)
    manager.revoke("g", "badge", "bob", "also a mistake", now_ts=6)
    assert (tracker.current_stage, tracker.target, tracker.progress) == (
        1, 2, 0)
    with pytest.raises(TrackerStateError, match="completed none"):
        manager.revoke("g", "badge", "bob", "nothing left", now_ts=7)
    assert [(r.kind, r.stage, r.reason) for r in manager.history(
        "g", kind="revoked")] == [("revoked", 1, "also a mistake"),
                                  ("revoked", 2, "a mistake")]


def test_revoking_laps_and_progress_policies(manager):
    from cybertools_tracking.goals import ResetPolicy
    laps = CountTracker("laps", [], [Decimal(2)], loop_forever=True)
    clearing = CountTracker("clear", [], [2, 5],
                            reset_policy=ResetPolicy.PROGRESS)
    manager.add_trackers("p", [laps, clearing])
    for ts in range(1, 5):
        manager.track("p", {}, now_ts=ts)
    assert (laps.laps, laps.target) == (2, Decimal(6))
    manager.revoke("p", "laps", "ops", "recount", now_ts=9)
    assert (laps.laps, laps.target, laps.progress) == (1, Decimal(4), 2)
    assert (clearing.current_stage, clearing.progress) == (2, 2)
    manager.revoke("p", "clear", "ops", "recount", now_ts=9)
    assert (clearing.current_stage, clearing.progress) == (1, 0)


def test_grant_and_revoke_check_before_writing(manager):
    manager.add_tracker("g", counter("badge", (2,)))
    transaction.commit()
    for args, error in [
            (("g", "nope", "ada", "why"), TrackerLookupError),
            (("nobody", "badge", "ada", "why"), TrackerLookupError),
            (("g", "badge", "", "why"), TypeError),
            (("g", "badge", "ada", None), TypeError),
            (("g", "badge", "ada", "\ud800"), ValueError),
            ((3, "badge", "ada", "why"), TypeError)]:
        for call in (manager.grant, manager.revoke):
            with pytest.raises(error):
                call(*args, now_ts=1)
    with pytest.raises(TrackerStateError):
        manager.revoke("g", "badge", "ada", "why", now_ts=1)
    assert manager.connection._registered_objects == []
    assert manager.history() == []


def test_an_abort_leaves_no_record(manager):
    manager.add_tracker("g", counter("badge", (1,)))
    transaction.commit()
    manager.track("g", {"hit": 1}, now_ts=1)
    assert len(manager.history()) == 1
    transaction.abort()
    assert manager.history() == []


def test_records_refuse_bad_values():
    history = GoalHistory(shards=3)
    good = dict(group_id="g", tracker="t", kind="granted", time=1)
    assert isinstance(history.record(**good), Outcome)
    for change, error in [(dict(kind="won"), ValueError),
                          (dict(time=float("nan")), ValueError),
                          (dict(time=None), TypeError),
                          (dict(tracker=None), TypeError),
                          (dict(group_id="\udc00"), ValueError),
                          (dict(grantor=5), TypeError)]:
        with pytest.raises(error):
            history.record(**dict(good, **change))
    assert len(history.query()) == 1
    with pytest.raises(ValueError):
        GoalHistory(shards=0)
    assert set(KINDS) >= {"completed", "granted", "expired"}


def test_tracks_name_their_records_and_the_command_line_lists_them(
        tmp_path, capsys):
    path = str(tmp_path / "t.fs")
    db = open_db(path)
    with db.transaction() as connection:
        storage = get_storage(connection)
        storage.goals.add_tracker("ann", CountTracker("two", [], [1, 2]))
        ids = [storage.saveUserTrack("a", 0, "ann", {"i": i},
                                     timeStamp=1_700_000_000 + i)
               for i in range(3)]
        assert [r.track_id for r in storage.goals.history("ann")] == [
            ids[1], ids[0]]
    db.close()
    assert main(["--db", path, "goals", "history", "--kind", "completed",
                 "--format", "json"]) == 0
    [record] = json.loads(capsys.readouterr().out)
    assert record["track_id"] == ids[1] and record["kind"] == "completed"
    assert main(["--db", path, "goals", "history", "--group", "ann"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["time", "group", "tracker", "kind"]
    assert len(lines) == 3 and "stage_completed" in lines[2]
    assert main(["--db", path, "goals", "history", "--kind", "won"]) == 2
    assert "kind must be one of" in capsys.readouterr().err


USERS = ['user-%d' % n for n in range(10)]   # those of tests/writer.py


def two_writers(uri):
    """Two tests/writer.py processes at once, 300 tracks each, 10 per
    transaction; their reports."""
    return run_writers(uri, writers=2, count=300, batch=10)


@pytest.mark.server
def test_two_writers_on_zeo_record_each_outcome_once(zeo_uri):
    # Every track completes a lap of its user's tracker, so every saved
    # track makes exactly one record, whatever conflicts and retries the
    # two writers meet on the way.
    db = open_db(zeo_uri)
    with db.transaction() as connection:
        storage = get_storage(connection)
        for user in USERS:
            storage.goals.add_tracker(user, CountTracker(
                "each", [], 1, loop_forever=True))
    db.close()
    results = two_writers(zeo_uri)
    ids = sorted(i for r in results for i in r["ids"])
    # A client opened now: one opened before the writers may not have had
    # their last invalidations yet (ZEO sends them asynchronously), and
    # would read an older state under load.
    db = open_db(zeo_uri)
    with db.transaction() as connection:
        storage = get_storage(connection, create=False)
        records = storage.goals.history(kind=["stage_completed",
                                              "completed"])
        assert sorted(r.track_id for r in records) == ids
        for user in USERS:
            mine = storage.goals.history(user)
            assert len(mine) == len(storage.query(userName=user))
            assert all(r.group_id == user for r in mine)
            [tracker] = storage.goals.get_trackers(user)
            assert tracker.laps == len(mine)
    db.close()
    print("retries:", [r["retries"] for r in results])


def test_writers_of_different_groups_merge_in_one_shard(tmp_path):
    # Two connections record outcomes of different groups into the same
    # shard at once: BTrees merge the inserts, both commit.
    from ZODB.FileStorage import FileStorage
    db = ZODB.DB(FileStorage(str(tmp_path / "h.fs")))
    tm1 = transaction.TransactionManager()
    tm2 = transaction.TransactionManager()
    c1, c2 = db.open(tm1), db.open(tm2)
    c1.root()["history"] = GoalHistory(shards=1)
    c1.root()["history"].record("seed", "t", "completed", time=1)
    tm1.commit()
    tm2.begin()
    mine, theirs = c1.root()["history"], c2.root()["history"]
    assert len(theirs.query()) == 1
    for n in range(5):
        mine.record("ann", "t", "stage_completed", stage=n, time=10 + n)
        theirs.record("bob", "t", "stage_completed", stage=n, time=10 + n)
    tm1.commit()
    tm2.commit()
    fresh = db.open(transaction.TransactionManager()).root()["history"]
    assert [r.stage for r in fresh.query("ann")] == [4, 3, 2, 1, 0]
    assert [r.stage for r in fresh.query("bob")] == [4, 3, 2, 1, 0]
    assert len(fresh.query()) == 11
    db.close()
