"""Trackers: targets, stages, reset policies, states, values, invariants."""

import decimal
import enum
import logging
import math
import pickle
from decimal import Decimal
from fractions import Fraction
from unittest import mock

import pytest
import transaction
import ZODB
import ZODB.FileStorage
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from ZODB.POSException import ConflictError
from ZODB.serialize import referencesf
from zope.interface.verify import verifyObject

from cybertools_tracking.goals.conditions import KeyExists
from cybertools_tracking.goals.conditions import KeyValueEQ
from cybertools_tracking.goals.events import EVENT_TRACKER_ALL_COMPLETED
from cybertools_tracking.goals.events import EVENT_TRACKER_RESET
from cybertools_tracking.goals.events import EVENT_TRACKER_STAGE_COMPLETED
from cybertools_tracking.goals.interfaces import ITracker
from cybertools_tracking.goals.interfaces import ITrackerSnapshot
from cybertools_tracking.goals.interfaces import TrackerAlreadyCompletedError
from cybertools_tracking.goals.interfaces import TrackerAlreadyRemovedError
from cybertools_tracking.goals.limiters import CountLimiter
from cybertools_tracking.goals.trackers import DECIMAL_DIGITS
from cybertools_tracking.goals.trackers import FLOAT_TOLERANCE
from cybertools_tracking.goals.trackers import AccumulationTracker
from cybertools_tracking.goals.trackers import CountTracker
from cybertools_tracking.goals.trackers import ResetPolicy
from cybertools_tracking.goals.trackers import _kind

HIT = {"hit": 1}
MISS = {"other": 1}


def counter(target=10, **kw):
    return CountTracker("t", [KeyExists("hit")], target, **kw)


def codes(events):
    return [e.code for e in events]


def feed(tracker, items, now_ts=0):
    out = []
    for item in items:
        out.extend(tracker.track(item, now_ts)[1])
    return out


# -- construction -------------------------------------------------------------

def test_verify_object():
    assert verifyObject(ITracker, counter())
    assert verifyObject(ITracker, AccumulationTracker("a", [], 5, key="n"))
    assert verifyObject(ITrackerSnapshot, counter().snapshot())


@pytest.mark.parametrize("target,error,message", [
    ([], ValueError, "target must not be an empty list"),
    ([3, 3], ValueError, "strictly increasing, got 3 after 3"),
    ([5, 2], ValueError, "strictly increasing, got 2 after 5"),
    (0, ValueError, "targets must be positive, got 0"),
    (float("inf"), ValueError, "target must be finite"),
    (Decimal("NaN"), ValueError, "target must be finite"),
    (Decimal("Infinity"), ValueError, "target must be finite"),
    (Decimal("sNaN"), ValueError, "target must be finite"),
    (Decimal("1.00000000000000000000000000000000001"), ValueError,
     r"must be a Decimal that fits IEEE 754 decimal128 \(34 significant"),
    (Decimal("1E+6145"), ValueError, "fits IEEE 754 decimal128"),
    (Decimal("-1.5"), ValueError, r"positive, got Decimal\('-1.5'\)"),
    ([Fraction(1, 2), Fraction(1, 3)], ValueError,
     r"got Fraction\(1, 3\) after Fraction\(1, 2\)"),
    ([1, Decimal("2.5"), 3.5], ValueError,
     "targets and init_progress mix Decimal and float; a tracker counts in "
     "one kind of number"),
    ([Fraction(1, 2), Decimal(1)], ValueError, "mix Decimal and Fraction"),
    ("10", TypeError, r"target must be a number, got '10' \(str\); "
                      "numbers are int, float, Decimal or Fraction"),
    (True, TypeError, "target must be a number, got True"),
])
def test_bad_targets(target, error, message):
    with pytest.raises(error, match=message):
        counter(target)


def test_bad_arguments():
    with pytest.raises(TypeError, match="name must be a non-empty str"):
        CountTracker("", [], 1)
    with pytest.raises(TypeError, match=r"conditions must be a list or tuple"):
        CountTracker("t", {KeyExists("a")}, 1)
    with pytest.raises(TypeError, match=r"conditions must provide ICondition, "
                                        r"got 'a' \(str\)"):
        CountTracker("t", ["a"], 1)
    with pytest.raises(TypeError, match="limiters must provide ILimiter"):
        CountTracker("t", [], 1, limiters=[3])
    limiter = CountLimiter(1)
    with pytest.raises(ValueError, match="the same limiter twice"):
        CountTracker("t", [], 1, limiters=[limiter, limiter])
    with pytest.raises(ValueError, match="reset_policy must be a ResetPolicy"):
        CountTracker("t", [], 1, reset_policy=7)
    with pytest.raises(TypeError, match="loop_forever must be a bool"):
        CountTracker("t", [], 1, loop_forever=1)
    with pytest.raises(TypeError, match="key must be a str"):
        AccumulationTracker("t", [], 1, key=None)


