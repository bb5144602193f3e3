"""The doctest pages under zope.testrunner (``bin/test``), as under pytest.

pytest collects the pages itself (``--doctest-glob``). zope.testrunner
asks each test module for its tests, and ``load_tests`` below answers with
one DocFileSuite per page, run without options of its own: a page carries
the directives it needs (see test_docs_standalone.py), except the seed
page, loops' original text, which gets ELLIPSIS and NORMALIZE_WHITESPACE
as it always did. Each page runs in a fresh temporary directory, as under
``python -m doctest`` in test_docs_standalone.py.
"""

import doctest
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest

PAGES = pathlib.Path(__file__).resolve().parent.parent / 'doctests'
SEED = 'README.txt'
# Pages that need a fixture only the pytest run provides, with the reason.
NEEDS_PYTEST = {
    'scaling-postgresql.txt': 'needs a fresh PostgreSQL database (PG_URI) '
                              'from doctests/conftest.py; run it with pytest',
}


def _in_temporary_directory(test):
    test.globs['_cwd'] = os.getcwd()
    test.globs['_tmp'] = tempfile.mkdtemp(prefix='ct-page-')
    os.chdir(test.globs['_tmp'])


def _back(test):
    os.chdir(test.globs.pop('_cwd'))
    shutil.rmtree(test.globs.pop('_tmp'), ignore_errors=True)


def page_suite(names=None):
    """A unittest suite of the doctest pages (all, or those in ``names``)."""
    suite = unittest.TestSuite()
    for path in sorted(PAGES.glob('*.txt')):
        if names is not None and path.name not in names:
            continue
        if path.name in NEEDS_PYTEST:
            suite.addTest(_skipped(path.name))
            continue
        flags = (doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
                 if path.name == SEED else 0)
        suite.addTest(doctest.DocFileSuite(
            str(path), module_relative=False, optionflags=flags,
            setUp=_in_temporary_directory, tearDown=_back))
    return suite


def _skipped(page):
    """A test that stands for a page that cannot run here, and says why."""
    def skip():
        raise unittest.SkipTest(NEEDS_PYTEST[page])
    return unittest.FunctionTestCase(skip, description='doctests/' + page)


def load_tests(loader, tests, pattern):
    # The unittest protocol zope.testrunner follows; pytest ignores it.
    tests.addTest(page_suite())
    return tests


def test_zope_testrunner_passes_the_pages(tmp_path):
    """zope.testrunner finds the pages through load_tests and passes them
    without pytest's options (two pages here; pytest runs them all)."""
    pytest = __import__('pytest')
    pytest.importorskip('zope.testrunner')
    root = PAGES.parent
    result = subprocess.run(
        [sys.executable, '-m', 'zope.testrunner', '--path', str(root),
         '-m', '^tests.test_doctest_pages$', '-t', r'/README\.txt$',
         '-t', r'/storage\.txt$', '-vv'],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert 'Ran 2 tests' in output and '0 failures, 0 errors' in output, \
        output[-4000:]
