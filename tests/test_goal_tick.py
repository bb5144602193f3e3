"""Time-driven evaluation: ``tick`` without an item, and ``goals tick``."""

from zope.interface import implementer
from zope.interface.verify import verifyObject

from cybertools_tracking.cli import main
from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.goals import CountTracker, TrackingManager
from cybertools_tracking.goals.interfaces import (
    ITickingManager, ITimeDriven)


@implementer(ITimeDriven)
class Deadline(CountTracker):
    """Completes by itself when its time comes (a stand-in for the
    calendar goals, which close periods in ``tick``)."""

    due = None

    def tick(self, now_ts=None):
        if self.due is None or now_ts < self.due:
            return False, ()
        return True, self.grant(now_ts)


def test_tick_expires_and_lets_time_driven_trackers_see_the_time():
    manager = TrackingManager()
    assert verifyObject(ITickingManager, manager)
    timed = Deadline("due", [], 5)
    timed.due = 100
    assert verifyObject(ITimeDriven, timed)
    manager.add_tracker("a", timed)
    manager.add_tracker("a", CountTracker("trial", [], 5), expire_at=50)
    manager.add_tracker("b", CountTracker("plain", [], 5))
    board = manager.add_leaderboard("due")
    heard = []
    manager.add_listener(1003, heard.append)
    result = manager.tick(now_ts=60)
    assert [t.name for t in result.expired] == ["trial"]
    assert result.changed == result.expired and heard == []
    result = manager.tick(now_ts=100)
    assert result.expired == [] and result.changed == [timed]
    assert timed.completed and [e.name for e in heard] == ["due"]
    assert manager.get_trackers("a", include_completed=True) == [timed]
    assert board.score("a") == 5
    assert [(r.tracker, r.kind) for r in manager.history()] == [
        ("due", "completed"), ("trial", "expired")]
    assert manager.tick(now_ts=200) == ([], [], [], [])
    manager.close()


def test_goals_tick_on_the_command_line(tmp_path, capsys):
    path = str(tmp_path / "t.fs")
    db = open_db(path)
    with db.transaction() as connection:
        storage = get_storage(connection)
        storage.goals.add_tracker("ann", CountTracker("trial", [], 3),
                                  expire_at=1_000)
    db.close()
    assert main(["--db", path, "goals", "tick", "--at", "999"]) == 0
    assert "0 expired, 0 changed" in capsys.readouterr().out
    assert main(["--db", path, "goals", "tick"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "expired\tann\ttrial"
    assert "1 expired, 1 changed" in out
    assert main(["--db", path, "goals", "history", "--kind", "expired"]) == 0
    assert "trial" in capsys.readouterr().out
