"""Run loops' original tracking doctests against this package.

The pages belong to the public repository cyberconcepts/cybertools (at
commit a6fb663: tracking/README.txt, tracking/notify/README.txt and
tracking/comment/README.txt). Their text is not ours and is not kept in
this repository: this script reads them from a clone given as argument,
makes the one edit Python 3 forces on them (``print x`` becomes
``print(x)``; the dict of the notification example needs no edit, as
``Notification`` keeps its data keys in the order shown), and runs them with the options of their own test suites (ELLIPSIS and
NORMALIZE_WHITESPACE), in a scratch directory::

    python tests/run_head_doctests.py PATH [--commit a6fb663]

PATH is a git clone (a bare one too; the pages are read from
``--commit``) or a work tree holding ``tracking/...``. Needs the ``zope``
extra. Prints one line per page and the totals; exits 1 if an example
failed or a page is missing.
"""

import argparse
import doctest
import os
import re
import shutil
import subprocess
import sys
import tempfile

PAGES = ('tracking/README.txt', 'tracking/notify/README.txt',
         'tracking/comment/README.txt')
COMMIT = 'a6fb663'

# ">>> print x" and "... print x" in Python 2 syntax.
_PRINT = re.compile(r'^(\s*(?:>>>|\.\.\.) )print (.+?)\s*$', re.M)


def py3(text):
    """``text`` with Python 2's print statements made calls, and the
    number of them."""
    text, count = _PRINT.subn(r'\1print(\2)', text)
    return text, count


def read_page(path, page, commit):
    if os.path.isdir(os.path.join(path, 'tracking')):
        with open(os.path.join(path, page), encoding='utf-8') as f:
            return f.read()
    return subprocess.run(['git', '-C', path, 'show', '%s:%s' % (commit, page)],
                          check=True, capture_output=True, text=True).stdout


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('path')
    parser.add_argument('--commit', default=COMMIT)
    args = parser.parse_args(argv)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    total_attempted = total_failed = 0
    missing = 0
    cwd = os.getcwd()
    scratch = tempfile.mkdtemp(prefix='head-doctests-')
    try:
        os.chdir(scratch)
        for page in PAGES:
            try:
                text = read_page(args.path, page, args.commit)
            except (OSError, subprocess.CalledProcessError) as error:
                print('%s: cannot read it: %s' % (page, error))
                missing += 1
                continue
            text, edits = py3(text)
            test = doctest.DocTestParser().get_doctest(
                text, {'__name__': '__main__'}, page, page, 0)
            runner = doctest.DocTestRunner(optionflags=flags)
            runner.run(test)
            result = runner.summarize(verbose=False)
            print('%s: %d examples, %d passed, %d failed (%d print edits)'
                  % (page, result.attempted,
                     result.attempted - result.failed, result.failed, edits))
            total_attempted += result.attempted
            total_failed += result.failed
    finally:
        os.chdir(cwd)
        shutil.rmtree(scratch, ignore_errors=True)
    print('%d passed, %d failed' % (total_attempted - total_failed,
                                    total_failed))
    return 1 if total_failed or missing else 0


if __name__ == '__main__':
    sys.exit(main())
