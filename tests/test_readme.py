"""The README's examples run, and CI runs the README's test command."""

import doctest
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_readme_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = doctest.testfile(str(ROOT / 'README.rst'), module_relative=False,
                              optionflags=doctest.ELLIPSIS
                              | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
    assert (tmp_path / 'var' / 'tracking.fs').exists()


def _commands():
    text = (ROOT / 'README.rst').read_text()
    return re.findall(r'^    (python3 -m venv .*)$', text, re.M)


def test_readme_has_two_commands_and_ci_runs_the_test_command():
    setup_and_demo, setup_and_test = _commands()
    assert setup_and_demo.endswith('cybertools-tracking demo')
    assert 'pytest' in setup_and_test
    assert setup_and_test in (ROOT / '.ci' / 'run').read_text()
