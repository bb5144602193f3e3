"""TrackingManager: the API, transactions, expiry and persistence."""

import logging

import pytest
import transaction
import ZODB
import ZODB.FileStorage
from zope.interface.verify import verifyObject

from cybertools_tracking.goals import manager as manager_module
from cybertools_tracking.goals.conditions import KeyExists
from cybertools_tracking.goals.conditions import KeyValueEQ
from cybertools_tracking.goals.interfaces import ConflictingNameError
from cybertools_tracking.goals.interfaces import GroupIdAlreadySetError
from cybertools_tracking.goals.interfaces import ITrackingManager
from cybertools_tracking.goals.interfaces import TrackerAlreadyCompletedError
from cybertools_tracking.goals.interfaces import TrackerAlreadyRemovedError
from cybertools_tracking.goals.interfaces import TrackerLookupError
from cybertools_tracking.goals.limiters import CountLimiter
from cybertools_tracking.goals.manager import MemoryDataCache
from cybertools_tracking.goals.manager import TrackingManager
from cybertools_tracking.goals.manager import TrackResult
from cybertools_tracking.goals.registry import GoalRegistry
from cybertools_tracking.goals.trackers import AccumulationTracker
from cybertools_tracking.goals.trackers import CountTracker
from cybertools_tracking.goals.trackers import ResetPolicy

HIT = {"hit": 1}


@pytest.fixture
def db():
    database = ZODB.DB(None)
    yield database
    transaction.abort()
    database.close()


@pytest.fixture
def manager(db):
    return TrackingManager(db)


def tracker(name="t", target=3, **kw):
    return CountTracker(name, [KeyExists("hit")], target, **kw)


# -- construction -------------------------------------------------------------

def test_verify_object(manager):
    assert verifyObject(ITrackingManager, manager)


def test_dictrack_style_construction():
    for m in (TrackingManager(data_cache=MemoryDataCache(), data_store=None),
              TrackingManager(MemoryDataCache(), None),
              TrackingManager(MemoryDataCache(scheduler_class=None,
                                              check_interval=5)),
              TrackingManager()):
        m.add_tracker("g", tracker())
        assert m.track("g", HIT).dirtied[0].progress == 1
        assert m.transaction_manager is not transaction.manager
        m.close()


def test_construction_errors(db):
    with pytest.raises(TypeError, match="data_store is not supported"):
        TrackingManager(data_cache=MemoryDataCache(), data_store=object())
    with pytest.raises(TypeError, match="data_cache must be a MemoryDataCache"):
        TrackingManager(data_cache={})
    with pytest.raises(TypeError, match="needs a ZODB.DB, a Connection, a "
                                        "GoalRegistry, an IGoalHome or a "
                                            "MemoryDataCache, "
                                        "got 'x'"):
        TrackingManager("x")
    with pytest.raises(TypeError, match="not both"):
        TrackingManager(db, data_cache=MemoryDataCache())
    with pytest.raises(ValueError, match="autocommit is only for"):
        TrackingManager(db, autocommit=True)


def test_connection_and_registry_construction(db):
    conn = db.open()
    by_connection = TrackingManager(conn)
    by_connection.add_tracker("g", tracker())
    registry = by_connection.registry
    assert conn.root()[manager_module.ROOT_KEY] is registry
    transaction.commit()
    by_registry = TrackingManager(registry)
    assert by_registry.get_trackers("g")[0].name == "t"
    assert by_registry.transaction_manager is conn.transaction_manager
    transaction.abort()
    conn.close()


def test_unattached_registry_works_in_memory():
    registry = GoalRegistry()
    m = TrackingManager(registry)
    m.add_tracker("g", tracker(target=1))
    ok, dirtied, completed, limited = m.track("g", HIT)
    assert ok and completed == dirtied
    transaction.abort()


def test_no_registry_until_the_first_tracker(manager):
    assert manager.registry is None
    assert manager.get_trackers("g") == []
    assert manager.track("g", HIT) == (True, [], [], [])
    assert manager.reset_tracker("g", "t") is False
    assert manager.remove_tracker("g") == []
    assert manager.registry is None


# -- adding, finding, updating, removing --------------------------------------

def test_add_and_get(manager):
    a, b = tracker("a"), tracker("b")
    manager.add_tracker("g", a)
    manager.add_trackers("g", [b, tracker("c")])
    assert a.group_id == "g"
    assert [t.name for t in manager.get_trackers("g")] == ["a", "b", "c"]
    assert manager.get_trackers("g", name="b") == [b]
    assert manager.get_trackers("g", name=["c", "x", "a"])[1] is a
    assert manager.get_trackers("g", name="x") == []
    assert manager.get_trackers("other") == []
    with pytest.raises(TypeError, match="name must be a str, a list of str"):
        manager.get_trackers("g", name=3)