def test_targets_are_a_private_tuple():
    targets = [1, 2]
    tracker = counter(targets)
    targets.append(3)
    assert tracker.targets == (1, 2)
    assert tracker.multi_target == [2]


def test_reprs():
    tracker = CountTracker("Demo-1", [], 10)
    tracker.track({})
    assert repr(tracker) == "<CountTracker 'Demo-1' (target=10 progress=1)>"
    campaign = CountTracker("Camp", [], [2, 5, 9])
    feed(campaign, [{}] * 2)
    assert repr(campaign) == (
        "<CountTracker 'Camp' (target=5 stage=2/3 progress=2)>")
    done = CountTracker("Done", [], 1)
    done.track({})
    assert repr(done) == (
        "<CountTracker 'Done' (target=1 progress=1 state=completed)>")


def test_default_state_stays_out_of_the_record():
    # Attributes at their class-level default are not stored, so records
    # stay small and old pickles load with the defaults of new attributes.
    # What tracking changes sits in the tally's own record.
    tracker = counter()
    assert set(tracker.__getstate__()) == {
        "_name", "_conditions", "_targets", "_init_progress", "_tally"}
    assert set(tracker._tally.__getstate__()) == {"target", "progress"}


def test_tracking_writes_a_small_record_without_references():
    db = ZODB.DB(None)
    conn = db.open()
    tracker = CountTracker("t", [KeyValueEQ("event", "buy"),
                                 KeyValueEQ("channel", "web")], [10, 20],
                           limiters=[CountLimiter(5)])
    conn.root()["t"] = tracker
    transaction.commit()
    tracker_serial = tracker._p_serial
    tracker.track({"event": "buy", "channel": "web"})
    transaction.commit()
    # The tally and the limiter were written; the tracker was not.
    assert tracker._p_serial == tracker_serial
    assert tracker._tally._p_serial == tracker.limiters[0]._p_serial
    record, _ = db.storage.load(tracker._tally._p_oid)
    assert b"channel" not in record and len(record) < 150
    assert referencesf(record) == []
    transaction.abort()
    db.close()


def test_a_record_with_inline_progress_loads_and_is_converted():
    # Records written before the progress moved out of the tracker hold it
    # inline; such a tracker gets a tally when loaded, which is stored with
    # the tracker's next record, as soon as the tally changes.
    db = ZODB.DB(None)
    inline = {"_name": "old", "_conditions": (KeyExists("hit"),),
              "_targets": (3, 5), "_target": 3, "_progress": 1,
              "_init_progress": 0, "_group_id": "g", "_loop_forever": True}
    with mock.patch.object(CountTracker, "__getstate__",
                           lambda self: inline):
        db.open().root()["t"] = CountTracker("old", [], 1)
        transaction.commit()

    def load():
        tm = transaction.TransactionManager()
        return tm, db.open(tm).root()["t"]

    tm, tracker = load()
    assert (tracker.name, tracker.group_id, tracker.targets, tracker.progress,
            tracker.target, tracker.loop_forever, tracker.conditions) == (
        "old", "g", (3, 5), 1, 3, True, (KeyExists("hit"),))
    assert tracker._tally._p_oid is None
    tracker.track(HIT)
    tm.commit()
    tm, tracker = load()
    assert (tracker.progress, tracker.target) == (2, 3)
    assert "_progress" not in tracker.__getstate__()
    tracker.track(HIT)
    tm.commit()
    tm, tracker = load()
    assert (tracker.progress, tracker.current_stage) == (3, 2)
    db.close()


def test_old_record_without_new_attributes_loads():
    tracker = CountTracker.__new__(CountTracker)
    tracker.__setstate__({"_name": "old", "_targets": (3,), "_target": 3})
    assert tracker.state == "active" and tracker.progress == 0
    assert tracker.reset_policy == ResetPolicy.LIMITER
    tracker.track({})
    assert tracker.progress == 1


def test_pickle_round_trip():
    tracker = CountTracker("p", [KeyValueEQ("a.b", 1)], [2, 4],
                           limiters=[CountLimiter(3)])
    tracker.track({"a": {"b": 1}})
    loaded = pickle.loads(pickle.dumps(tracker))
    assert repr(loaded) == repr(tracker)
    assert loaded.conditions == tracker.conditions
    assert loaded.limiters[0].remaining == 2


# -- counting -----------------------------------------------------------------

def test_count_tracker_counts_matching_items_only():
    tracker = counter()
    assert tracker.track(HIT) == (True, ())
    assert tracker.track(MISS) == (False, ())
    assert tracker.progress == 1
    assert tracker.matches(HIT) and not tracker.matches(MISS)


