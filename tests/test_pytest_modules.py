"""zope.testrunner (``bin/test``) runs the pytest-style modules too.

zope.testrunner collects unittest tests: the doctest pages
(test_doctest_pages.py) and the Zope add-on's test classes
(test_zope_addon.py) it runs itself. The other modules are written for
pytest (fixtures, parametrize); ``load_tests`` below gives
zope.testrunner one test per module that runs it with pytest in a
subprocess. The subprocess gets this interpreter's ``sys.path`` as
``PYTHONPATH``: a buildout's ``bin/test`` runs on a Python whose own
path lacks the eggs, and so do the subprocesses those tests start in
turn with ``sys.executable``.
"""

import os
import pathlib
import subprocess
import sys
import unittest

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
# Modules zope.testrunner runs as they are (they hold unittest tests).
UNITTEST_MODULES = {'test_doctest_pages', 'test_zope_addon',
                    'test_pytest_modules'}


def environment():
    """os.environ with this interpreter's path as PYTHONPATH."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(p for p in sys.path if p)
    return env


def pytest_modules():
    return sorted(p for p in HERE.glob('test_*.py')
                  if p.stem not in UNITTEST_MODULES)


def _run_with_pytest(path):
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
         str(path.relative_to(ROOT))],
        cwd=ROOT, env=environment(), capture_output=True, text=True)
    if result.returncode not in (0, 5):     # 5: every test deselected
        raise AssertionError('pytest %s failed:\n%s%s' % (
            path.name, result.stdout[-6000:], result.stderr[-2000:]))


def load_tests(loader, tests, pattern):
    # The unittest protocol zope.testrunner follows; pytest ignores it.
    for path in pytest_modules():
        tests.addTest(unittest.FunctionTestCase(
            _runner(path), description='tests/%s (pytest)' % path.name))
    return tests


def _runner(path):
    def run():
        _run_with_pytest(path)
    run.__name__ = run.__qualname__ = path.stem.replace('test_', 'pytest_')
    return run


def test_zope_testrunner_runs_a_pytest_module(tmp_path):
    """What bin/test does, for one module (see buildout.cfg)."""
    result = subprocess.run(
        [sys.executable, '-m', 'zope.testrunner', '--path', str(ROOT),
         '-s', 'tests', '-m', '^tests.test_pytest_modules$',
         '-t', r'pytest_readme\b', '-vv'],
        cwd=tmp_path, env=environment(), capture_output=True, text=True,
        timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert 'Ran 1 tests with 0 failures, 0 errors' in output, output[-4000:]