def test_add_errors(manager):
    manager.add_tracker("g", tracker("a"))
    with pytest.raises(ConflictingNameError,
                       match="group 'g' already has a tracker named 'a'"):
        manager.add_tracker("g", tracker("a"))
    with pytest.raises(GroupIdAlreadySetError,
                       match="cannot add the tracker to group 'h': it belongs "
                             "to group 'g'"):
        manager.add_tracker("h", manager.get_trackers("g")[0])
    with pytest.raises(TypeError, match="group_id must be a str, got 5"):
        manager.add_tracker(5, tracker())
    with pytest.raises(TypeError, match="tracker must provide ITracker"):
        manager.add_tracker("g", object())
    with pytest.raises(ValueError, match="give expire or expire_at, not both"):
        manager.add_tracker("g", tracker("b"), expire=1, expire_at=5)
    with pytest.raises(TypeError, match="expire must be a number of seconds"):
        manager.add_tracker("g", tracker("b"), expire="1")
    removed = manager.remove_tracker("g", "a")[0]
    with pytest.raises(TrackerAlreadyRemovedError):
        manager.add_tracker("g", removed)


def test_add_trackers_checks_all_before_adding_any(manager):
    manager.add_tracker("g", tracker("a"))
    with pytest.raises(ConflictingNameError):
        manager.add_trackers("g", [tracker("new"), tracker("a")])
    with pytest.raises(ConflictingNameError):
        manager.add_trackers("g", [tracker("x"), tracker("x")])
    with pytest.raises(TypeError, match="trackers must be a list or tuple"):
        manager.add_trackers("g", tracker("y"))
    assert [t.name for t in manager.get_trackers("g")] == ["a"]


def test_completed_trackers_are_kept_aside(manager):
    done = tracker("done", target=1)
    manager.add_trackers("g", [done, tracker("live")])
    result = manager.track("g", HIT, now_ts=77)
    assert result.completed == [done] and done.completed_at == 77
    assert [t.name for t in manager.get_trackers("g")] == ["live"]
    assert manager.get_trackers("g", name="done") == []
    assert manager.get_trackers("g", "done", include_completed=True) == [done]
    assert len(manager.get_trackers("g", include_completed=True)) == 2
    # it is no longer evaluated
    assert manager.track("g", HIT).dirtied[0].name == "live"
    with pytest.raises(TrackerAlreadyCompletedError):
        manager.reset_tracker("g", "done")
    with pytest.raises(TrackerAlreadyCompletedError):
        manager.add_tracker("g", done)


def test_adding_the_name_of_a_completed_tracker_replaces_it(manager):
    first = tracker("daily", target=1)
    manager.add_tracker("g", first)
    manager.track("g", HIT)
    second = tracker("daily", target=1)
    manager.add_tracker("g", second)
    assert first.removed
    assert manager.get_trackers("g", include_completed=True) == [second]


def test_update_tracker(manager):
    old = tracker("a")
    manager.add_tracker("g", old, expire_at=1000)
    manager.update_tracker("g", old)  # the stored object itself: nothing to do
    new = tracker("a", target=9)
    manager.update_tracker("g", new)
    assert old.removed and manager.get_trackers("g", now_ts=0) == [new]
    assert new.expire_at == 1000
    with pytest.raises(TrackerLookupError,
                       match="group 'g' has no tracker named 'zz'"):
        manager.update_tracker("g", tracker("zz"))
    with pytest.raises(TrackerLookupError):
        manager.update_tracker("nogroup", tracker("a"))


def test_remove_tracker(manager):
    manager.add_trackers("g", [tracker("a"), tracker("b"), tracker("c")])
    assert [t.name for t in manager.remove_tracker("g", "a")] == ["a"]
    assert manager.remove_tracker("g", "a") == []
    removed = manager.remove_tracker("g", ["b", "x"])
    assert [t.state for t in removed] == ["removed"]
    assert [t.name for t in manager.remove_tracker("g")] == ["c"]
    assert "g" not in manager.registry.groups
    with pytest.raises(TrackerAlreadyRemovedError):
        removed[0].track(HIT)
    with pytest.raises(TypeError, match="name must be a str"):
        manager.remove_tracker("g", 3)


def test_reset_tracker(manager):
    manager.add_tracker("g", tracker("a", limiters=[CountLimiter(1)]))
    manager.track("g", HIT)
    assert manager.get_trackers("g")[0].limited
    assert manager.reset_tracker("g", "a", ResetPolicy.ALL) is True
    assert manager.get_trackers("g")[0].progress == 0
    assert manager.reset_tracker("g", "nope") is False
    with pytest.raises(ValueError, match="reset_policy must be"):
        manager.reset_tracker("g", "a", reset_policy=8)
    with pytest.raises(TypeError, match="name must be a str"):
        manager.reset_tracker("g", None)


