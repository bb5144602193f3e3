"""What loops' doctests import from ``cybertools.tracking.tests``.

``testDir`` is a folder for files a test writes (loops' log file example
writes ``test.log`` there): a folder of this process in the temporary
directory, made when first written to and removed at exit if empty.
"""

import atexit
import os
import tempfile

__all__ = ['testDir']

testDir = os.path.join(tempfile.gettempdir(),
                       'cybertools.tracking-test-%d' % os.getpid())


@atexit.register
def _removeTestDir():
    try:
        os.rmdir(testDir)
    except OSError:     # not there, or not empty: left as it is
        pass
