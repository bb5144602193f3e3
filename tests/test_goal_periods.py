"""Calendar periods in a time zone, period trackers and streaks."""

import pickle
from datetime import date
from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import transaction
import ZODB
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from zope.interface.verify import verifyObject

from cybertools_tracking.goals import TrackingManager
from cybertools_tracking.goals.conditions import KeyExists
from cybertools_tracking.goals.events import EVENT_PERIOD_CLOSED
from cybertools_tracking.goals.events import EVENT_TRACKER_ALL_COMPLETED
from cybertools_tracking.goals.events import EVENT_TRACKER_STAGE_COMPLETED
from cybertools_tracking.goals.interfaces import ICalendar
from cybertools_tracking.goals.interfaces import IPeriodClosedEvent
from cybertools_tracking.goals.interfaces import IPeriodTracker
from cybertools_tracking.goals.limiters import CountLimiter
from cybertools_tracking.goals.periods import Calendar
from cybertools_tracking.goals.periods import PeriodAccumulationTracker
from cybertools_tracking.goals.periods import PeriodTracker
from cybertools_tracking.goals import streaks

HIT = {"hit": 1}
BERLIN = ZoneInfo("Europe/Berlin")


def ts(text):
    """Seconds UTC of an ISO time with offset."""
    return datetime.fromisoformat(text).timestamp()


def daily(target=2, tz="UTC", **kw):
    return PeriodTracker("p", [KeyExists("hit")], target, period="daily",
                         tz=tz, **kw)


def codes(result):
    return [e.code for e in result[1]]


def test_verify_object():
    assert verifyObject(ICalendar, Calendar())
    assert verifyObject(IPeriodTracker, daily())
    assert verifyObject(IPeriodTracker, PeriodAccumulationTracker(
        "a", [], 10, "minutes"))


@pytest.mark.parametrize("args,error,message", [
    (("hourly",), ValueError, "period must be one of daily, weekly, monthly"),
    (("daily", "Mars/Olympus"), ValueError, "IANA time zone name"),
    (("daily", "../etc"), ValueError, "got '../etc'"),
    (("daily", 1), TypeError, "tz must be the name of a time zone"),
])
def test_calendar_arguments(args, error, message):
    with pytest.raises(error, match=message):
        Calendar(*args)


def test_calendar_is_an_immutable_picklable_value():
    calendar = Calendar("weekly", "Europe/Berlin")
    assert pickle.loads(pickle.dumps(calendar)) == calendar
    assert hash(calendar) == hash(Calendar("weekly", "Europe/Berlin"))
    with pytest.raises(AttributeError):
        calendar.period = "daily"


def test_berlin_days_across_dst():
    calendar = Calendar("daily", "Europe/Berlin")
    spring = calendar.period_of(ts("2026-03-29T12:00:00+02:00"))
    assert spring.key == "2026-03-29"
    assert spring.start == ts("2026-03-29T00:00:00+01:00")
    assert spring.end - spring.start == 23 * 3600
    autumn = calendar.period_of(ts("2026-10-25T02:30:00+01:00"))  # 2nd 2:30
    assert autumn.key == "2026-10-25"
    assert autumn.end - autumn.start == 25 * 3600
    assert calendar.following(spring).start == spring.end
    # the last second of a day and the first of the next
    assert calendar.period_of(spring.end - 1).key == "2026-03-29"
    assert calendar.period_of(spring.end).key == "2026-03-30"


def test_midnight_that_does_not_exist():
    # America/Santiago jumps from 00:00 to 01:00 on 2026-09-06.
    calendar = Calendar("daily", "America/Santiago")
    day = calendar.period_of(ts("2026-09-06T12:00:00-03:00"))
    assert day.start == ts("2026-09-06T01:00:00-03:00")  # the jump
    assert day.end - day.start == 23 * 3600
    assert calendar.period_of(day.start - 1).end == day.start


@pytest.mark.parametrize("when,key", [
    ("2026-12-28T00:00:00+01:00", "2026-W53"),  # Monday
    ("2026-12-31T12:00:00+01:00", "2026-W53"),
    ("2027-01-03T23:59:59+01:00", "2026-W53"),  # Sunday, ISO year 2026
    ("2027-01-04T00:00:00+01:00", "2027-W01"),
    ("2025-12-29T00:00:00+01:00", "2026-W01"),  # ISO 2026 starts in 2025
])
def test_iso_weeks(when, key):
    assert Calendar("weekly", "Europe/Berlin").period_of(ts(when)).key == key


