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


def _command_lines():
    """The README's command-line block after the tour, each line's
    commands (split at ``&&``, comments dropped) as argv lists."""
    import shlex
    text = (ROOT / 'README.rst').read_text()
    block = text.split('default is the demo\'s ``var/tracking.fs``)::', 1)[1]
    block = block.split('\n\n', 2)[1]
    return [shlex.split(part, comments=True)
            for line in block.splitlines()
            for part in line.split('&&')]


def test_the_command_block_in_order_keeps_the_demo(tmp_path, monkeypatch,
                                                   capsys):
    """A newcomer runs the demo, the tour, then the README's commands in
    order (but the imports, of files of their own): the demo's tracks
    are still there for the dashboard section after it."""
    from cybertools_tracking.cli import main
    monkeypatch.chdir(tmp_path)
    assert main(['demo']) == 0
    assert _run_readme().failed == 0       # the tour makes var/tour.fs
    commands = _command_lines()
    assert any(argv[1] == 'prune' for argv in commands)
    for argv in commands:
        assert argv[0] == 'cybertools-tracking'
        if argv[1] == 'import':
            continue            # files of the reader's own
        assert main(argv[1:]) == 0, argv
    capsys.readouterr()
    assert main(['query', '--count']) == 0
    assert capsys.readouterr().out.strip() == '2843'
