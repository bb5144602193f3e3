"""The index of due times (``goals/due.py``) and the registry upgrade
(``goals/upgrade.py``): kept exactly in step, read by ``tick``, built for
registries made before it."""

import random

import pytest
import transaction
import ZODB
from BTrees.OOBTree import OOBTree
from ZODB.FileStorage import FileStorage
from ZODB.POSException import ConflictError

from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.goals import TrackingManager
from cybertools_tracking.goals.composite import all_of, rollup
from cybertools_tracking.goals.conditions import KeyExists
from cybertools_tracking.goals.due import ALWAYS, group_due
from cybertools_tracking.goals.interfaces import ConflictingNameError
from cybertools_tracking.goals.limiters import DeadlineLimiter
from cybertools_tracking.goals.manager import ROOT_KEY
from cybertools_tracking.goals.periods import PeriodTracker
from cybertools_tracking.goals.registry import GoalGroup, GoalRegistry
from cybertools_tracking.goals.registry import GroupMap
from cybertools_tracking.goals.trackers import CountTracker
from cybertools_tracking.goals.upgrade import needs_upgrade

D = 86400


def truth(registry):
    """What the index must hold: every group's earliest due time."""
    found = []
    for group_id, group in registry.groups.items():
        due = group_due(group)
        if due is not None:
            found.append((group_id, due))
    return found


def assert_in_step(registry):
    assert registry.due.items() == truth(registry)


def test_each_kind_of_due_time_and_what_moves_it():
    manager = TrackingManager()
    manager.add_tracker("plain", CountTracker("n", [], 5))
    manager.add_tracker("trial", CountTracker("n", [], 5), expire_at=500)
    quiz = CountTracker("quiz", [], 2, limiters=[DeadlineLimiter(300)])
    manager.add_tracker("exam", quiz)
    daily = PeriodTracker("daily", [KeyExists("page")], 1)
    manager.add_tracker("reader", daily)
    registry = manager.registry
    index = registry.due
    assert index.items() == [("exam", 300), ("trial", 500)]
    # The first item opens a period: due at its end.
    manager.track("reader", {"page": 1}, now_ts=D + 10)
    assert index.get("reader") == 2 * D
    # A completed tracker's deadline no longer counts.
    manager.track("exam", {}, now_ts=10)
    manager.track("exam", {}, now_ts=11)
    assert quiz.completed and index.get("exam") is None
    # A reset that moves a deadline moves the entry.
    quiz2 = CountTracker("quiz2", [], 2, limiters=[DeadlineLimiter(300)])
    manager.add_tracker("exam", quiz2)
    manager.reset_tracker("exam", "quiz2", reset_seconds=1000, now_ts=100)
    assert index.get("exam") == 1100
    # A composite is always due while live; an expiry counts when done.
    a = CountTracker("a", [KeyExists("a")], 1)
    manager.add_tracker("c", a)
    course = all_of("course", [a])
    manager.add_tracker("c", course, expire_at=10 ** 9)
    assert index.get("c") == ALWAYS
    manager.track("c", {"a": 1}, now_ts=5)
    assert course.completed and index.get("c") == 10 ** 9
    # Removing the last timed tracker takes the group out.
    manager.remove_tracker("trial")
    assert index.get("trial") is None
    assert_in_step(registry)
    manager.flush(confirm=True)
    assert len(index) == 0
    manager.close()


def test_nothing_survives_an_abort_or_a_refused_call():
    db = ZODB.DB(None)
    tm = transaction.TransactionManager()
    manager = TrackingManager(db, transaction_manager=tm)
    manager.add_tracker("g", CountTracker("n", [], 5), expire_at=100)
    tm.commit()
    index = manager.registry.due
    manager.add_tracker("h", CountTracker("n", [], 5), expire_at=50)
    manager.reset_tracker("g", "n", now_ts=1)
    assert index.get("h") == 50
    tm.abort()
    assert index.items() == [("g", 100)]
    with pytest.raises(ConflictingNameError):
        manager.add_trackers("g", [CountTracker("m", [], 1,
                                                limiters=[DeadlineLimiter(7)]),
                                   CountTracker("n", [], 1)])
    assert index.items() == [("g", 100)]
    tm.commit()
    assert index.items() == [("g", 100)]
    manager.close()
    db.close()