def test_flush(manager, caplog):
    t = tracker()
    manager.add_tracker("g", t)
    with caplog.at_level(logging.WARNING, "cybertools_tracking.goals"):
        manager.flush()
    assert "flush(confirm=True)" in caplog.text
    assert manager.get_trackers("g") == [t]
    manager.flush(confirm=True)
    assert manager.get_trackers("g") == [] and t.removed


# -- tracking -----------------------------------------------------------------

def test_track_result_unpacks_like_dictrack(manager):
    limited = tracker("lim", target=9, limiters=[CountLimiter(1)])
    done = tracker("done", target=1)
    idle = CountTracker("idle", [KeyValueEQ("x", 1)], 5)
    manager.add_trackers("g", [limited, done, idle])
    result = manager.track("g", HIT)
    assert isinstance(result, TrackResult)
    ok, dirtied, completed, limited_list = result
    assert ok is True
    assert dirtied == [limited, done] and completed == [done]
    assert limited_list == [limited]
    # a tracker that stays limited is listed again, as in dictrack
    assert manager.track("g", HIT).limited == [limited]


def test_track_rejects_non_mapping_data(manager):
    manager.add_tracker("g", tracker())
    with pytest.raises(TypeError, match=r"data must be a dict .* got \[1\] "
                                        r"\(list\)"):
        manager.track("g", [1])
    with pytest.raises(TypeError, match="group_id must be a str"):
        manager.add_tracker(None, tracker())


def test_groups_are_independent(manager):
    manager.add_tracker("a", tracker("t"))
    manager.add_tracker("b", tracker("t"))
    manager.track("a", HIT)
    assert manager.get_trackers("a")[0].progress == 1
    assert manager.get_trackers("b")[0].progress == 0


def test_expired_tracker_stops_counting_at_its_expiry_time(manager):
    manager.add_tracker("g", tracker("e"), expire=10, now_ts=1000)
    manager.add_tracker("g", tracker("f"), expire_at=2000)
    assert manager.get_trackers("g", "e", now_ts=0)[0].expire_at == 1010
    assert manager.track("g", HIT, now_ts=1009).dirtied != []
    assert [t.name for t in manager.get_trackers("g", now_ts=1010)] == ["f"]
    e = manager.get_trackers("g", "e", now_ts=0)[0]
    result = manager.track("g", HIT, now_ts=1010)
    assert [t.name for t in result.dirtied] == ["f"]
    assert e.removed and e.progress == 1
    assert manager.get_trackers("g", "e", now_ts=0) == []


def test_remove_expired_sweeps_all_groups(manager):
    manager.add_tracker("a", tracker("x"), expire_at=10)
    manager.add_tracker("b", tracker("y"), expire_at=20)
    manager.add_tracker("b", tracker("z"))
    assert [t.name for t in manager.remove_expired(now_ts=15)] == ["x"]
    assert "a" not in manager.registry.groups
    assert [t.name for t in manager.remove_expired(now_ts=20)] == ["y"]


def test_listener_may_change_the_group_while_it_is_tracked(manager):
    def add_follow_up(event):
        manager.add_tracker("g", tracker("next", target=1))
        manager.remove_tracker("g", "other")

    manager.add_listener(1003, add_follow_up)
    manager.add_trackers("g", [tracker("first", target=1), tracker("other")])
    result = manager.track("g", HIT)
    assert [t.name for t in result.dirtied] == ["first"]
    assert [t.name for t in manager.get_trackers("g")] == ["next"]


# -- transactions and persistence ---------------------------------------------

def test_abort_undoes_everything(manager):
    manager.add_tracker("g", tracker())
    transaction.commit()
    manager.track("g", HIT)
    manager.add_tracker("g", tracker("b"))
    manager.remove_tracker("g", "t")
    transaction.abort()
    [t] = manager.get_trackers("g")
    assert (t.name, t.progress, t.state) == ("t", 0, "active")


def test_abort_of_the_first_add_drops_the_registry(manager):
    manager.add_tracker("g", tracker())
    transaction.abort()
    assert manager.registry is None and manager.get_trackers("g") == []
    manager.add_tracker("g", tracker())
    transaction.commit()
    assert manager.get_trackers("g")[0].name == "t"


def test_other_connections_see_committed_progress(db, manager):
    manager.add_tracker("g", tracker())
    manager.track("g", HIT)
    transaction.commit()
    tm = transaction.TransactionManager()
    other = TrackingManager(db, transaction_manager=tm)
    assert other.get_trackers("g")[0].progress == 1
    other.track("g", HIT)
    tm.commit()
    transaction.begin()
    assert manager.get_trackers("g")[0].progress == 2
    other.close()


