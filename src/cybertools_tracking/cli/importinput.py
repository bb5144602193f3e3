"""The bytes ``import`` reads: a file (gzip or not) or stdin, with the
byte offset reached and a running digest of what was read, so that an
import can resume after the lines it committed and tell a file that
changed since from one that only grew."""

import contextlib
import gzip
import hashlib
import os
import sys
import zlib

from cybertools_tracking.cli.common import CommandError, count

__all__ = ['DamagedInput']


class DamagedInput(Exception):
    """The input cannot be read on: a ``.gz`` file cut short or damaged."""


# What gzip raises for a file cut short (EOFError) or damaged.
_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)


@contextlib.contextmanager
def _read_on_the_side(path):
    """The file at ``path`` opened again, decompressed if it is gzip (by
    its first bytes), for a look that does not move the import's own
    reading."""
    with open(path, 'rb') as raw:
        magic = raw.read(2)
        raw.seek(0)
        if magic == b'\x1f\x8b':
            with gzip.GzipFile(fileobj=raw, mode='rb') as stream:
                yield stream
        else:
            yield raw


class _Input:
    """The lines to import, with the byte offset and a running digest of
    what was read. A gzip file (by its first bytes) is read decompressed;
    offsets count decompressed bytes, ``position`` the file's."""

    def __init__(self, name):
        self.name = name
        self.digest = hashlib.sha256()
        self.offset = 0
        if name == '-':
            self.source = 'stdin'
            self.path = None
            self.raw = None
            self.size = None
            stdin = sys.stdin
            self.stream = getattr(stdin, 'buffer', stdin)
            return
        self.source = name
        self.path = os.path.abspath(name)
        try:
            self.raw = open(name, 'rb')
        except OSError as error:
            raise CommandError('cannot read %s: %s'
                               % (name, error.strerror or error)) from None
        self.size = os.fstat(self.raw.fileno()).st_size
        magic = self.raw.read(2)
        self.raw.seek(0)
        self.stream = (gzip.GzipFile(fileobj=self.raw, mode='rb')
                       if magic == b'\x1f\x8b' else self.raw)

    def close(self):
        if self.raw is not None:
            self.stream.close()
            self.raw.close()

    def first_line(self):
        """The file's first line (decompressed), read on the side: what
        the format is when an import resumes after it."""
        with _read_on_the_side(self.path) as stream:
            try:
                return stream.readline()
            except _GZIP_ERRORS:
                return b''

    def same_as(self, progress):
        """How the file differs from the one of ``progress`` (a phrase),
        or None if its first ``progress.offset`` bytes are the ones
        imported (it may have grown). Read on the side, as
        ``first_line``."""
        if self.size < progress.size:
            return 'it had %d bytes, it has %d' % (progress.size, self.size)
        digest, left = hashlib.sha256(), progress.offset
        with _read_on_the_side(self.path) as stream:
            try:
                while left:
                    chunk = stream.read(min(left, 1 << 20))
                    if not chunk:
                        break
                    digest.update(chunk)
                    left -= len(chunk)
            except _GZIP_ERRORS:
                pass
        if digest.hexdigest() != progress.digest:
            return ('its first %d bytes are not the ones imported'
                    % progress.offset)
        return None

    def position(self):
        """Bytes of the file read so far, for a progress bar."""
        return None if self.raw is None else self.raw.tell()

    def lines(self):
        lines = iter(self.stream)
        while True:
            try:
                line = next(lines)
            except StopIteration:
                return
            except _GZIP_ERRORS as error:
                raise self.damaged(error) from None
            if isinstance(line, bytes):
                self.offset += len(line)
                self.digest.update(line)
            yield line

    def damaged(self, error):
        return DamagedInput('%s cannot be read after byte %d of its '
                            'content: the compressed data is cut short or '
                            'damaged (%s: %s)'
                            % (self.source, self.offset,
                               type(error).__name__, error))

    def skip(self, progress):
        """Read up to where ``progress`` says the last import stopped,
        checking that those bytes are the ones imported (the file may have
        grown since: lines appended are read on)."""
        if self.size < progress.size:
            self.changed(progress, 'it had %d bytes, it has %d'
                         % (progress.size, self.size))
        left = progress.offset
        while left:
            try:
                chunk = self.stream.read(min(left, 1 << 20))
            except _GZIP_ERRORS as error:
                raise CommandError(str(self.damaged(error))) from None
            if not chunk:
                break
            self.digest.update(chunk)
            self.offset += len(chunk)
            left -= len(chunk)
        if self.digest.hexdigest() != progress.digest:
            self.changed(progress, 'its first %d bytes are not the ones '
                         'imported' % progress.offset)

    def changed(self, progress, how):
        raise CommandError(
            '%s changed since the import stopped at line %d: %s. Importing '
            'it again without --resume would store every line again, but '
            'for those with event ids (%s imported from it); '
            'restore the file to resume, or import only the lines after '
            'line %d (tail -n +%d %s | cybertools-tracking import -)'
            % (self.source, progress.line, how,
               count(progress.imported, 'track'),
               progress.line, progress.line + 1, self.name))
