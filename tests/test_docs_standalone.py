"""The doctest pages pass under plain ``python -m doctest`` too.

pytest gives the pages ELLIPSIS and NORMALIZE_WHITESPACE (pyproject.toml);
``python -m doctest`` and zope.testrunner give nothing, so each page carries
the directives its examples need. Only the seed page, loops' original text,
is kept byte for byte and is run with the options on the command line.
"""

import pathlib
import subprocess
import sys

import pytest

PAGES = pathlib.Path(__file__).parent.parent / 'doctests'
# Pages that need something only the pytest run provides.
NEEDS_PYTEST = {
    'scaling-postgresql.txt': 'needs a fresh PostgreSQL database (PG_URI) '
                              'from doctests/conftest.py',
}
SEED = 'README.txt'


@pytest.mark.parametrize('page', sorted(p.name for p in PAGES.glob('*.txt')))
def test_page_passes_under_python_m_doctest(page, tmp_path):
    if page in NEEDS_PYTEST:
        pytest.skip(NEEDS_PYTEST[page])
    options = (['-o', 'ELLIPSIS', '-o', 'NORMALIZE_WHITESPACE']
               if page == SEED else [])
    result = subprocess.run(
        [sys.executable, '-m', 'doctest', *options, str(PAGES / page)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