def test_state_survives_reopening_a_file_storage(tmp_path):
    path = str(tmp_path / "goals.fs")
    db = ZODB.DB(ZODB.FileStorage.FileStorage(path))
    m = TrackingManager(db)
    m.add_trackers("g", [
        CountTracker("camp", [KeyValueEQ("kind", "buy")], [2, 4],
                     limiters=[CountLimiter(5)]),
        AccumulationTracker("spend", [], 100, key="amount"),
        tracker("done", target=1)])
    for amount in (10, 20, 30):
        m.track("g", {"kind": "buy", "amount": amount, "hit": 1}, now_ts=5)
    transaction.commit()
    m.close()
    db.close()

    db = ZODB.DB(ZODB.FileStorage.FileStorage(path))
    m = TrackingManager(db)
    camp, spend = m.get_trackers("g")
    assert repr(camp) == "<CountTracker 'camp' (target=4 stage=2/2 progress=3)>"
    assert camp.limiters[0].remaining == 4
    assert camp.conditions == (KeyValueEQ("kind", "buy"),)
    assert spend.progress == 60
    [done] = m.get_trackers("g", "done", include_completed=True)
    assert done.completed_at == 5
    m.track("g", {"kind": "buy", "amount": 40})
    assert camp.completed and spend.completed
    transaction.commit()
    m.close()
    db.close()


# -- the self-owned in-memory database ----------------------------------------

def test_autocommit_commits_each_changing_call():
    m = TrackingManager()
    m.add_tracker("g", tracker())
    m.track("g", HIT)
    m.transaction_manager.abort()  # nothing pending to lose
    assert m.get_trackers("g")[0].progress == 1
    # other transactions of the thread are not touched
    assert transaction.get().status == "Active"
    m.close()


def test_autocommit_rolls_back_a_failing_call():
    m = TrackingManager()
    m.add_tracker("g", tracker("a"))

    def fail(event):
        raise RuntimeError("subscriber failed")

    import zope.event
    zope.event.subscribers.append(fail)
    try:
        with pytest.raises(RuntimeError):
            m.add_trackers("g", [tracker("b"), tracker("c")])
    finally:
        zope.event.subscribers.remove(fail)
    assert [t.name for t in m.get_trackers("g")] == ["a"]
    m.close()


def test_autocommit_nested_calls_commit_with_the_outer_call():
    m = TrackingManager()
    commits = []
    real_commit = m.transaction_manager.commit
    m.transaction_manager.commit = lambda: commits.append(real_commit())
    m.add_listener(1003, lambda e: e.name == "first" and m.add_tracker(
        "g", tracker("next")))
    m.add_trackers("g", [tracker("first", target=1), tracker("other")])
    del commits[:]
    m.track("g", HIT)
    assert len(commits) == 1
    assert [t.name for t in m.get_trackers("g")] == ["other", "next"]
    m.close()


def test_autocommit_failure_rolls_back_nested_calls_too():
    import zope.event
    m = TrackingManager()
    m.add_listener(1003, lambda e: e.name == "first" and m.add_tracker(
        "g", tracker("next")))
    m.add_trackers("g", [tracker("first", target=1),
                         tracker("second", target=1)])

    def fail(event):
        if event.code == 1003 and event.name == "second":
            raise RuntimeError("subscriber failed")

    zope.event.subscribers.append(fail)
    try:
        with pytest.raises(RuntimeError):
            m.track("g", HIT)
    finally:
        zope.event.subscribers.remove(fail)
    assert [(t.name, t.progress) for t in m.get_trackers("g")] == [
        ("first", 0), ("second", 0)]
    m.close()


def test_autocommit_packs_now_and_then(monkeypatch):
    monkeypatch.setattr(manager_module, "PACK_EVERY", 3)
    m = TrackingManager()
    m.add_tracker("g", tracker(target=100))
    packs = []
    real_pack = m._db.pack
    monkeypatch.setattr(m._db, "pack", lambda *a: packs.append(real_pack()))
    for _ in range(7):
        m.track("g", HIT)
    m.track("g", {"miss": 1})  # no change, no commit
    assert len(packs) == 2
    m.close()


def test_autocommit_off_leaves_commits_to_the_caller():
    m = TrackingManager(autocommit=False)
    m.add_tracker("g", tracker())
    m.transaction_manager.abort()
    assert m.get_trackers("g") == []
    m.close()


def test_group_id_with_a_lone_surrogate_is_refused():
    manager = TrackingManager(autocommit=False)
    with pytest.raises(ValueError, match="group_id must be text"):
        manager.add_tracker("u\udcff", CountTracker("c", [], 1))
    assert manager.registry is None
    manager.close()
