"""Pages that need a PostgreSQL server get a fresh database as the
doctest global ``PG_URI``; without a server they are skipped (failed
under CI=true), like the tests that need one."""

import pytest

from tests.conftest import postgres_uri  # noqa: F401  (the fixture)


@pytest.fixture(autouse=True)
def _postgres_for_pages(request):
    if 'postgresql' not in request.node.name:
        yield
        return
    uri = request.getfixturevalue('postgres_uri')
    request.getfixturevalue('doctest_namespace')['PG_URI'] = uri
    yield
