"""Time-based goals bound to a tracking storage: judged at the tracks' time."""

import itertools

import pytest

from cybertools_tracking.db import open_db, tracking_transaction
from cybertools_tracking.goals.composite import SequenceTracker
from cybertools_tracking.goals.conditions import KeyValueEQ
from cybertools_tracking.goals.periods import PeriodTracker
from cybertools_tracking.goals.windows import WindowTracker

HOUR = 3600
# Three lesson tracks within 24 hours of each other.
TRACKS = [("lesson", 10 * HOUR), ("lesson", 20 * HOUR), ("lesson", 30 * HOUR)]


def outcome(order):
    db = open_db("memory://")
    try:
        with tracking_transaction(db) as tracks:
            tracks.goals.add_tracker("anna", WindowTracker(
                "3-a-day", [KeyValueEQ("taskId", "lesson")], 3, 24 * HOUR))
            for task, ts in order:
                tracks.saveUserTrack(task, 0, "anna", {}, timeStamp=ts)
        with tracking_transaction(db) as tracks:
            tracker, = tracks.goals.get_trackers(
                "anna", include_completed=True, now_ts=0)
            return tracker.completed, tracker.times
    finally:
        db.close()


def test_import_order_within_a_window_does_not_matter():
    expected = (True, (10 * HOUR, 20 * HOUR, 30 * HOUR))
    for order in itertools.permutations(TRACKS):
        assert outcome(list(order)) == expected


def test_a_track_a_window_older_than_the_newest_is_too_late():
    early = [("lesson", h * HOUR) for h in (10, 12, 20)]
    assert outcome(early + [("lesson", 40 * HOUR)])[0]  # met at 20 h
    # Imported after the track at 40 h, those at 10 h and 12 h are a
    # window older or more: too late.
    assert outcome([("lesson", 40 * HOUR)] + early) == (
        False, (20 * HOUR, 40 * HOUR))


def test_the_wall_clock_plays_no_part():
    # The tracks are from 1970; a window judged at the wall clock would
    # have nothing in it.
    assert outcome(TRACKS)[0]


@pytest.mark.parametrize("runs,expected", [((0, 0), 1), ((0, 1), 0)])
def test_sequences_per_run_of_stored_tracks(runs, expected):
    db = open_db("memory://")
    try:
        with tracking_transaction(db) as tracks:
            tracks.goals.add_tracker("anna", SequenceTracker(
                "video-then-quiz", [KeyValueEQ("data.step", "video"),
                                    KeyValueEQ("data.step", "quiz")],
                per="runId"))
            run_ids = [tracks.startRun("lesson") for _ in range(2)]
            for run, step, ts in zip(runs, ("video", "quiz"), (100, 200)):
                run_id = run_ids[run]
                tracks.saveUserTrack("lesson", run_id, "anna",
                                     {"step": step}, timeStamp=ts)
            tracker, = tracks.goals.get_trackers(
                "anna", include_completed=True, now_ts=0)
            assert tracker.progress == expected
    finally:
        db.close()


def test_daily_goal_of_stored_tracks_in_a_time_zone():
    db = open_db("memory://")
    try:
        with tracking_transaction(db) as tracks:
            tracks.goals.add_tracker("anna", PeriodTracker(
                "daily", [], 2, tz="Asia/Tokyo"))
            # 14:00 and 16:00 UTC: 23:00 on Jan 1 and 01:00 on Jan 2, Tokyo
            for ts in (14 * HOUR, 16 * HOUR):
                tracks.saveUserTrack("lesson", 0, "anna", {}, timeStamp=ts)
            tracker, = tracks.goals.get_trackers("anna", now_ts=0)
            assert tracker.period.key == "1970-01-02"
            assert [p.progress for p in tracker.closed_periods()] == [1]
    finally:
        db.close()


def test_task_templates_give_each_user_their_own_periods_and_windows():
    db = open_db("memory://")
    try:
        with tracking_transaction(db) as tracks:
            tracks.goals.add_task_goal("lesson", PeriodTracker(
                "daily", [], 2, tz="Europe/Berlin"))
            tracks.goals.add_task_goal("lesson", WindowTracker(
                "2-an-hour", [], 2, HOUR))
        with tracking_transaction(db) as tracks:
            for user, times in (("ann", (100, 200)), ("bob", (100,))):
                for ts in times:
                    tracks.saveUserTrack("lesson", 0, user, {}, timeStamp=ts)
        with tracking_transaction(db) as tracks:
            ann = tracks.goals.user_task_goals("lesson", "ann",
                                               include_completed=True)
            bob = tracks.goals.user_task_goals("lesson", "bob",
                                               include_completed=True)
            assert [t.progress for t in ann] == [2, 2]
            assert [t.progress for t in bob] == [1, 1]
            assert ann[0].met and not bob[0].met
            template = tracks.goals.task_goals("lesson")[0]
            assert template.progress == 0 and template.period is None
            assert ann[0]._history is not bob[0]._history
    finally:
        db.close()