def test_no_conditions_match_everything():
    tracker = CountTracker("t", [], 3)
    feed(tracker, [{}, {"x": 1}])
    assert tracker.progress == 2


def test_init_progress():
    tracker = counter(5, init_progress=3)
    assert tracker.progress == 3 and tracker.init_progress == 3
    feed(tracker, [HIT, HIT])
    assert tracker.completed
    with pytest.raises(TypeError, match="init_progress must be a number"):
        counter(init_progress="3")


def test_completion_keeps_time_and_stops_evaluation():
    tracker = counter(2)
    events = feed(tracker, [HIT, HIT], now_ts=1234)
    assert codes(events) == [EVENT_TRACKER_ALL_COMPLETED]
    assert tracker.completed and tracker.completed_at == 1234
    assert events[0].tracker.completed and events[0].tracker.progress == 2
    with pytest.raises(TrackerAlreadyCompletedError,
                       match="cannot track tracker 't' in group None: "
                             "it is completed"):
        tracker.track(HIT)
    with pytest.raises(TrackerAlreadyCompletedError):
        tracker.reset()
    with pytest.raises(TrackerAlreadyCompletedError):
        tracker.add_targets(20)


def test_removed_tracker_refuses_changes():
    tracker = counter()
    tracker._set_removed()
    assert tracker.state == "removed" and tracker.removed
    for operation in (lambda: tracker.track(HIT), tracker.reset,
                      lambda: tracker.add_targets(20)):
        with pytest.raises(TrackerAlreadyRemovedError, match="was removed"):
            operation()


# -- accumulation -------------------------------------------------------------

@pytest.mark.parametrize("value,added", [
    (5, 5), (2.5, 2.5), ("7", 7), ("1.5", 1.5), (-2, -2), (None, 0),
])
def test_accumulation_values(value, added):
    tracker = AccumulationTracker("a", [], 100, key="order.total")
    tracker.track({"order": {"total": value}})
    assert tracker.progress == added


def test_accumulation_missing_key_adds_nothing():
    tracker = AccumulationTracker("a", [], 100, key="n")
    assert tracker.track({}) == (True, ())  # it matched, nothing to add
    assert tracker.progress == 0


@pytest.mark.parametrize("value", [
    float("nan"), float("inf"), "-inf", "nan", "abc", [1], {"a": 1}, True,
    Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Inf"),
    "1/3", b"1", 1j])
def test_accumulation_rejects_bad_values_with_a_warning(value, caplog):
    tracker = AccumulationTracker("a", [], 100, key="n", group_id="g")
    with caplog.at_level(logging.WARNING, "cybertools_tracking.goals"):
        tracker.track({"n": value})
    assert tracker.progress == 0
    assert "tracker 'a' of group 'g'" in caplog.text
    assert "nothing added" in caplog.text


def test_accumulation_completes_when_sum_reaches_target():
    tracker = AccumulationTracker("spend", [KeyValueEQ("kind", "buy")], 100,
                                  key="amount")
    feed(tracker, [{"kind": "buy", "amount": 60}, {"kind": "sell",
                                                   "amount": 60},
                   {"kind": "buy", "amount": "40"}])
    assert tracker.completed and tracker.progress == 100


def test_accumulation_key_survives_pickling():
    tracker = AccumulationTracker("a", [], 100, key=r"x\.y")
    loaded = pickle.loads(pickle.dumps(tracker))
    loaded.track({"x.y": 3})
    assert loaded.progress == 3 and loaded.key == r"x\.y"


def test_accumulation_on_negative_paths(caplog):
    tracker = AccumulationTracker("last", [], 100, key="items.-1.price")
    feed(tracker, [{"items": [{"price": 5}, {"price": 7}]},
                   {"items": [{"price": 2}]}])
    assert tracker.progress == 9
    # An index out of range is missing: nothing added, nothing logged.
    with caplog.at_level(logging.WARNING, "cybertools_tracking.goals"):
        feed(tracker, [{"items": []}, {"items": [{"price": 1}] * 2,
                                       "other": 1}])
        tracker2 = AccumulationTracker("2nd-last", [], 100,
                                       key="items.-3.price")
        feed(tracker2, [{"items": [{"price": 1}] * 2}])
    assert tracker.progress == 10 and tracker2.progress == 0
    assert not caplog.records


# -- numbers ------------------------------------------------------------------

def accumulate(target, amounts, **kw):
    tracker = AccumulationTracker("n", [], target, key="n", group_id="g",
                                  **kw)
    feed(tracker, [{"n": amount} for amount in amounts])
    return tracker


def test_decimal_money_stays_exact():
    tracker = accumulate(Decimal("100.00"), [Decimal("19.99")] * 5)
    assert tracker.progress == Decimal("99.95")
    assert type(tracker.progress) is Decimal and tracker.active
    feed(tracker, [{"n": Decimal("0.05")}])
    assert tracker.completed and tracker.progress == Decimal("100.00")
    assert str(tracker.progress) == "100.00"


