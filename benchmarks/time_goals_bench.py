"""Per-item cost of time-based goals against a plain count (issue 12).

``.venv/bin/python benchmarks/time_goals_bench.py [--items N] [--rounds R]``

One group holds one tracker; N items, one a minute (so a daily period
rolls over every 1,440 items), all matching, are fed through
``TrackingManager.track`` with the item's time.  The trackers never
complete (targets beyond reach), so every item is evaluated.  Sides:

``count``     ``CountTracker``: the baseline;
``window``    ``WindowTracker``, 50 items in 45 minutes: the window holds
              45, so each item re-sorts and rewrites 45 kept times;
``period``    ``PeriodTracker``, daily in Europe/Berlin, with history;
``sequence``  ``SequenceTracker``, two steps alternating, per run;
``sliding``   ``CountTracker`` with a ``SlidingWindowLimiter`` (10,000 an
              hour, never refusing).

The trackers live in a FileStorage in a temporary directory under
``benchmarks/var/``; the run commits every 1,000 items, and the commit is
timed with the items, so each side pays for the records it writes.  Each
side runs in rounds, the sides in turns (order reversed every other round);
the best round counts.  Reported: µs per item and the ratio to ``count``
of the same round set.  Only ratios within one run mean anything on a
shared machine.
"""

import argparse
import datetime
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
VAR = os.path.join(HERE, "var")
sys.path.insert(0, os.path.join(HERE, "..", "src"))

import transaction  # noqa: E402
import ZODB  # noqa: E402
from ZODB.FileStorage import FileStorage  # noqa: E402

from goals_bench import machine  # noqa: E402  (this directory)
from cybertools_tracking.goals import (  # noqa: E402
    CountTracker, KeyValueEQ, PeriodTracker, SequenceTracker,
    SlidingWindowLimiter, TrackingManager, WindowTracker)

START = 1798412400  # 2026-12-28 00:00 Berlin: the week of 2026-W53
BIG = 10 ** 9


def make(side):
    match = [KeyValueEQ("event", "x")]
    if side == "count":
        return CountTracker("t", match, BIG)
    if side == "window":
        return WindowTracker("t", match, 50, window=45 * 60)
    if side == "period":
        return PeriodTracker("t", match, BIG, period="daily",
                             tz="Europe/Berlin")
    if side == "sequence":
        return SequenceTracker("t", [KeyValueEQ("step", 0),
                                     KeyValueEQ("step", 1)], BIG,
                               conditions=match, per="runId")
    if side == "sliding":
        return CountTracker("t", match, BIG,
                            limiters=[SlidingWindowLimiter(10000, 3600)])
    raise ValueError(side)


SIDES = ("count", "window", "period", "sequence", "sliding")


def items(n):
    return [({"event": "x", "step": i % 2, "runId": i // 2 % 50},
             START + 60 * i) for i in range(n)]


def run_side(side, stream, directory):
    path = os.path.join(directory, "%s.fs" % side)
    db = ZODB.DB(FileStorage(path))
    tm = transaction.TransactionManager()
    manager = TrackingManager(db, transaction_manager=tm)
    manager.add_tracker("g", make(side))
    tm.commit()
    track = manager.track
    began = time.perf_counter()
    for n, (data, now) in enumerate(stream, 1):
        track("g", data, now)
        if n % 1000 == 0:
            tm.commit()
    tm.commit()
    elapsed = time.perf_counter() - began
    tracker, = manager.get_trackers("g", include_completed=True,
                                    now_ts=stream[-1][1])
    assert not tracker.completed, tracker
    check = tracker.progress
    manager.close()
    db.close()
    return elapsed / len(stream) * 1e6, check


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sides", nargs="*", default=list(SIDES))
    args = parser.parse_args(argv)
    os.makedirs(VAR, exist_ok=True)
    directory = tempfile.mkdtemp(prefix="time-goals-", dir=VAR)
    stream = items(args.items)
    best, checks = {}, {}
    try:
        for round_ in range(args.rounds):
            order = args.sides if round_ % 2 == 0 else args.sides[::-1]
            for side in order:
                us, check = run_side(side, stream, directory)
                best[side] = min(best.get(side, us), us)
                checks[side] = check
                for name in os.listdir(directory):  # .fs, .index, .lock
                    os.remove(os.path.join(directory, name))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print("%s; %s UTC; load %s" % (
        machine(), datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"),
        " ".join("%.1f" % x for x in os.getloadavg())))
    print("items %d, rounds %d, commit every 1,000, best round" % (
        args.items, args.rounds))
    base = best.get("count")
    print("| side | µs/item | ratio to count | final progress |")
    print("|---|---|---|---|")
    for side in args.sides:
        ratio = "%.2fx" % (best[side] / base) if base else "-"
        print("| %s | %.1f | %s | %s |" % (side, best[side], ratio,
                                          checks[side]))


if __name__ == "__main__":
    main()