def random_manager(seed, n_groups=40):
    """A manager with groups of every kind, and a list of operations."""
    rnd = random.Random(seed)
    manager = TrackingManager()
    members = []
    for n in range(n_groups):
        group = "g%02d" % n
        kind = rnd.choice(["plain", "expiring", "deadline", "daily",
                           "weekly", "mixed"])
        trackers = [CountTracker("n", [KeyExists("x")], 3)]
        expire_at = None
        if kind in ("expiring", "mixed"):
            expire_at = rnd.randrange(1, 20) * D
        if kind in ("deadline", "mixed"):
            trackers.append(CountTracker("d", [KeyExists("y")], 2, limiters=[
                DeadlineLimiter(rnd.randrange(1, 20) * D)]))
        if kind in ("daily", "weekly", "mixed"):
            trackers.append(PeriodTracker(
                "p", [KeyExists("x")], 2,
                period="daily" if kind != "weekly" else "weekly",
                tz=rnd.choice(["UTC", "Europe/Berlin"])))
        manager.add_trackers(group, trackers, expire_at=expire_at,
                             now_ts=0)
        members.append(trackers[0])
    manager.add_tracker("team", rollup("team", members[:5], 10))
    return rnd, manager


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_index_matches_the_trackers_and_tick_matches_a_full_visit(seed):
    # Two managers get the same operations; one ticks through the index,
    # the other visits every group by name (the path without the index).
    (rnd, indexed), (_, full) = random_manager(seed), random_manager(seed)
    now = 0
    for step in range(300):
        now += rnd.randrange(0, D // 2)
        group = "g%02d" % rnd.randrange(40)
        action = rnd.random()
        data = rnd.choice([{"x": 1}, {"y": 1}, {"x": 1, "y": 1}])
        for manager in (indexed, full):
            if action < 0.6:
                manager.track(group, dict(data), now_ts=now)
            elif action < 0.7:
                manager.reset_tracker(group, "d", reset_seconds=3 * D,
                                      now_ts=now)
            elif action < 0.75:
                manager.remove_tracker(group, "p")
            elif action < 0.8:
                if not manager.get_trackers(group, "x2"):
                    manager.add_tracker(group, CountTracker("x2", [], 9),
                                        expire_at=now + 2 * D, now_ts=now)
            else:
                ticked = manager.tick(
                    now_ts=now, group_ids=None if manager is indexed
                    else list(manager.registry.groups.keys()))
                if manager is indexed:
                    got = ticked
                else:
                    want = ticked
        if action >= 0.8:
            assert [[(t.group_id, t.name) for t in kind] for kind in got] \
                == [[(t.group_id, t.name) for t in kind] for kind in want]
        assert_in_step(indexed.registry)
    assert {g: [(t.name, t.progress, t.state) for t in
                indexed.get_trackers(g, include_completed=True, now_ts=0)]
            for g in indexed.registry.groups.keys()} == {
        g: [(t.name, t.progress, t.state) for t in
            full.get_trackers(g, include_completed=True, now_ts=0)]
        for g in full.registry.groups.keys()}
    # remove_expired reads the index too: afterwards nothing is expired.
    later = now + 30 * D
    for n in range(0, 40, 7):
        indexed.add_tracker("g%02d" % n, CountTracker("late", [], 9),
                            expire_at=now + D, now_ts=now)
    doomed = sorted((t.group_id, t.name)
                    for g in indexed.registry.groups.values()
                    for t in list(g.live.values()) + list(g.done.values())
                    if t.is_expired(later))
    assert doomed
    assert sorted((t.group_id, t.name) for t in
                  indexed.remove_expired(now_ts=later)) == doomed
    assert not [t for g in indexed.registry.groups.values()
                for t in list(g.live.values()) + list(g.done.values())
                if t.is_expired(later)]
    assert_in_step(indexed.registry)
    indexed.close()
    full.close()


def test_a_tick_reads_only_the_due_groups(tmp_path):
    db = ZODB.DB(FileStorage(str(tmp_path / "t.fs")))
    tm = transaction.TransactionManager()
    manager = TrackingManager(db, transaction_manager=tm)
    for n in range(300):
        limiters = [DeadlineLimiter(100)] if n % 100 == 0 else []
        manager.add_tracker("g%03d" % n, CountTracker("n", [], 5,
                                                      limiters=limiters))
    tm.commit()
    manager.close()
    db.cacheMinimize()
    manager = TrackingManager(db, transaction_manager=tm)
    connection = manager.connection
    connection.cacheMinimize()
    connection.getTransferCounts(clear=True)
    result = manager.tick(now_ts=101)
    assert sorted(t.group_id for t in result.failed) == ["g000", "g100",
                                                        "g200"]
    loads, _ = connection.getTransferCounts()
    # The root, the registry, its map and index, the index's 64 shards
    # and their trees, the three groups with their trackers: not the 297
    # others (three records each).
    assert loads < 300, loads
    tm.commit()
    assert manager.registry.due.items() == []
    manager.close()
    db.close()


def make_old_registry(connection, groups):
    """A registry as versions before GroupMap wrote it: one OOBTree of
    groups, no history, boards or index of due times."""
    registry = GoalRegistry.__new__(GoalRegistry)
    registry.groups = OOBTree()
    for group_id, trackers, expire_at in groups:
        group = registry.groups[group_id] = GoalGroup(group_id)
        for tracker in trackers:
            tracker._place(group_id, expire_at)
            group.put(tracker)
    connection.root()[ROOT_KEY] = registry
    return registry


def test_an_old_single_tree_registry_is_upgraded_by_its_first_tick(
        tmp_path):
    path = str(tmp_path / "old.fs")
    db = ZODB.DB(FileStorage(path))
    with db.transaction() as connection:
        make_old_registry(connection, [
            ("g%03d" % n, [CountTracker("n", [KeyExists("x")], 2)],
             1000 if n % 50 == 0 else None) for n in range(200)])
    db.close()
    db = ZODB.DB(FileStorage(path))
    tm = transaction.TransactionManager()
    manager = TrackingManager(db, transaction_manager=tm)
    registry = manager.registry
    assert needs_upgrade(registry) == ["groups", "due"]
    # Still usable as it is: reads, items, new groups, outcomes.
    assert manager.track("g001", {"x": 1}, now_ts=1).dirtied
    manager.add_tracker("new", CountTracker("n", [], 1), expire_at=500)
    manager.track("g002", {"x": 1}, now_ts=2)
    manager.track("g002", {"x": 1}, now_ts=3)
    assert [o.group_id for o in manager.history()] == ["g002"]
    tm.commit()
    result = manager.tick(now_ts=600)
    assert [t.group_id for t in result.expired] == ["new"]
    assert type(registry.groups) is GroupMap and registry.due is not None
    assert needs_upgrade(registry) == []
    assert len(registry.groups) == 200
    assert registry.due.items() == [("g%03d" % n, 1000)
                                    for n in range(0, 200, 50)]
    tm.commit()
    manager.close()
    db.close()
    db = ZODB.DB(FileStorage(path))
    manager = TrackingManager(db, transaction_manager=tm)
    assert [t.progress for t in manager.get_trackers(
        "g002", include_completed=True)] == [2]
    result = manager.tick(now_ts=1000)
    assert sorted(t.group_id for t in result.expired) == [
        "g000", "g050", "g100", "g150"]
    assert manager.upgrade_registry() == []
    tm.commit()
    manager.close()
    db.close()


def test_upgrade_registry_of_a_storage_and_an_aborted_upgrade(tmp_path):
    path = str(tmp_path / "t.fs")
    db = open_db(path)
    with db.transaction() as connection:
        storage = get_storage(connection)
        storage.goals.add_tracker("ann", CountTracker("n", [], 3),
                                  expire_at=5000)
        registry = storage.goals.registry
        # Made old: one tree, no index.
        tree = OOBTree(dict(registry.groups.items()))
        registry.groups = tree
        del registry.due
    tm = transaction.TransactionManager()
    connection = db.open(tm)
    goals = get_storage(connection, create=False).goals
    assert goals.upgrade_registry() == ["groups", "due"]
    tm.abort()                           # nothing of it stays
    assert needs_upgrade(goals.registry) == ["groups", "due"]
    assert goals.upgrade_registry() == ["groups", "due"]
    tm.commit()
    assert goals.registry.due.items() == [("ann", 5000)]
    connection.close()
    db.close()


def two_connections(path):
    db = ZODB.DB(FileStorage(path))
    tms = transaction.TransactionManager(), transaction.TransactionManager()
    managers = [TrackingManager(db, transaction_manager=tm) for tm in tms]
    return db, tms, managers


@pytest.mark.parametrize("first", ["writer", "upgrade"])
@pytest.mark.parametrize("change", ["new group", "expiry", "period"])
def test_an_upgrade_racing_a_writer_loses_nothing(tmp_path, first, change):
    # One connection upgrades an old registry (the first full tick), the
    # other changes a due time meanwhile; whichever commits second
    # conflicts, and its retry sees the other's change.
    path = str(tmp_path / "old.fs")
    db = ZODB.DB(FileStorage(path))
    with db.transaction() as connection:
        make_old_registry(connection, [
            ("g%03d" % n, [CountTracker("n", [KeyExists("x")], 2)], None)
            for n in range(100)] + [
            ("reader", [PeriodTracker("p", [KeyExists("x")], 5)], None)])
    db.close()
    db, (tm_w, tm_u), (writer, upgrader) = two_connections(path)
    tm_w.begin()
    tm_u.begin()

    def write():
        if change == "new group":
            writer.add_tracker("zz-new", CountTracker("n", [], 1),
                               expire_at=50)
        elif change == "expiry":
            writer.add_tracker("g007", CountTracker("m", [], 1),
                               expire_at=50)
        else:
            writer.track("reader", {"x": 1}, now_ts=10)   # opens a period

    def upgrade():
        upgrader.tick(now_ts=1)

    write()
    upgrade()
    (tm_first, tm_second), (redo,) = (
        ((tm_w, tm_u), (upgrade,)) if first == "writer"
        else ((tm_u, tm_w), (write,)))
    tm_first.commit()
    with pytest.raises(ConflictError):
        tm_second.commit()
    tm_second.abort()
    redo()
    tm_second.commit()
    tm_u.begin()
    registry = upgrader.registry
    assert needs_upgrade(registry) == []
    want = {"new group": ("zz-new", 50), "expiry": ("g007", 50),
            "period": ("reader", D)}[change]
    assert want in registry.due.items()
    assert_in_step(registry)
    tm_u.abort()
    db.close()


def test_goals_tick_on_the_command_line_upgrades_an_old_database(
        tmp_path, capsys):
    from cybertools_tracking.cli import main
    from cybertools_tracking.tracked_goals import binding_of
    path = str(tmp_path / "t.fs")
    db = open_db(path)
    with db.transaction() as connection:
        storage = get_storage(connection)
        for user in ("ann", "bob"):
            storage.goals.add_tracker(user, CountTracker("trial", [], 3),
                                      expire_at=1_000)
        registry = binding_of(storage).registry
        registry.groups = OOBTree(dict(registry.groups.items()))
        del registry.due                 # as an older version left it
    db.close()
    assert main(["--db", path, "goals", "tick", "--at", "999"]) == 0
    assert "0 expired" in capsys.readouterr().out
    assert main(["--db", path, "goals", "tick", "--at", "1000"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:2] == ["expired\tann\ttrial",
                                    "expired\tbob\ttrial"]
    db = open_db(path)
    with db.transaction() as connection:
        registry = binding_of(get_storage(connection)).registry
        assert needs_upgrade(registry) == [] and len(registry.due) == 0
    db.close()


def test_the_upgrade_command_upgrades_an_old_registry(tmp_path, capsys):
    from cybertools_tracking.cli import main
    from cybertools_tracking.tracked_goals import binding_of
    path = str(tmp_path / "u.fs")
    db = open_db(path)
    with db.transaction() as connection:
        storage = get_storage(connection)
        storage.saveUserTrack("t", 0, "ann", {})
        storage.goals.add_tracker("ann", CountTracker("trial", [], 3),
                                  expire_at=1_000)
        registry = binding_of(storage).registry
        registry.groups = OOBTree(dict(registry.groups.items()))
        del registry.due                 # as an older version left it
    db.close()
    assert main(["--db", path, "upgrade"]) == 0
    out = capsys.readouterr().out
    assert "upgraded the goal registry" in out
    assert "groups" in out and "due" in out
    db = open_db(path)
    with db.transaction() as connection:
        registry = binding_of(get_storage(connection)).registry
        assert needs_upgrade(registry) == []
        assert registry.due.items() == [("ann", 1_000)]
    db.close()
    assert main(["--db", path, "upgrade"]) == 0
    assert "nothing to do" in capsys.readouterr().out
