"""Bringing a goal registry made by an older version up to today's shape.

Two things changed in how a ``GoalRegistry`` is laid out, and a registry
made before keeps its old shape until this runs:

- the groups were one ``OOBTree``; now they are a ``GroupMap`` spread over
  shards (``registry.py`` says why: writers adding groups conflicted);
- there was no index of due times; now ``tick`` reads one (``due.py``).

``upgrade_registry`` converts both in the caller's transaction.  The first
full ``tick`` calls it, so a periodic job upgrades an old database by
itself; ``TrackingManager.upgrade_registry`` calls it on request.  It is
safe while other processes write: every record it reads is marked
read-current (a writer that changed one meanwhile makes it conflict, and
the caller retries), and writers that reach an old-shaped registry mark
the registry read-current (``GoalRegistry.setdefault``, ``due.refresh``),
so a writer that raced a committed upgrade retries into the new shape.
"""

from BTrees.OOBTree import OOBTree

from cybertools_tracking.goals import due
from cybertools_tracking.goals.registry import GROUP_SHARDS
from cybertools_tracking.goals.registry import GroupMap

__all__ = ["needs_upgrade", "upgrade_registry"]


def needs_upgrade(registry):
    """What ``upgrade_registry`` would do to *registry* (a list of
    ``"groups"`` and ``"due"``; empty if nothing)."""
    todo = []
    if type(registry.groups) is not GroupMap:
        todo.append("groups")
    if registry.due is None:
        todo.append("due")
    return todo


def upgrade_registry(registry, shards=GROUP_SHARDS):
    """Convert *registry* to the current shape; return what was done (as
    ``needs_upgrade`` said).  Writes nothing when there is nothing to do.
    """
    todo = needs_upgrade(registry)
    if "groups" in todo:
        old = registry.groups
        groups = GroupMap(shards)
        for group_id, group in old.items():
            groups[group_id] = group
        jar = registry._p_jar
        if jar is not None:
            _read_current_tree(jar, old)   # after the reads loaded it
        registry.groups = groups
    if "due" in todo:
        due.build(registry, len(registry.groups.shards))
    return todo


def _read_current_tree(jar, tree):
    # The tree and every node and bucket under it: an insert by another
    # writer changes one of them (a bucket, or a node when it splits).
    tree._p_activate()
    jar.readCurrent(tree)
    state = tree.__getstate__()
    if not state or len(state) < 2:
        return   # empty, or one bucket kept inside the tree's own record
    children = state[0][::2]
    for child in children:
        if isinstance(child, OOBTree):
            _read_current_tree(jar, child)
        elif getattr(child, "_p_jar", None) is jar:
            child._p_activate()   # a ghost has no serial to check
            jar.readCurrent(child)
