"""The README's examples run, and CI runs the README's test command."""

import doctest
import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _run_readme():
    return doctest.testfile(str(ROOT / 'README.rst'), module_relative=False,
                            optionflags=doctest.NORMALIZE_WHITESPACE)


def test_readme_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _run_readme()
    assert result.attempted > 0
    assert result.failed == 0
    assert (tmp_path / 'var' / 'tour.fs').exists()


def test_the_tour_is_true_after_the_demo(tmp_path, monkeypatch, capsys):
    """What a new user does: the demo command first (it fills
    var/tracking.fs), then the tour, with the track ids it shows."""
    from cybertools_tracking.cli import main
    monkeypatch.chdir(tmp_path)
    assert main(['demo']) == 0
    capsys.readouterr()
    result = _run_readme()
    assert (result.attempted, result.failed) == (4, 0)
    assert main(['--db', 'var/tour.fs', 'query', '--user', 'ann*',
                 '--format', 'jsonl']) == 0
    assert [json.loads(line)['id'] for line in
            capsys.readouterr().out.splitlines()] == ['0000001']


def _commands():
    text = (ROOT / 'README.rst').read_text()
    return re.findall(r'^    (python3 -m venv .*)$', text, re.M)


def test_readme_has_two_commands_and_ci_runs_the_test_command():
    setup_and_demo, setup_and_test = _commands()
    assert setup_and_demo.endswith('cybertools-tracking demo')
    assert 'pytest' in setup_and_test
    assert setup_and_test in (ROOT / '.ci' / 'run').read_text()