def test_decimal_amounts_on_an_int_target():
    tracker = accumulate(1, [Decimal("0.10")] * 3)
    assert tracker.progress == Decimal("0.30")
    assert type(tracker.progress) is Decimal
    feed(tracker, [{"n": Decimal("0.70")}])
    assert tracker.completed and tracker.progress == 1


def test_fraction_plus_int_stays_fraction():
    tracker = accumulate(3, [Fraction(1, 3), 1])
    assert tracker.progress == Fraction(4, 3)
    assert type(tracker.progress) is Fraction
    feed(tracker, [{"n": Fraction(1, 3)}, {"n": Fraction(4, 3)}])
    assert tracker.completed and tracker.progress == 3
    thirds = accumulate(Fraction(1), [Fraction(1, 3)] * 3)
    assert thirds.completed and thirds.progress == 1


def test_decimal_sums_ignore_the_threads_context():
    with decimal.localcontext() as context:
        context.prec = 3
        context.traps[decimal.Inexact] = True
        tracker = accumulate(Decimal("1000000"), [Decimal("123.45"),
                                                  Decimal("0.01"), 5])
    assert tracker.progress == Decimal("128.46")


# The number rule of ITracker, one row per kind the targets fix: amounts
# offered in this order, the progress they make, and how many are refused.
D, F = Decimal, Fraction


@pytest.mark.parametrize("target,amounts,progress,refused", [
    # Decimal: ints, Decimals, strings (as Decimals), exact Fractions.
    (D("100"), [D("1.5"), 2, F(1, 4), F(1, 3), 0.5, "0.25", "1/3"],
     D("4.00"), 3),
    # Fraction: ints, Fractions, Decimals, strings (as Fractions).
    (F(100), [F(1, 3), D("0.5"), 1, "1/6", "0.5", 0.5], F(5, 2), 1),
    # float: everything, as floats.
    (100.0, [0.5, D("0.25"), F(1, 4), 1, "0.5", "2"], 4.5, 0),
    # Targets of ints: the first amount that is not an int decides.
    (100, [2, D("0.1"), 0.1, F(1, 2), "0.2", 1], D("3.8"), 1),
    (100, [F(1, 3), D("0.1"), 0.1, "1/6", 1], F(8, 5), 1),
    (100, [0.5, D("0.25"), F(1, 4), "1/4", "0.5"], 1.5, 1),
    (100, [1, "2", "0.5"], 3.5, 0),
])
def test_how_kinds_combine(target, amounts, progress, refused, caplog):
    with caplog.at_level(logging.WARNING, "cybertools_tracking.goals"):
        tracker = accumulate(target, amounts)
    assert tracker.progress == progress
    assert type(tracker.progress) is type(progress)
    assert len(caplog.records) == refused


def test_refusals_say_why(caplog):
    with caplog.at_level(logging.WARNING, "cybertools_tracking.goals"):
        accumulate(D("10"), [0.5, F(1, 3)])
        accumulate(F(10), [0.5])
    assert [r.getMessage() for r in caplog.records] == [
        "tracker 'n' of group 'g': value 0.5 at key 'n' is a float; the "
        "tracker counts in Decimal, exactly; nothing added",
        "tracker 'n' of group 'g': value Fraction(1, 3) at key 'n' has no "
        "exact Decimal of at most 34 digits; nothing added",
        "tracker 'n' of group 'g': value 0.5 at key 'n' is a float; the "
        "tracker counts in Fraction, exactly; nothing added"]


def test_decimal_sums_beyond_34_digits_are_refused_not_rounded(caplog):
    with caplog.at_level(logging.WARNING, "cybertools_tracking.goals"):
        tracker = accumulate(D("1E+40"), [D("1E+29"), D("0.000001"), 5])
        huge = accumulate(D("9.9E+6144"), [D("5E+6144"), D("5E+6144")])
    assert tracker.progress == D("100000000000000000000000000005")
    assert huge.progress == D("5E+6144")
    reasons = [r.getMessage().split(" at key 'n' ")[1]
               for r in caplog.records]
    assert reasons == ["would make a sum beyond IEEE 754 decimal128 (%d "
                       "significant digits, exponents up to 6144); nothing "
                       "added" % DECIMAL_DIGITS] * 2
    # 34 digits fit.
    tracker = accumulate(D("1E+40"), [D("1E+31"), D("0.01")])
    assert tracker.progress == D("10000000000000000000000000000000.01")


