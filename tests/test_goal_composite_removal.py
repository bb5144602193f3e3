"""Removing a component of a live composite: refused, or detached
(``remove_tracker(..., detach=True)``, ``forget_group``), never left
waiting for a tracker that is gone."""

import pytest
import transaction
import ZODB

from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.goals import TrackingManager
from cybertools_tracking.goals.composite import all_of, n_of, rollup
from cybertools_tracking.goals.conditions import KeyExists
from cybertools_tracking.goals.due import ALWAYS
from cybertools_tracking.goals.events import EVENT_TRACKER_ALL_COMPLETED
from cybertools_tracking.goals.interfaces import ComponentInUseError
from cybertools_tracking.goals.interfaces import CompositeOutOfReachError
from cybertools_tracking.goals.trackers import AccumulationTracker
from cybertools_tracking.goals.trackers import CountTracker

from tests.test_cli_import import cli


def counting(name, key=None):
    return CountTracker(name, [KeyExists(key or name)], 1)


@pytest.fixture
def manager():
    db = ZODB.DB(None)
    manager = TrackingManager(db)
    yield manager
    transaction.abort()
    db.close()


def state(manager, *groups):
    """What a refused call must leave as it was."""
    return {g: [(t.name, t.state, t.progress, t.target,
                 [c.name for c in getattr(t, "components", ())])
                for t in manager.get_trackers(g, include_completed=True)]
            for g in groups} | {"due": manager.registry.due.items(),
                                "history": len(list(manager.history()))}


def late_all(manager):
    a, b, c = (counting(n) for n in "abc")
    manager.add_trackers("ann", [a, b, c])
    composite = all_of("late-all", [a, b, c])
    manager.add_tracker("ann", composite)
    manager.track("ann", {"a": 1})
    manager.track("ann", {"b": 1})
    return composite


def test_removing_a_used_component_is_refused_naming_the_composite(manager):
    composite = late_all(manager)
    before = state(manager, "ann")
    with pytest.raises(ComponentInUseError) as caught:
        manager.remove_tracker("ann", "c")
    message = str(caught.value)
    assert "tracker 'c' of group 'ann'" in message
    assert "composite 'late-all' of group 'ann'" in message
    assert "remove_tracker('ann', 'late-all')" in message
    assert "detach=True" in message
    assert isinstance(caught.value, ValueError)
    assert caught.value.users == [("ann", "late-all")]
    assert state(manager, "ann") == before
    assert composite.progress == 2 and composite.target == 3


def test_detach_takes_it_out_and_the_composite_completes(manager):
    composite = late_all(manager)
    seen = []
    manager.add_listener(EVENT_TRACKER_ALL_COMPLETED, seen.append)
    removed = manager.remove_tracker("ann", "c", detach=True, now_ts=5000)
    assert [t.name for t in removed] == ["c"] and removed[0].removed
    assert [c.name for c in composite.components] == ["a", "b"]
    assert (composite.target, composite.progress, composite.state) == (
        2, 2, "completed")
    assert [e.tracker.name for e in seen] == ["late-all"]
    assert [(r.tracker, r.kind, r.time) for r in manager.history(
        group_id="ann", tracker="late-all")] == [("late-all", "completed",
                                                  5000)]
    # No live composite is left: the group is no longer always due.
    assert manager.registry.due.get("ann") is None


def test_removing_composite_and_components_together_needs_no_detach(manager):
    late_all(manager)
    gone = manager.remove_tracker("ann", ["c", "late-all"])
    assert sorted(t.name for t in gone) == ["c", "late-all"]
    assert manager.remove_tracker("ann") and \
        manager.get_trackers("ann", include_completed=True) == []


def test_a_completed_composite_does_not_hold_its_components(manager):
    a, b = counting("a"), counting("b")
    manager.add_trackers("ann", [a, b])
    either = n_of("either", 1, [a, b])
    manager.add_tracker("ann", either)
    manager.track("ann", {"a": 1})
    assert either.completed
    assert [t.name for t in manager.remove_tracker("ann", "b")] == ["b"]


def test_detach_refuses_to_leave_a_composite_out_of_reach(manager):
    a, b, c = (counting(n) for n in "abc")
    manager.add_trackers("ann", [a, b, c])
    two = n_of("two", 2, [a, b])
    only = all_of("only-c", [c])
    manager.add_trackers("team", [two, only])
    before = state(manager, "ann", "team")
    with pytest.raises(CompositeOutOfReachError,
                       match=r"composite 'two' of group 'team': 1 would be "
                             r"left, and it needs 2 to complete; remove the "
                             r"composite first \(remove_tracker\('team', "
                             r"'two'\)\)"):
        manager.remove_tracker("ann", "a", detach=True)
    with pytest.raises(CompositeOutOfReachError, match="0 would be left, "
                       "and it needs at least one"):
        manager.remove_tracker("ann", "c", detach=True)
    assert state(manager, "ann", "team") == before


