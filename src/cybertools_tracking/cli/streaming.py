"""Query results as a stream, newest first, one window of time at a time.

``TrackingStorage.query`` answers with a list: for the command line that
meant reading (and holding) every match before printing the first, 20
seconds and 300 MB for 200,000 tracks on the machine of the trial. Here
the same criteria are asked for one time window after another, going
back from the newest track. Each window's answer is newest first (by
second, then id, as ``newestFirst`` orders), and the windows follow each
other without overlap, so the whole stream is in that order; printing
starts after the first window, memory holds one window, and a ``limit``
stops the reading as soon as it is reached.

Windows are sized to hold a target number of tracks: ``FIRST_TARGET``
for the first (so that printing starts soon), twice as many for each
next one up to ``TARGET`` (each query has a cost of its own: a prefix
criterion matching 40,000 combinations of task, run and user costs about
0.2 s a window, whatever it finds). A window's span is scaled by how
many it held (four times wider after an empty one, at most 64 times
wider or four times narrower). Each query is capped at twice the target: a window that held
more gives its newest ones (those of the seconds it holds completely) and
the next window starts at the second where it was cut.

The newest track is no later than the end of the newest run (a run's
``end`` follows its tracks): the first window starts there and reaches
up to the last second storable, so a track filed later still comes. The
oldest is not known: going back, windows that find nothing grow, and the
reading ends at ``--from`` or the first storable second. Known cost: a
window that grew over a long empty stretch into a dense one reads the
index entries of all its matches once (not the tracks: those stay within
the cap) before it is narrowed.

Only the storage's public ``query`` is used, with ``timeFrom``,
``timeTo``, ``newestFirst`` and ``limit``.
"""

from cybertools_tracking.validation import TIMESTAMP_MAX, TIMESTAMP_MIN

__all__ = ['newest_first']

FIRST_TARGET = 500   # tracks the first window is sized for
TARGET = 8_000       # ... and the later ones, at most
FIRST_SPAN = 3600    # seconds of the first window


def newest_first(storage, criteria, limit=None):
    """Yield the tracks of ``storage`` that meet ``criteria`` (those of
    ``TrackingStorage.query`` but ``limit`` and ``newestFirst``; none at
    all means every track), newest first, at most ``limit``.

    ``timeFrom`` and ``timeTo`` bound the windows. Raises what
    ``query`` raises for a bad criterion (a ValidationError), before
    the first track.
    """
    criteria = {name: value for name, value in criteria.items()
                if name not in ('limit', 'newestFirst', 'timeFromTo')}
    low = criteria.pop('timeFrom', None)
    high = criteria.pop('timeTo', None)
    low = TIMESTAMP_MIN if low is None else max(low, TIMESTAMP_MIN)
    high = TIMESTAMP_MAX if high is None else min(high, TIMESTAMP_MAX)
    if limit is not None and limit <= 0:
        return
    newest = max((run.end for run in storage.getRuns()), default=None)
    span = FIRST_SPAN
    top = high
    if newest is not None and newest < high:
        # The first window: the last FIRST_SPAN seconds up to the newest
        # run's end, and anything above it (nothing, in a storage whose
        # runs are right).
        span = top - max(newest - FIRST_SPAN + 1, low) + 1
    left = limit
    target = FIRST_TARGET
    while top >= low:
        bottom = max(low, top - span + 1)
        cap = 2 * target
        ask = cap if left is None else min(cap, left)
        found = storage.query(timeFrom=bottom, timeTo=top, newestFirst=True,
                              limit=ask, **criteria)
        if len(found) < ask or (left is not None and ask == left):
            # The window complete (or all that is wanted of it).
            yield from found
            if left is not None:
                left -= len(found)
                if not left:
                    return
            span = _next_span(_seconds(bottom, top, newest), len(found),
                              target)
            target = min(TARGET, 2 * target)
            top = bottom - 1
            continue
        # Cut at ``cap``: the seconds after the oldest one returned are
        # complete; that second comes again, whole, in the next window.
        oldest = found[-1].timeStamp
        complete = [track for track in found if track.timeStamp > oldest]
        if complete:
            next_top = oldest
        else:
            # More than ``cap`` tracks in one second: that second alone.
            complete = storage.query(timeFrom=oldest, timeTo=oldest,
                                     newestFirst=True, **criteria)
            next_top = oldest - 1
        if left is not None:
            complete = complete[:left]
            left -= len(complete)
        yield from complete
        if left == 0:
            return
        # As many seconds as held about TARGET of the tracks found.
        span = max(1, _seconds(oldest, top, newest) * target // len(found))
        top = next_top


def _seconds(bottom, top, newest):
    """The seconds from ``bottom`` to ``top`` that can hold tracks: none
    is later than ``newest`` (None: not known)."""
    if newest is not None:
        top = min(top, newest)
    return max(1, top - bottom + 1)


def _next_span(span, found, target):
    """The span of the next window after one of ``span`` seconds that held
    ``found`` tracks (not cut), for twice ``target`` tracks (the next
    window's target)."""
    if not found:
        return span * 4
    return max(1, min(span * 64, max(span // 4,
                                     span * 2 * target // found)))
