"""How far an import got, committed with each of its batches.

An import of a file saves its tracks in batches, one transaction each.
With every batch it also writes an ``ImportProgress``: the source, its
size, and the line and byte offset after the batch's last line, with a
digest of the bytes before that offset. Being in the same transaction,
the record and the tracks are committed together or not at all, so after
any stop (Ctrl-C, SIGTERM, SIGKILL, a crash, a lost server) the record
says exactly which lines are stored, and ``import --resume`` goes on
from the next one, refusing a file that changed.

Records live in the database root under ``ROOT_KEY``: an OOBTree keyed by
(storage name, source path), so imports of different files do not meet.
"""

from BTrees.LOBTree import LOBTree
from BTrees.OOBTree import OOBTree
from persistent import Persistent

__all__ = ['ImportProgress', 'ROOT_KEY', 'import_progress',
           'record_rejected', 'forget_progress']

ROOT_KEY = 'cybertools_tracking.imports'


class ImportProgress(Persistent):
    """The progress of the import of one source into one storage.

    ``line`` and ``offset`` are where the next batch starts: the number of
    lines read and committed (1-based: the next line is ``line + 1``) and
    the byte offset after them, in the decompressed stream for a ``.gz``
    file. ``size`` is the file's size in bytes (as stored, compressed or
    not) and ``digest`` the SHA-256 (hex) of the ``offset`` bytes before.
    ``runs`` maps the run ids of an export's run lines to the runs the
    import made for them. ``token`` names one run of the import command
    (so it can tell its own commits); ``done`` is true once every line
    was read. ``imported`` and ``skipped`` count tracks and bad lines.

    ``rejected`` maps the number of each line skipped to the reason (an
    LOBTree, None until a line is skipped): the import knows exactly
    which lines it refused and why, and writes them to a file when asked
    after the fact (``import FILE --rejects REJECTS`` of a file imported
    before). None too in records of imports before it was kept.
    """

    source = None
    size = offset = line = imported = skipped = 0
    digest = token = ''
    runs = {}
    done = False
    rejected = None
    updated = 0          # seconds since the epoch (UTC) of the last batch

    def __init__(self, source):
        self.source = source

    def __repr__(self):
        return '<ImportProgress %s: line %d, byte %d of %d%s>' % (
            self.source, self.line, self.offset, self.size,
            ', done' if self.done else '')


def import_progress(connection, storage_name, source, create=False):
    """The ``ImportProgress`` of ``source`` into the storage named
    ``storage_name`` in ``connection``'s database; None if there is none
    and not ``create``. Creating one writes (the root, the first time)."""
    root = connection.root()
    records = root.get(ROOT_KEY)
    key = (storage_name, source)
    if records is None:
        if not create:
            return None
        records = root[ROOT_KEY] = OOBTree()
    progress = records.get(key)
    if progress is None and create:
        progress = records[key] = ImportProgress(source)
    return progress


def record_rejected(progress, rejected, fresh=False):
    """Add ``rejected`` (pairs of a line number and the reason it was
    skipped) to ``progress.rejected``; ``fresh``: forget those of an
    earlier import of the file first (one started again from line 1)."""
    if fresh:
        progress.rejected = None
    if rejected:
        if progress.rejected is None:
            progress.rejected = LOBTree()
        for number, reason in rejected:
            progress.rejected[number] = reason


def forget_progress(connection, storage_name, source):
    """Remove the record of ``source`` (an import of stdin, which cannot
    be resumed, once it is done)."""
    records = connection.root().get(ROOT_KEY)
    if records is not None:
        records.pop((storage_name, source), None)