def test_a_rollup_loses_the_contribution_of_a_detached_member(manager):
    points = {u: AccumulationTracker("points", [], 1000, "points")
              for u in ("anna", "bob")}
    for user, tracker in points.items():
        manager.add_tracker(user, tracker)
    team = rollup("team", list(points.values()), 100)
    manager.add_tracker("teams", team)
    manager.track("anna", {"points": 30})
    manager.track("bob", {"points": 20})
    manager.tick()
    assert team.progress == 50
    with pytest.raises(ComponentInUseError, match="'team' of group 'teams'"):
        manager.remove_tracker("anna", "points")
    manager.remove_tracker("anna", "points", detach=True)
    assert team.progress == 20 and team.components == (points["bob"],)
    manager.track("bob", {"points": 80})
    manager.tick()
    assert team.completed


def test_forget_group_detaches_the_member_from_team_goals(manager):
    quiz = {u: counting("quiz") for u in ("anna", "bob")}
    points = {u: AccumulationTracker("points", [], 1000, "points")
              for u in ("anna", "bob")}
    for user in ("anna", "bob"):
        manager.add_trackers(user, [quiz[user], points[user]])
    everyone = all_of("everyone", list(quiz.values()))
    team = rollup("team", list(points.values()), 100)
    school = rollup("school", [team], 1000)     # a roll-up over a roll-up
    manager.add_trackers("teams", [everyone, team, school])
    manager.track("anna", {"points": 30})
    manager.track("bob", {"points": 20, "quiz": 1})
    manager.tick()
    assert (everyone.progress, team.progress, school.progress) == (1, 50, 50)
    assert manager.forget_group("anna") == (2, 0, 0)
    assert everyone.completed and everyone.target == 1
    assert team.progress == 20 and school.progress == 20
    assert manager.registry.due.get("teams") == ALWAYS   # team, school live
    assert manager.get_trackers("anna", include_completed=True) == []


def test_forget_group_removes_a_composite_it_leaves_out_of_reach(manager):
    a, b, c = counting("a"), counting("b"), counting("c")
    manager.add_tracker("anna", a)
    manager.add_trackers("bob", [b, c])
    only = all_of("only-anna", [a])
    three = n_of("three", 3, [a, b, c])     # 2 left: below its target
    two = n_of("two", 2, [a, b, c])         # 2 left: still reachable
    manager.add_trackers("teams", [only, three, two])
    school = rollup("school", [only, two], 5)
    manager.add_tracker("school", school)
    manager.track("bob", {"b": 1})
    manager.tick(now_ts=10)
    records = len(list(manager.history()))
    assert records          # b completed
    # remove_tracker keeps refusing: that is the deliberate API.
    with pytest.raises(CompositeOutOfReachError, match="composite '"):
        manager.remove_tracker("anna", "a", detach=True)
    assert manager.composites_removed_with("anna") == [
        ("teams", "only-anna"), ("teams", "three")]
    assert manager.composites_removed_with("nobody") == []
    assert (only.state, three.state) == ("active", "active")   # reads only
    assert manager.forget_group("anna") == (1, 0, 0)
    assert (only.state, three.state, two.state) == (
        "removed", "removed", "active")
    assert [t.name for t in manager.get_trackers(
        "teams", include_completed=True)] == ["two"]
    assert [x.name for x in two.components] == ["b", "c"]
    # school loses the removed composite, keeps the other
    assert [x.name for x in school.components] == ["two"]
    assert school.state == "active"
    # the team's records stay (anna had none of her own)
    assert len(list(manager.history())) == records


def test_forget_group_removes_composites_over_removed_ones(manager):
    a = counting("a")
    manager.add_tracker("anna", a)
    team = all_of("team", [a])
    manager.add_tracker("teams", team)
    school = rollup("school", [team], 3)
    manager.add_tracker("school", school)
    assert manager.forget_group("anna") == (1, 0, 0)
    assert (team.state, school.state) == ("removed", "removed")
    assert manager.get_trackers("teams", include_completed=True) == []
    assert manager.get_trackers("school", include_completed=True) == []