def test_init_progress_fixes_the_kind_too():
    tracker = accumulate(10, [0.5, D("1")], init_progress=D("0.5"))
    assert tracker.progress == D("1.5")
    count = CountTracker("c", [], 3, init_progress=D("0.5"))
    feed(count, [{}, {}])
    assert count.progress == D("2.5") and type(count.progress) is D
    with pytest.raises(ValueError, match="mix Decimal and float"):
        accumulate(D("10"), [], init_progress=0.5)
    with pytest.raises(ValueError, match="init_progress must be finite"):
        accumulate(10, [], init_progress=D("NaN"))


def test_add_targets_keeps_one_kind():
    money = accumulate(D("10"), [D("4")])
    with pytest.raises(ValueError, match="targets and progress mix Decimal "
                                         "and float"):
        money.add_targets(20.5)
    money.add_targets(20, D("30.5"))
    assert money.targets == (D("10"), 20, D("30.5"))
    # A tracker of int targets whose progress took a kind keeps it ...
    floats = accumulate(10, [0.5])
    with pytest.raises(ValueError, match="mix Decimal and float"):
        floats.add_targets(D("20"))
    assert floats.targets == (10,)
    # ... and one whose progress is still an int takes the new targets'.
    ints = accumulate(10, [1])
    ints.add_targets(D("20.5"))
    feed(ints, [{"n": 0.5}, {"n": "0.5"}])
    assert ints.progress == D("1.5")


def test_number_subclasses_are_stored_as_plain_numbers():
    class Level(enum.IntEnum):
        HIGH = 3

    class Metres(float):
        pass

    tracker = AccumulationTracker("n", [], [Level.HIGH, Metres(7.5)], key="n",
                                  init_progress=Level.HIGH)
    assert [type(t) for t in tracker.targets] == [int, float]
    assert type(tracker.init_progress) is int
    feed(tracker, [{"n": Level.HIGH}, {"n": Metres(0.5)}])
    assert tracker.progress == 6.5 and type(tracker.progress) is float


def test_float_rounding_reaches_the_target():
    assert 0.7 + 0.1 < 0.8
    tracker = accumulate(0.8, [0.7, 0.1])
    assert tracker.completed and tracker.progress == 0.7 + 0.1
    tenths = accumulate(1, [0.1] * 10)  # 0.9999999999999999, int target
    assert tenths.completed
    assert not accumulate(0.8, [0.7]).completed


def test_float_tolerance_is_relative_and_small():
    assert FLOAT_TOLERANCE == 1e-9
    assert accumulate(1.0, [1 - 1e-10]).completed
    assert not accumulate(1.0, [1 - 1e-8]).completed
    assert accumulate(1e12, [1e12 - 1e2]).completed
    assert not accumulate(1e12, [1e12 - 1e4]).completed
    # No absolute tolerance: a tiny target is not reached at 0.
    assert not accumulate(1e-300, [0.0, 1e-301]).completed
    # An int target beyond the range of floats is compared, not an error.
    assert not accumulate(10 ** 400, [0.5]).completed
    # Counting items against a float target.
    items = CountTracker("c", [], 2 + 1e-10)
    assert codes(feed(items, [{}, {}])) == [EVENT_TRACKER_ALL_COMPLETED]
    tenths = CountTracker("c", [], [1.1, 2.1], init_progress=0.1)
    feed(tenths, [{}, {}])
    assert tenths.completed and tenths.progress == 2.1


def test_exact_kinds_compare_exactly():
    assert not accumulate(D("0.8"), [D("0.7999999999999999")]).completed
    assert not accumulate(1, [F(999999999999, 10 ** 12)]).completed
    assert not accumulate(10 ** 12, [10 ** 12 - 1]).completed
    assert accumulate(F(4, 5), [F(7, 10), F(1, 10)]).completed


def test_float_stages_and_laps_follow_the_tolerance():
    tracker = accumulate([0.5, 1.0], [0.1] * 9)
    assert tracker.current_stage == 2 and tracker.active
    events = feed(tracker, [{"n": 0.1}])  # progress 0.9999999999999999
    assert codes(events) == [EVENT_TRACKER_ALL_COMPLETED]
    laps = accumulate(0.8, [], loop_forever=True)
    completions = [codes(feed(laps, [{"n": n}])).count(
        EVENT_TRACKER_STAGE_COMPLETED) for n in [0.7, 0.1] * 3]
    assert completions == [0, 1] * 3
    assert laps.laps == 3
    assert math.isclose(laps.progress, 2.4) and math.isclose(laps.target, 3.2)


def test_decimal_laps_stay_exact():
    laps = accumulate(D("0.10"), [D("0.05")] * 6, loop_forever=True)
    assert (laps.laps, laps.target, laps.progress) == (3, D("0.40"),
                                                       D("0.30"))
    assert type(laps.target) is D


