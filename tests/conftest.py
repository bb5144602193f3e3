"""Fixtures for tests that need database servers.

A ZEO server is started by the tests themselves. PostgreSQL must be
running: its admin URI is ``$CYBERTOOLS_TEST_PG`` (default
``postgres://postgres@127.0.0.1:5432/test``). Without it, the tests that
need it are skipped with the reason, except under CI (``CI=true``), where
a missing server is a failure.
"""

import os
import subprocess
import sys
import time
import uuid
from urllib.parse import urlsplit

import pytest

PG_ADMIN = os.environ.get('CYBERTOOLS_TEST_PG',
                          'postgres://postgres@127.0.0.1:5432/test')


def missing_server(reason):
    if os.environ.get('CI') == 'true':
        pytest.fail('%s (required under CI=true)' % reason)
    pytest.skip(reason)


def start_zeo(path, port=0):
    """Start ``cybertools-tracking zeo`` on ``port`` (0: a free one);
    return (process, uri) once it accepts clients."""
    process = subprocess.Popen(
        [sys.executable, '-m', 'cybertools_tracking', 'zeo', path,
         '--port', str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()
    if 'listening on' not in line:
        process.kill()
        raise RuntimeError('the ZEO server did not start: %r' % line)
    return process, 'zeo://' + line.rsplit(' ', 1)[1].strip()


def stop(process):
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def zeo_uri(tmp_path):
    pytest.importorskip('ZEO')
    process, uri = start_zeo(str(tmp_path / 'zeo' / 'tracking.fs'))
    yield uri
    stop(process)


def _admin_connection():
    try:
        import psycopg2
    except ImportError:
        missing_server('psycopg2 is not installed (pip install '
                       "'cybertools-tracking[postgresql]')")
    parts = urlsplit(PG_ADMIN)
    try:
        connection = psycopg2.connect(
            host=parts.hostname, port=parts.port or 5432,
            user=parts.username, password=parts.password,
            dbname=parts.path.lstrip('/') or 'postgres', connect_timeout=5)
    except psycopg2.OperationalError as error:
        missing_server('no PostgreSQL at %s: %s'
                       % (PG_ADMIN, str(error).strip()))
    connection.autocommit = True
    return connection


@pytest.fixture
def postgres_uri():
    """A fresh, empty PostgreSQL database for one test, dropped after it."""
    pytest.importorskip('relstorage')
    admin = _admin_connection()
    name = 'cttest_%s' % uuid.uuid4().hex[:12]
    with admin.cursor() as cursor:
        cursor.execute('CREATE DATABASE %s' % name)
    parts = urlsplit(PG_ADMIN)
    yield parts._replace(path='/' + name).geturl()
    for attempt in range(10):
        try:
            with admin.cursor() as cursor:
                cursor.execute('DROP DATABASE IF EXISTS %s WITH (FORCE)'
                               % name)
            break
        except Exception:
            time.sleep(0.5)
    admin.close()
