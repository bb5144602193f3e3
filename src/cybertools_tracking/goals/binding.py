"""Goals bound to tracks: evaluated by the storage as tracks are saved.

A storage's goals live in the storage (a ``GoalRegistry`` and a map of
task templates), so a track and the progress it causes are written by the
same transaction: committed together, or rolled back together, with no
after-commit event announced for work that was rolled back.

Two ways to attach a tracker:

- to a *group*, any string; the storage evaluates a track against the
  group named like the track's user (a user, a device);
- to a *task*, as a template: each user who saves a track in the task gets
  a copy of their own, in the group ``task_group(taskId, userName)``.

What a tracker sees is the track as a dict: ``taskId``, ``runId``,
``userName``, ``timeStamp`` and ``data`` (so a condition on the track's
data says ``data.score``). A track counts once, when it is created:
update-saves and removals do not move progress, so progress is a function
of the tracks saved.
"""

import copy
import json
import weakref
from collections import namedtuple
from json.encoder import encode_basestring_ascii

from persistent.mapping import PersistentMapping

from cybertools_tracking.goals.interfaces import ITracker
from cybertools_tracking.goals.manager import TrackingManager
from cybertools_tracking.goals.registry import GoalRegistry

__all__ = ['StorageGoals', 'GoalOutcome', 'task_group', 'track_item']

GoalOutcome = namedtuple('GoalOutcome', 'dirtied completed limited')
GoalOutcome.__doc__ = """What saving one track did to its goals: the
trackers whose progress or state changed, those that completed, and the
limited ones, over the user's group and the user's task copies."""

NO_OUTCOME = GoalOutcome((), (), ())

# One manager per storage object (that is, per storage and connection), so
# that listeners added with ``storage.goals.add_listener`` stay with it.
_managers = weakref.WeakKeyDictionary()


def task_group(taskId, userName):
    """The group id of a user's copies of a task's goal templates."""
    if type(taskId) is str and type(userName) is str:
        # What json.dumps([taskId, userName]) returns (group ids are
        # stored, so it must stay exactly that), without setting up an
        # encoder for every track.
        return '[%s, %s]' % (encode_basestring_ascii(taskId),
                             encode_basestring_ascii(userName))
    return json.dumps([taskId, userName])


def track_item(track):
    """The dict a tracker evaluates for ``track``."""
    return {'taskId': track.taskId, 'runId': track.runId,
            'userName': track.userName, 'timeStamp': track.timeStamp,
            'data': track.data}


class StorageGoals:
    """The goals of one TrackingStorage; ``storage.goals`` returns one.

    Everything a ``TrackingManager`` does (add, get, reset, remove
    trackers, listen to events) is available here for groups; task
    templates are added with ``add_task_goal``.
    """

    def __init__(self, storage):
        self.storage = storage
        manager = _managers.get(storage)
        if manager is None:
            if storage._goalRegistry is None:
                storage._goalRegistry = GoalRegistry()
            manager = TrackingManager(storage._goalRegistry)
            _managers[storage] = manager
        self.manager = manager

    def __getattr__(self, name):
        # add_tracker, get_trackers, reset_tracker, add_listener, ...
        return getattr(self.manager, name)

    def add_task_goal(self, taskId, tracker):
        """Make ``tracker`` a template of task ``taskId``.

        The template itself is never evaluated; each user of the task gets
        a fresh copy with their first track after this call.
        """
        if not isinstance(taskId, str):
            raise TypeError('taskId must be a string, got %r' % (taskId,))
        if not ITracker.providedBy(tracker):
            raise TypeError('tracker must provide ITracker, got %r'
                            % (tracker,))
        templates = self.storage._goalTemplates
        if templates is None:
            templates = self.storage._goalTemplates = PersistentMapping()
        task = templates.get(taskId)
        if task is None:
            task = templates[taskId] = PersistentMapping()
        if tracker.name in task:
            raise ValueError('task %r has a goal template %r already'
                             % (taskId, tracker.name))
        task[tracker.name] = tracker

    def remove_task_goal(self, taskId, name):
        """Remove a template; the users' copies stay. Returns it or None."""
        templates = self.storage._goalTemplates or {}
        task = templates.get(taskId)
        if task is None or name not in task:
            return None
        tracker = task.pop(name)
        if not task:
            del templates[taskId]
        return tracker

    def task_goals(self, taskId):
        """The templates of a task, in the order they were added."""
        templates = self.storage._goalTemplates or {}
        return list(templates.get(taskId, {}).values())

    def user_task_goals(self, taskId, userName, include_completed=False):
        """A user's copies of a task's templates."""
        return self.manager.get_trackers(task_group(taskId, userName),
                                         include_completed=include_completed)

    def evaluate(self, track):
        """Feed ``track`` to its user's group and task copies; return a
        GoalOutcome."""
        item = track_item(track)
        now = track.timeStamp
        groups = [track.userName]
        templates = self.storage._goalTemplates
        if templates is not None:
            task = templates.get(track.taskId)
            if task is not None:
                group = task_group(track.taskId, track.userName)
                self._copy_templates(group, task, now)
                groups.append(group)
        registry = self.storage._goalRegistry
        track_group = self.manager.track
        dirtied, completed, limited = [], [], []
        for group in groups:
            if registry.get(group) is None:
                continue
            result = track_group(group, item, now_ts=now)
            dirtied += result.dirtied
            completed += result.completed
            limited += result.limited
        if not (dirtied or limited):  # a completed tracker is dirtied too
            return NO_OUTCOME
        return GoalOutcome(tuple(dirtied), tuple(completed), tuple(limited))

    def _copy_templates(self, group, templates, now):
        existing = self.storage._goalRegistry.get(group)
        missing = [t for name, t in templates.items()
                   if existing is None or existing.find(name) is None]
        if missing:
            # A template never holds progress, so a deep copy is a fresh
            # tracker with the template's conditions, targets and limiters.
            self.manager.add_trackers(group, [copy.deepcopy(t)
                                              for t in missing], now_ts=now)