def test_week_bounds_and_months():
    week = Calendar("weekly", "Europe/Berlin").period_of(
        ts("2026-12-31T12:00:00+01:00"))
    assert week.start == ts("2026-12-28T00:00:00+01:00")
    assert week.end == ts("2027-01-04T00:00:00+01:00")
    month = Calendar("monthly", "Europe/Berlin").period_of(
        ts("2026-03-31T23:30:00+02:00"))
    assert month.key == "2026-03"
    assert month.end == ts("2026-04-01T00:00:00+02:00")
    assert month.end - month.start == 31 * 86400 - 3600
    december = Calendar("monthly", "UTC").period_of(ts("2026-12-15T00:00:00Z"))
    assert (december.key, december.end) == ("2026-12", ts("2027-01-01T00:00Z"))


def test_a_utc_time_belongs_to_the_local_day():
    calendar = Calendar("daily", "Europe/Berlin")
    # 23:30 UTC on the 30th is 00:30 on the 31st in Berlin (winter)
    assert calendar.period_of(ts("2026-12-30T23:30:00Z")).key == "2026-12-31"
    with pytest.raises(ValueError, match="that a calendar can show"):
        calendar.period_of(1e20)


# -- period trackers ----------------------------------------------------------

D = 86400


def test_progress_per_period_and_rollover():
    tracker = daily(2)
    assert tracker.period is None
    tracker.track(HIT, 10)
    assert tracker.period.key == "1970-01-01" and tracker.progress == 1
    assert codes(tracker.track(HIT, 20)) == [EVENT_TRACKER_STAGE_COMPLETED]
    assert tracker.met and tracker.active
    assert tracker.track(HIT, 30) == (False, ())  # met: nothing more counts
    changed, events = tracker.track(HIT, D + 5)
    assert [e.code for e in events] == [EVENT_PERIOD_CLOSED]
    assert verifyObject(IPeriodClosedEvent, events[0])
    closed = events[0].period
    assert (closed.key, closed.progress, closed.met, closed.met_at) == (
        "1970-01-01", 2, True, 20)
    assert events[0].tracker.progress == 2
    assert tracker.progress == 1 and not tracker.met
    assert tracker.closed_periods() == [closed]


def test_late_items_do_not_reopen_a_closed_period():
    tracker = daily(5)
    tracker.track(HIT, D + 1)
    assert tracker.track(HIT, D - 1) == (False, ())
    assert tracker.progress == 1


def test_non_matching_items_roll_over_too():
    tracker = daily(1)
    tracker.track(HIT, 0)
    changed, events = tracker.track({"other": 1}, D)
    assert changed and [e.code for e in events] == [EVENT_PERIOD_CLOSED]


def test_tick_closes_without_an_item():
    tracker = daily(3)
    tracker.track(HIT, 0)
    assert tracker.tick(D - 1) == (False, ())
    changed, events = tracker.tick(5 * D)
    assert changed and events[0].period.progress == 1
    assert not events[0].period.met
    assert tracker.period.key == "1970-01-06" and tracker.progress == 0


def test_stages_within_a_period():
    tracker = daily([2, 4])
    seen = []
    for t in range(4):
        seen += codes(tracker.track(HIT, t))
    assert seen == [1004, 1002, 1002]
    assert tracker.met and tracker.current_stage == 2
    tracker.track(HIT, D)
    assert tracker.current_stage == 1 and tracker.target == 2


def test_limiters_reset_with_each_period():
    tracker = daily(10, limiters=[CountLimiter(2)])
    for t in range(3):
        tracker.track(HIT, t)
    assert tracker.limited and tracker.progress == 2
    tracker.track(HIT, D)
    assert tracker.active and tracker.progress == 1


def test_accumulation_per_month():
    tracker = PeriodAccumulationTracker(
        "minutes", [], 60, "minutes", period="monthly", tz="Europe/Berlin")
    tracker.track({"minutes": 45}, ts("2026-02-28T23:30:00+01:00"))
    tracker.track({"minutes": 30}, ts("2026-03-01T00:10:00+01:00"))
    assert tracker.period.key == "2026-03" and tracker.progress == 30
    assert tracker.closed_periods()[0].progress == 45