def test_numbers_survive_a_file_storage(tmp_path):
    path = str(tmp_path / "numbers.fs")
    db = ZODB.DB(ZODB.FileStorage.FileStorage(path))
    with db.transaction() as conn:
        conn.root()["money"] = accumulate(D("100.00"), [D("19.99"), "0.01"])
        conn.root()["thirds"] = accumulate([F(1), F(2)], [F(1, 3)])
        conn.root()["km"] = accumulate([0.8, 1.6], [0.7])
    db.close()

    db = ZODB.DB(ZODB.FileStorage.FileStorage(path))
    with db.transaction() as conn:
        money, thirds, km = (conn.root()[name]
                             for name in ("money", "thirds", "km"))
        assert (money.progress, money.targets) == (D("20.00"), (D("100.00"),))
        assert type(money.progress) is D
        assert (thirds.progress, thirds.targets) == (F(1, 3), (1, 2))
        assert type(thirds.progress) is F and type(thirds.targets[0]) is F
        # The kind is worked out again after loading: floats still refused.
        feed(money, [{"n": 0.5}, {"n": D("80.00")}])
        feed(thirds, [{"n": 0.5}, {"n": F(2, 3)}])
        feed(km, [{"n": 0.1}])
    db.close()

    db = ZODB.DB(ZODB.FileStorage.FileStorage(path))
    conn = db.open()
    money, thirds, km = (conn.root()[name]
                         for name in ("money", "thirds", "km"))
    assert money.completed and money.progress == D("100.00")
    assert thirds.current_stage == 2 and thirds.progress == 1
    assert km.current_stage == 2 and km.progress == 0.7 + 0.1
    record, _ = db.storage.load(money._tally._p_oid)
    assert referencesf(record) == []
    conn.close()
    db.close()


# AccumulationTracker._add has fast paths for ints and floats; they must
# give what the general path (_number, then _plus) gives, type included.
finite_decimals = st.decimals(min_value=-10 ** 6, max_value=10 ** 6, places=3)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
progress_of_kind = {
    int: st.integers(),
    float: st.integers() | finite_floats,
    D: st.integers(-10 ** 20, 10 ** 20) | finite_decimals,
    F: st.integers() | st.fractions(),
}


@settings(max_examples=300, deadline=None)
@given(target=st.sampled_from([10, 10.5, D("10.5"), F(21, 2)]),
       value=(st.none() | st.booleans() | st.integers() | st.floats()
              | st.decimals() | st.fractions()
              | st.sampled_from(["1", "0.5", "1/3", "x", "nan", "1e999"])),
       data=st.data())
def test_fast_paths_agree_with_the_number_rule(target, value, data):
    tracker = AccumulationTracker("t", [], target, key="n")
    kind = tracker._kind()
    progress = data.draw(progress_of_kind[kind or data.draw(
        st.sampled_from([int, float, D, F]))])
    with mock.patch.object(logging.Logger, "warning"):
        fast = tracker._add(progress, {"n": value})
        amount = (None if value is None
                  else tracker._number(value, kind or _kind(progress)))
        slow = None if amount is None else tracker._plus(progress, amount,
                                                         value)
    assert type(fast) is type(slow) and fast == slow


# Properties of float sums.  Amounts are whole cents, as floats; the exact
# (decimal) sum of a list is computed with Decimals.  With at most 20
# amounts of at most 10,000.00, every partial sum is below the next by at
# least 0.01, which is more than 10 times FLOAT_TOLERANCE of any sum of
# four such lists; the float rounding is some 1e-14 of the sum at most.

cents = st.lists(st.integers(1, 1_000_000), min_size=1, max_size=20)


def exact_sum(amounts):
    return sum(Decimal(k) / 100 for k in amounts)


def as_floats(amounts):
    return [{"n": k / 100} for k in amounts]


@settings(max_examples=200, deadline=None)
@given(amounts=cents)
def test_floats_that_add_up_to_the_target_reach_it(amounts):
    tracker = AccumulationTracker("t", [], float(exact_sum(amounts)), key="n")
    reached = [codes(tracker.track(item)[1]) for item in as_floats(amounts)]
    assert reached == [[]] * (len(amounts) - 1) + [
        [EVENT_TRACKER_ALL_COMPLETED]]


@settings(max_examples=200, deadline=None)
@given(amounts=cents, short=st.integers(1, 1_000_000))
def test_floats_clearly_below_the_target_do_not_reach_it(amounts, short):
    target = float(exact_sum(amounts) + Decimal(short) / 100)
    tracker = AccumulationTracker("t", [], target, key="n")
    feed(tracker, as_floats(amounts))
    assert tracker.active and tracker.progress < target


