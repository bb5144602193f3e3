"""The dashboard: one HTML page, its charts drawn here as SVG.

The page (``static/dashboard.html``) shows the charts of the storage's
most recent day of tracks (the 24 hours up to the newest track, so a
storage of old tracks shows them too), the runs, each goal's progress and
completions, and a live feed of events over SSE from ``/events``; its
script reloads the charts every few seconds. Nothing is fetched from the
internet and nothing is built.
"""

import collections
import time
from importlib import resources
from string import Template

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from cybertools_tracking.web import charts, units
from cybertools_tracking.web.api_tracks import EARLIEST
from cybertools_tracking.web.deps import reader

__all__ = ['router', 'collect', 'render_charts']

router = APIRouter(tags=['dashboard'])
HOURS = 24
MAX_TRACKS = 50_000     # the newest tracks of the day that are counted
MAX_GROUPS = 5_000      # goal groups looked at
MAX_RUNS = 15
TASKS_SHOWN = 8


def _page_template():
    return Template(resources.files('cybertools_tracking.web').joinpath(
        'static', 'dashboard.html').read_text(encoding='utf-8'))


def collect(storage, hours=HOURS):
    """What the charts show, as plain data (see ``render_charts``)."""
    newest = storage.query(timeFrom=EARLIEST, newestFirst=True, limit=1)
    end = newest[0].timeStamp if newest else time.time()
    start = end - hours * 3600
    tracks = storage.query(timeFrom=start, timeTo=end, newestFirst=True,
                           limit=MAX_TRACKS) if newest else []
    first_hour = int(start // 3600) + 1
    labels = [time.strftime('%H:00', time.gmtime((first_hour + i) * 3600))
              for i in range(hours)]
    per_task = collections.defaultdict(lambda: [0] * hours)
    users = [set() for _ in range(hours)]
    for track in tracks:
        slot = min(max(int(track.timeStamp // 3600) - first_hour, 0),
                   hours - 1)
        per_task[track.taskId][slot] += 1
        users[slot].add(track.userName)
    busiest = sorted(per_task, key=lambda task: -sum(per_task[task]))
    runs = sorted(storage.getRuns(), key=lambda run: run.id)[-MAX_RUNS:]
    return {
        'start': start, 'end': end, 'hours': labels,
        'tracks_per_task': {task: per_task[task]
                            for task in busiest[:TASKS_SHOWN]},
        'active_users': [len(names) for names in users],
        'runs': [('run %d %s' % (run.id, run.taskId or ''), run.start,
                  run.end, run.finished) for run in runs],
        'goals': _goals(storage),
        'stats': {'tracks': len(storage), 'tasks': len(storage.getTaskIds()),
                  'runs': len(storage.getRuns()),
                  'events': storage.events.last_position()},
    }


def _goals(storage):
    """(name, mean progress toward the last target, completed, total) per
    tracker name, over the groups."""
    registry = storage.goals.registry
    if registry is None:
        return []
    totals = collections.defaultdict(lambda: [0.0, 0, 0])
    for count, group in enumerate(registry.groups.keys()):
        if count == MAX_GROUPS:
            break
        for tracker in storage.goals.get_trackers(group,
                                                  include_completed=True):
            final = tracker.targets[-1]
            row = totals[tracker.name]
            row[0] += (1.0 if tracker.completed else
                       min(float(tracker.progress) / float(final), 1.0)
                       if final else 0.0)
            row[1] += bool(tracker.completed)
            row[2] += 1
    return [(name, total / n, done, n)
            for name, (total, done, n) in sorted(totals.items())]


def render_charts(data):
    """The charts of ``collect``'s data, as one HTML fragment."""
    when = time.strftime('%Y-%m-%d %H:%M', time.gmtime(data['end']))
    return '\n'.join([
        '<p class="stats" data-tracks="%d">%d tracks, %d tasks, %d runs; '
        'the 24 hours up to %s UTC</p>' % (
            data['stats']['tracks'], data['stats']['tracks'],
            data['stats']['tasks'], data['stats']['runs'], when),
        charts.line_chart('tracks-per-hour', 'Tracks per hour, per task',
                          data['hours'], data['tracks_per_task']),
        charts.bar_chart('active-users', 'Active users per hour',
                         data['hours'], data['active_users']),
        charts.timeline('runs', 'Runs (grey: finished)', data['runs']),
        charts.progress_bars('goals', 'Goals: mean progress and '
                             'completions', data['goals']),
    ])


def _charts_html(request):
    return units.read(request.app,
                      lambda storage: render_charts(collect(storage)))


def _charts_or_nothing(request):
    try:
        return _charts_html(request)
    except units.NoStorageError:
        return '<p class="stats">No tracks yet.</p>'


@router.get('/', response_class=HTMLResponse, dependencies=[
    Depends(reader)])
def page(request: Request):
    """The dashboard page."""
    return _page_template().substitute(charts=_charts_or_nothing(request))


@router.get('/dashboard/charts', response_class=HTMLResponse,
            dependencies=[Depends(reader)])
def charts_fragment(request: Request):
    """The dashboard's charts, as an HTML fragment."""
    return _charts_or_nothing(request)