def test_streaks_and_streak_target():
    tracker = daily(1, streak_target=3)
    assert codes(tracker.track(HIT, 0)) == [1002]
    tracker.track(HIT, D)
    assert tracker.streak_at(D) == 2
    assert tracker.streak_at(2 * D + 5) == 2  # alive: day 3 not over
    assert tracker.streak_at(3 * D) == 0  # day 3 ended unmet
    assert codes(tracker.track(HIT, 2 * D)) == [
        EVENT_PERIOD_CLOSED, 1002, EVENT_TRACKER_ALL_COMPLETED]
    assert tracker.completed and tracker.longest_streak == 3


def test_a_missed_day_breaks_the_streak():
    tracker = daily(1)
    for day in (0, 1, 3, 4, 5):
        tracker.track(HIT, day * D)
    assert tracker.longest_streak == 3 and tracker.streak_at(5 * D) == 3
    assert [p.key for p in tracker.closed_periods(limit=2)] == [
        "1970-01-05", "1970-01-04"]


def test_streak_across_berlin_dst():
    tracker = daily(1, tz="Europe/Berlin")
    for day in ("2026-03-28", "2026-03-29", "2026-03-30"):
        tracker.track(HIT, ts(day + "T23:30:00+01:00")
                      if day == "2026-03-28" else ts(day + "T00:30:00+02:00")
                      if day == "2026-03-30" else ts(day + "T12:00:00+02:00"))
    assert tracker.longest_streak == 3


def test_no_history_if_not_wanted_and_loop_forever_refused():
    tracker = daily(1, keep_history=False)
    tracker.track(HIT, 0)
    tracker.track(HIT, D)
    assert tracker.closed_periods() == []
    with pytest.raises(ValueError, match="loop_forever must be False"):
        daily(1, loop_forever=True)
    with pytest.raises(ValueError, match="streak_target must be a positive"):
        daily(1, streak_target=0)


def test_state_and_history_commit_and_abort():
    db = ZODB.DB(None)
    tm = transaction.TransactionManager()
    manager = TrackingManager(db, transaction_manager=tm)
    heard = []
    manager.add_listener(EVENT_PERIOD_CLOSED, heard.append,
                         when="after_commit")
    manager.add_tracker("u", daily(1))
    manager.track("u", HIT, now_ts=0)
    tm.commit()
    manager.track("u", HIT, now_ts=D)
    tm.abort()
    assert heard == []
    other = db.open(transaction.TransactionManager())
    tracker = other.root()["cybertools_tracking.goals"].get("u").live["p"]
    assert tracker.closed_periods() == [] and tracker.period.start == 0
    other.close()
    manager.track("u", HIT, now_ts=D)
    tm.commit()
    assert [e.period.key for e in heard] == ["1970-01-01"]
    manager.close()
    db.close()


# -- streaks against a brute-force count -------------------------------------

def test_streak_rule():
    state = streaks.NO_STREAK
    state = streaks.met(state, 0, 10)
    state = streaks.met(state, 10, 20)
    assert state == (2, 2, 20)
    assert streaks.current(state, 20) == 2 and streaks.current(state, 30) == 0
    state = streaks.met(state, 30, 40)
    assert state == (1, 2, 40)


@settings(max_examples=150, deadline=None)
@given(days=st.lists(st.integers(0, 3), min_size=1, max_size=40),
       hours=st.lists(st.integers(0, 23), min_size=4, max_size=4),
       target=st.integers(1, 2))
def test_streaks_match_a_brute_force_count_in_berlin(days, hours, target):
    # Items on consecutive Berlin days from 2026-03-20 (across the DST
    # change on 03-29 and past it): days[i] items on day i, at local hours.
    tracker = daily(target, tz="Europe/Berlin")
    first = date(2026, 3, 20)
    met = []
    for i, count in enumerate(days):
        day = first + timedelta(days=i)
        for hour in sorted(hours[:count]):
            local = datetime(day.year, day.month, day.day, hour, 30,
                             tzinfo=BERLIN)
            tracker.track(HIT, local.timestamp())
        met.append(min(count, len(hours)) >= target)
    runs, run = [], 0
    for flag in met:
        run = run + 1 if flag else 0
        runs.append(run)
    assert tracker.longest_streak == max(runs)
    end = datetime(first.year, first.month, first.day, 12,
                   tzinfo=BERLIN) + timedelta(days=len(days) - 1)
    # the open day counts if met; if not, the run up to yesterday is alive
    alive = runs[-1] if met[-1] else (runs[-2] if len(runs) > 1 else 0)
    assert tracker.streak_at(end.timestamp()) == alive