@settings(max_examples=150, deadline=None)
@given(amounts=cents, data=st.data())
def test_float_stages_complete_where_the_exact_sums_say(amounts, data):
    ends = sorted(data.draw(st.sets(st.integers(0, len(amounts) - 1),
                                    min_size=1)))
    targets = [float(exact_sum(amounts[:end + 1])) for end in ends]
    tracker = AccumulationTracker("t", [], targets, key="n")
    completed_at = [i for i, item in enumerate(as_floats(amounts))
                    if i <= ends[-1] and tracker.track(item)[1]]
    assert completed_at == ends and tracker.completed


@settings(max_examples=150, deadline=None)
@given(amounts=cents, rounds=st.integers(1, 4))
def test_float_laps_complete_where_the_exact_sums_say(amounts, rounds):
    lap = float(exact_sum(amounts))
    tracker = AccumulationTracker("t", [], lap, key="n", loop_forever=True)
    completed_at = [i for i, item in enumerate(as_floats(amounts) * rounds)
                    if tracker.track(item)[1]]
    assert completed_at == [len(amounts) * r - 1
                            for r in range(1, rounds + 1)]
    assert tracker.laps == rounds


@settings(max_examples=100, deadline=None)
@given(amounts=cents)
def test_decimal_sums_are_the_exact_sums(amounts):
    total = exact_sum(amounts)
    tracker = AccumulationTracker("t", [], total, key="n")
    feed(tracker, [{"n": Decimal(k) / 100} for k in amounts])
    assert tracker.completed and tracker.progress == total


# -- stages -------------------------------------------------------------------

def test_stages_are_cumulative_by_default():
    tracker = counter([2, 5])
    events = feed(tracker, [HIT] * 2)
    assert codes(events) == [EVENT_TRACKER_RESET, EVENT_TRACKER_STAGE_COMPLETED]
    stage = events[1].tracker
    assert (stage.current_stage, stage.target, stage.progress) == (1, 2, 2)
    assert (tracker.current_stage, tracker.target, tracker.progress) == (2, 5,
                                                                         2)
    events = feed(tracker, [HIT] * 3)
    assert codes(events) == [EVENT_TRACKER_ALL_COMPLETED]
    assert tracker.completed and tracker.progress == 5


def test_progress_policy_counts_each_stage_from_zero():
    tracker = counter([2, 3], reset_policy=ResetPolicy.PROGRESS)
    feed(tracker, [HIT] * 2)
    assert tracker.progress == 0 and tracker.current_stage == 2
    feed(tracker, [HIT] * 2)
    assert not tracker.completed
    feed(tracker, [HIT])
    assert tracker.completed


def test_at_most_one_stage_per_item():
    tracker = AccumulationTracker("a", [], [10, 20, 30], key="n")
    events = feed(tracker, [{"n": 100}])
    assert codes(events).count(EVENT_TRACKER_STAGE_COMPLETED) == 1
    assert tracker.current_stage == 2
    feed(tracker, [{"n": 0}])
    assert tracker.current_stage == 3
    events = feed(tracker, [{"n": 0}])
    assert codes(events) == [EVENT_TRACKER_ALL_COMPLETED]


def test_loop_forever_repeats_the_last_target():
    tracker = counter([2, 3], loop_forever=True)
    events = feed(tracker, [HIT] * 9)
    assert codes(events).count(EVENT_TRACKER_STAGE_COMPLETED) == 4  # 2 3 6 9
    assert EVENT_TRACKER_ALL_COMPLETED not in codes(events)
    assert tracker.target == 12 and tracker.current_stage == 2


def test_loop_forever_with_progress_policy():
    tracker = counter(3, loop_forever=True,
                      reset_policy=ResetPolicy.PROGRESS)
    events = feed(tracker, [HIT] * 7)
    assert codes(events).count(EVENT_TRACKER_STAGE_COMPLETED) == 2
    assert tracker.progress == 1 and tracker.target == 3


def test_loop_forever_can_be_switched_on():
    tracker = counter(1)
    tracker.loop_forever = True
    feed(tracker, [HIT] * 3)
    assert not tracker.completed
    with pytest.raises(TypeError):
        tracker.loop_forever = "yes"


def test_add_targets():
    tracker = counter(2)
    tracker.add_targets(4, 6)
    tracker.add_targets([8])
    assert tracker.targets == (2, 4, 6, 8)
    with pytest.raises(ValueError, match="got 8 after 8"):
        tracker.add_targets(8)
    feed(tracker, [HIT] * 8)
    assert tracker.completed


def test_add_targets_after_laps_must_pass_the_current_target():
    tracker = counter(2, loop_forever=True)
    feed(tracker, [HIT] * 4)
    assert tracker.target == 6
    with pytest.raises(ValueError, match="got 5 after 6"):
        tracker.add_targets(5)


# -- reset --------------------------------------------------------------------

