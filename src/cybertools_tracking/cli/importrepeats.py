"""What ``import`` does about an earlier import of the same file.

Each import of a file is recorded (``imports.ImportProgress``) with every
batch it commits. The next ``import`` of that file reads the record:
``--resume`` goes on after its last committed line (``restart``); without
``--again`` a repetition that would store lines twice is refused, saying
how to finish instead (``refuse_repeat``); and ``--rejects FILE`` writes
the lines the earlier import skipped, which it recorded by number with
the reason, and stores nothing (``write_rejects``).
"""

import time

from cybertools_tracking.cli.common import EXIT_DATA, EXIT_OK
from cybertools_tracking.cli.common import CommandError, count, plural
from cybertools_tracking.cli.common import error as _error
from cybertools_tracking.cli.importformats import BadLine, _layout, _text
from cybertools_tracking.cli.importformats import _reject_json
from cybertools_tracking.cli.importinput import DamagedInput
from cybertools_tracking.imports import import_progress

__all__ = ['EarlierImports']


class EarlierImports:
    """The part of an import (``loading._Import``) that reads the record
    of an earlier import of its file: the import's ``connection``,
    ``name`` (of the storage), ``key`` (of the record), ``input``,
    ``source``, ``progress``, ``manager`` and ``rejects`` file are its
    own; ``restart`` sets where it starts, ``refuse_repeat`` may set
    ``rejects_only``."""

    def restart(self):
        done = import_progress(self.connection, self.name, self.key)
        if done is None:
            raise CommandError(
                'no import of %s into the storage %r was recorded; start it '
                'without --resume' % (self.source, self.name))
        if done.done and self.input.size <= done.size:
            raise CommandError(
                'the import of %s into the storage %r is complete (%s, %s '
                'skipped); nothing to resume'
                % (self.source, self.name, count(done.imported, 'track'),
                   count(done.skipped, 'line')),
                EXIT_OK)
        self.input.skip(done)       # or a complete import of a file that grew
        self.runs = dict(done.runs)
        self.imported, self.skipped = done.imported, done.skipped
        self.first_line = self.resume = done.line + 1
        try:
            first = _text(self.input.first_line(), True)
            self.layout = _layout(first, self.source)
        except (BadLine, CommandError):
            self.layout = None
        if self.layout is not None:
            self.header = first
        self.base, self.base_skipped = done.imported, done.skipped
        self.made_runs = self.base_runs = len(done.runs)
        self.progress.update(self.input.position(), 'resuming at line %d'
                             % self.resume)

    def refuse_repeat(self, rejects=None):
        """An import of a file recorded, complete or stopped, stores its
        lines again (but for those with event ids): refused, unless
        ``--again`` (alias ``--restart``). With ``rejects`` (``--rejects
        FILE``) and skipped lines recorded, the import only writes those
        (``rejects_only``, see ``write_rejects``)."""
        done = import_progress(self.connection, self.name, self.key)
        if done is None or (not done.imported and not done.runs):
            # Nothing was stored (every line refused): nothing would be
            # stored twice, and the corrected retry must not be blocked.
            return
        when = time.strftime('%Y-%m-%d %H:%M', time.gmtime(done.updated))
        if rejects and done.skipped:
            # What a user asks for after a partly failed import: its bad
            # lines, to fix. They are recorded by number (the reasons
            # too: some depend on the storage, as a run it lacks), and
            # the file must be the one imported, as for --resume.
            changed = self.input.same_as(done)
            if changed is not None:
                raise CommandError(
                    '%s changed since it was imported into the storage %r '
                    '(%s): the numbers of the %s it skipped may name other '
                    'lines now; nothing was written to %s'
                    % (self.source, self.name, changed,
                       count(done.skipped, 'line'), rejects))
            if done.rejected is None:
                raise CommandError(
                    'the import of %s into the storage %r on %s UTC did '
                    'not record which lines it skipped (a version before '
                    'it did); an import into a throwaway database writes '
                    'them: %s' % (self.source, self.name, when,
                                  self.rehearsal(rejects)))
            self.rejects_only = done
            return
        if not done.done:
            raise CommandError(
                'an import of %s into the storage %r stopped at line %d on '
                '%s UTC (%s stored, %s skipped): "import --resume %s" goes '
                'on from line %d. Importing it from the first line stores '
                'those tracks twice (but for lines with event ids); use '
                '--restart to do that anyway'
                % (self.source, self.name, done.line, when,
                   count(done.imported, 'track'), count(done.skipped, 'line'),
                   self.input.name, done.line + 1))
        changed = self.input.same_as(done)
        if changed is not None:
            since = 'It changed since (%s). ' % changed
        elif self.input.size > done.size:
            since = ('It has grown since: "import --resume %s" imports the '
                     'new lines. ' % self.input.name)
        else:
            since = ''
        if done.skipped:
            # A partly failed import is finished by importing its bad
            # lines alone, fixed: the others are stored.
            since += ('To finish it, fix the %s it skipped and import %s '
                      'alone, as a new file: %s. '
                      % (count(done.skipped, 'line'),
                         plural(done.skipped, 'it', 'them'),
                         self.rejects_advice(done)))
        stored = [count(done.imported, 'track')]
        if done.runs:
            stored.append(count(len(done.runs), 'run'))
        what = [what for what, number in (
            ('runs are made anew, not matched by id', done.runs),
            ('but a line with an eventId is stored once', done.imported))
            if number]
        raise CommandError(
            '%s was imported into the storage %r already, completely, on %s '
            'UTC (%d %s: %s, %s skipped); importing it again stores its %s '
            'twice (%s). %sUse --again to import it anyway'
            % (self.source, self.name, when,
               done.line, plural(done.line, 'line'), ', '.join(stored),
               count(done.skipped, 'line'),
               ' and '.join(stored if done.imported else stored[1:]),
               '; '.join(what), since))

    def rejects_advice(self, done):
        """How to get the lines the import ``done`` skipped."""
        if done.rejected is None:      # recorded before they were kept
            return ('an import into a throwaway database writes them to '
                    'FILE (%s)' % self.rehearsal('FILE'))
        return ('"import %s --rejects FILE" writes %s to FILE, storing '
                'nothing; fix %s "text" there and import FILE'
                % (self.input.name, plural(done.skipped, 'it', 'them'),
                   plural(done.skipped, 'its', 'their')))

    def rehearsal(self, rejects):
        """The command that writes the rejects of the file into a
        database in memory: the lines refused for their own sake (those
        refused for what the storage held, as runs it lacked, may
        differ)."""
        return ('cybertools-tracking --db memory:// import %s --rejects %s'
                % (self.input.name, rejects))

    def write_rejects(self, done):
        """Write the lines the recorded import ``done`` skipped (numbers
        and reasons from its record, texts from the file) to the rejects
        file; store nothing. Returns ``EXIT_DATA``: those lines are still
        not stored."""
        wanted = done.rejected
        last = number = 0
        written = 0
        if len(wanted):
            last = wanted.maxKey()
        try:
            for number, line in enumerate(self.input.lines(), 1):
                if number > last:
                    break
                if number == 1:
                    try:
                        first = _text(line, True)
                        if _layout(first, self.source) is not None:
                            self.header = first
                    except (BadLine, CommandError):
                        pass
                reason = wanted.get(number)
                if reason is not None:
                    self.rejects.write(_reject_json(number, reason, line,
                                                    self.header))
                    written += 1
        except DamagedInput as error:
            self.progress.clear()
            _error('%s (at line %d)' % (error, number + 1))
        self.rejects.flush()
        self.manager.abort()
        self.progress.clear()
        when = time.strftime('%Y-%m-%d %H:%M', time.gmtime(done.updated))
        summary = ('%s was imported into the storage %r already, on %s UTC '
                   '(%s, %s skipped): wrote the %s it skipped to %s, '
                   'storing nothing'
                   % (self.source, self.name, when,
                      count(done.imported, 'track'),
                      count(done.skipped, 'line'),
                      count(written, 'line') if written == done.skipped
                      else '%d of the %s' % (written, count(done.skipped,
                                                            'line')),
                      self.rejects.name))
        if written:
            summary += ('. Fix %s "text" there and import %s'
                        % (plural(written, 'its', 'their'),
                           self.rejects.name))
        if not done.done:
            summary += ('; the import stopped at line %d: "import --resume '
                        '%s" goes on' % (done.line, self.input.name))
        print(summary)
        # 1, as the import that skipped the lines exited: they are not
        # stored yet, and a script must not take the file for imported
        # in full because its rejects could be written.
        return EXIT_DATA