def test_a_registry_without_the_due_index_is_searched_whole(manager):
    composite = late_all(manager)
    manager.registry.due = None
    transaction.commit()
    with pytest.raises(ComponentInUseError, match="'late-all'"):
        manager.remove_tracker("ann", "c")
    manager.remove_tracker("ann", "c", detach=True)
    assert composite.completed


def test_forget_user_on_the_command_line_moves_the_team_goal(tmp_path):
    path = str(tmp_path / "team.fs")
    database = open_db(path)
    with database.transaction() as connection:
        goals = get_storage(connection).goals
        quiz = {u: counting("quiz", "data.quiz") for u in ("anna", "bob")}
        for user, tracker in quiz.items():
            goals.add_tracker(user, tracker)
        goals.add_tracker("team", all_of("everyone", list(quiz.values())))
        storage = get_storage(connection)
        storage.saveUserTrack("t", 0, "anna", {"x": 1})
        storage.saveUserTrack("t", 0, "bob", {"quiz": 1})
    database.close()
    code, out, err = cli("--db", path, "forget-user", "anna")
    assert code == 0, err
    database = open_db(path)
    try:
        with database.transaction() as connection:
            goals = get_storage(connection, create=False).goals
            [everyone] = goals.get_trackers("team", include_completed=True)
            assert (everyone.state, everyone.target) == ("completed", 1)
            assert [c.name for c in everyone.components] == ["quiz"]
    finally:
        database.close()


def test_forget_user_erases_a_lone_member_of_a_team_goal(tmp_path):
    path = str(tmp_path / "alone.fs")
    database = open_db(path)
    with database.transaction() as connection:
        storage = get_storage(connection)
        quiz = counting("quiz", "data.quiz")
        storage.goals.add_tracker("anna", quiz)
        storage.goals.add_tracker("team", all_of("only-anna", [quiz]))
        storage.saveUserTrack("t", 0, "anna", {"x": 1})
    database.close()
    code, out, err = cli("--db", path, "forget-user", "anna", "--dry-run")
    assert code == 0, err
    assert "would remove 1 track of 'anna'" in out
    assert ("; the composite 'only-anna' of group 'team' would go too "
            "(without the user it could not complete; history records "
            "stay)") in out
    code, out, err = cli("--db", path, "forget-user", "anna")
    assert code == 0, err
    assert "removed 1 track of 'anna'" in out
    assert "the composite 'only-anna' of group 'team' went too" in out
    database = open_db(path)
    try:
        with database.transaction() as connection:
            storage = get_storage(connection, create=False)
            assert len(storage) == 0
            assert storage.goals.get_trackers(
                "anna", include_completed=True) == []
            assert storage.goals.get_trackers(
                "team", include_completed=True) == []
    finally:
        database.close()


def test_forget_group_leaves_nothing_of_the_group_in_finished_composites(
        manager):
    # Composites of another group that completed over anna's trackers
    # kept them as components (her group id, her progress) until now.
    points = AccumulationTracker("points", [], 1000, "points")
    one = counting("one")
    manager.add_trackers("anna", [points, one])
    tiny = rollup("tiny", [points], 1)
    allone = all_of("allone", [one])
    manager.add_trackers("team", [tiny, allone])
    manager.track("anna", {"points": 6, "one": 1})
    manager.tick()
    assert tiny.completed and allone.completed
    manager.forget_group("anna")
    for composite in (tiny, allone):
        assert composite.completed                   # its outcome stays
        assert [c for c in composite.components
                if c.group_id == "anna"] == []
    assert manager.get_trackers("anna", include_completed=True) == []
    assert len(manager.history("team")) > 0          # the team's records


def test_forget_components_refuses_a_live_composite(manager):
    a = counting("a")
    manager.add_tracker("ann", a)
    live = all_of("live", [a])
    manager.add_tracker("ann", live)
    with pytest.raises(ValueError, match="remove_components"):
        live.forget_components(a)
    assert live.components == [a] or list(live.components) == [a]


def test_a_refusal_names_every_composite_and_how_to_remove_each(manager):
    a = counting("a")
    manager.add_tracker("ann", a)
    manager.add_tracker("team", all_of("one", [a]))
    manager.add_tracker("club", all_of("two", [a]))
    with pytest.raises(ComponentInUseError) as refused:
        manager.remove_tracker("ann", "a")
    message = str(refused.value)
    assert "live composites 'one' of group 'team', 'two' of group 'club'" \
        in message or "live composites 'two' of group 'club', 'one'" \
        in message
    assert "remove_tracker('team', 'one')" in message
    assert "remove_tracker('club', 'two')" in message