def test_reset_follows_the_policy():
    tracker = counter(10, limiters=[CountLimiter(2)])
    feed(tracker, [HIT] * 2)
    assert tracker.limited and tracker.progress == 2
    events = tracker.reset()  # LIMITER by default
    assert codes(events) == [EVENT_TRACKER_RESET]
    assert tracker.active and tracker.progress == 2
    tracker.reset(ResetPolicy.PROGRESS)
    assert tracker.progress == 0
    tracker.reset(ResetPolicy.NONE)
    with pytest.raises(ValueError, match="got 9"):
        tracker.reset(9)


def test_progress_reset_in_a_lap_restarts_the_lap():
    tracker = counter(2, loop_forever=True)
    feed(tracker, [HIT] * 5)
    assert tracker.target == 6
    tracker.reset(ResetPolicy.ALL)
    assert (tracker.progress, tracker.target) == (0, 2)


def test_reset_policy_property():
    tracker = counter()
    tracker.reset_policy = ResetPolicy.PROGRESS | ResetPolicy.LIMITER
    assert tracker.reset_policy is ResetPolicy.ALL
    tracker.reset_policy = 0
    assert tracker.reset_policy == ResetPolicy.NONE


def test_snapshot_is_detached():
    tracker = counter(5, limiters=[CountLimiter(9)])
    tracker.track(HIT)
    snap = tracker.snapshot()
    tracker.track(HIT)
    assert snap.progress == 1 and tracker.progress == 2
    assert snap.limiters[0].remaining == 8
    assert snap.limiters[0] is not tracker.limiters[0]
    assert snap.limiters[0]._p_jar is None
    assert repr(snap) == "<CountTracker 't' (target=5 progress=1)>"
    assert snap.kind == "CountTracker" and snap.active


# -- invariants ---------------------------------------------------------------

items = st.lists(st.fixed_dictionaries(
    {}, optional={"hit": st.integers(0, 3), "n": st.integers(-5, 20)}),
    max_size=40)


@settings(max_examples=120, deadline=None)
@given(items=items,
       targets=st.lists(st.integers(1, 15), min_size=1, max_size=4,
                        unique=True).map(sorted),
       loop=st.booleans(),
       policy=st.sampled_from(list(ResetPolicy)))
def test_invariants(items, targets, loop, policy):
    tracker = AccumulationTracker("t", [KeyExists("hit")], targets, key="n",
                                  loop_forever=loop, reset_policy=policy)
    counted = 0
    stages_seen = []
    for item in items:
        if tracker.completed:
            break
        before = (tracker.progress, tracker.current_stage, tracker.target,
                  tracker.state, tracker.laps)
        changed, events = tracker.track(item)
        matched = "hit" in item
        assert changed == matched
        counted += item.get("n", 0) if matched else 0
        kinds = codes(events)
        # no event without its state change
        if not matched:
            assert not events and before == (
                tracker.progress, tracker.current_stage, tracker.target,
                tracker.state, tracker.laps)
        if EVENT_TRACKER_ALL_COMPLETED in kinds:
            assert tracker.completed and kinds == [EVENT_TRACKER_ALL_COMPLETED]
        if EVENT_TRACKER_STAGE_COMPLETED in kinds:
            assert kinds == [EVENT_TRACKER_RESET,
                             EVENT_TRACKER_STAGE_COMPLETED]
            assert (tracker.current_stage, tracker.laps) != (
                before[1], before[4])
            stages_seen.append(events[-1].tracker.current_stage)
        if not events:
            assert tracker.current_stage == before[1]
        if policy & ResetPolicy.PROGRESS:
            if not events:
                assert tracker.progress == before[0] + (
                    item.get("n", 0) if matched else 0)
        else:
            # progress carries: it is the sum over the matching items
            assert tracker.progress == counted
    # stages complete in order, each at most once before the laps
    assert stages_seen == sorted(stages_seen)
    assert len(set(stages_seen[:len(targets) - 1])) == len(
        stages_seen[:len(targets) - 1])
    assert not math.isnan(tracker.progress)


# -- concurrency --------------------------------------------------------------

@pytest.mark.parametrize("change", [
    lambda t: t.add_targets(50),
    lambda t: setattr(t, "loop_forever", True),
    lambda t: setattr(t, "reset_policy", ResetPolicy.ALL)])
def test_changing_a_setting_conflicts_with_concurrent_tracking(change):
    # The settings live in the tracker's record, the progress in the
    # tally's; a change of settings writes the tally too, so that it
    # conflicts with a transaction that tracked against the old settings.
    db = ZODB.DB(None)
    with db.transaction() as conn:
        conn.root()["t"] = counter([2, 3])
    tm1 = transaction.TransactionManager()
    tm2 = transaction.TransactionManager()
    first, second = db.open(tm1).root()["t"], db.open(tm2).root()["t"]
    second.track(HIT)
    tm2.commit()
    change(first)
    with pytest.raises(ConflictError):
        tm1.commit()
    tm1.abort()
    db.close()
