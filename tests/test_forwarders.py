"""Forwarders deliver the outbox at least once, in order, with ids: to a
real local HTTP receiver and to the local Redis server."""

import json
import os
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cybertools_tracking.db import get_storage, open_db
from cybertools_tracking.forwarders import DeliveryError, Forwarder
from cybertools_tracking.forwarders import RedisStreamTarget, WebhookTarget
from tests.conftest import missing_server


@pytest.fixture
def db(tmp_path):
    db = open_db(str(tmp_path / 'forward.fs'))
    yield db
    db.close()


def append(db, *names):
    with db.transaction() as connection:
        outbox = get_storage(connection).events
        for name in names:
            outbox.append('test.event', {'name': name})


class Receiver(ThreadingHTTPServer):
    """Takes POSTs; answers 500 to the first ``fail`` of them."""

    def __init__(self, fail=0):
        self.fail, self.got = fail, []
        super().__init__(('127.0.0.1', 0), _Handler)


class _Handler(BaseHTTPRequestHandler):

    def do_POST(self):
        body = self.rfile.read(int(self.headers['Content-Length']))
        server = self.server
        if server.fail:
            server.fail -= 1
            self.send_response(500)
        else:
            server.got.append((self.headers['Idempotency-Key'],
                               self.headers['X-Event-Type'],
                               json.loads(body)))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = Receiver(fail=2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_webhook_gets_every_event_in_order_with_retries(db, receiver):
    append(db, 'a', 'b', 'c')
    url = 'http://127.0.0.1:%d/hook' % receiver.server_port
    pauses = []
    forwarder = Forwarder(db, WebhookTarget(url), 'hook', batch=2,
                          sleep=pauses.append)
    assert forwarder.forward() == 3
    assert forwarder.failures == 2 and len(pauses) == 2   # the two 500s
    assert pauses[1] > pauses[0] / 2                     # backing off
    names = [body['data']['name'] for _, _, body in receiver.got]
    assert names == ['a', 'b', 'c']
    for key, kind, body in receiver.got:
        assert key == body['id'] == str(body['position'])
        assert kind == 'test.event'
    # The position is stored: a new forwarder of that name goes on from it.
    append(db, 'd')
    again = Forwarder(db, WebhookTarget(url), 'hook', sleep=pauses.append)
    assert again.forward() == 1
    assert [b['data']['name'] for _, _, b in receiver.got] == list('abcd')
    assert again.forward() == 0
    # Another name gets everything from the beginning.
    assert Forwarder(db, WebhookTarget(url), 'audit').forward() == 4
    with db.transaction() as connection:
        outbox = get_storage(connection).events
        assert outbox.cursor('hook') == outbox.cursor('audit') == \
            outbox.last_position()


def test_a_stop_before_storing_the_position_delivers_again(db, receiver):
    receiver.fail = 0
    append(db, 'a', 'b')
    url = 'http://127.0.0.1:%d/' % receiver.server_port

    class Stops(WebhookTarget):
        """Delivers, then the process "dies" at the second event."""
        calls = 0

        def deliver(self, event):
            super().deliver(event)
            self.calls += 1
            if self.calls == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Forwarder(db, Stops(url), 'hook').forward()
    assert Forwarder(db, WebhookTarget(url), 'hook').forward() == 2
    ids = [key for key, _, _ in receiver.got]
    assert len(ids) == 4 and ids[:2] == ids[2:]     # again, same ids


def test_bad_webhook_urls_and_unreachable_receivers():
    with pytest.raises(ValueError):
        WebhookTarget('ftp://example.org/')
    target = WebhookTarget('http://127.0.0.1:9/', timeout=2)

    class Event:
        position, type = 1, 't'

        def as_json(self):
            return {}
    with pytest.raises(DeliveryError, match='127.0.0.1:9'):
        target.deliver(Event())


@pytest.fixture
def redis_target():
    redis = pytest.importorskip('redis')
    url = os.environ.get('CYBERTOOLS_TEST_REDIS', 'redis://127.0.0.1:6379/0')
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as error:
        missing_server('no Redis at %s: %s' % (url, error))
    stream = 'cybertools-test-%s' % uuid.uuid4().hex
    target = RedisStreamTarget(url, stream)
    yield client, target
    client.delete(stream)
    target.close()
    client.close()


@pytest.mark.server
def test_redis_stream_gets_every_event_in_order(db, redis_target):
    client, target = redis_target
    append(db, 'a', 'b', 'c')
    assert Forwarder(db, target, 'redis').forward() == 3
    append(db, 'd')
    assert Forwarder(db, target, 'redis').forward() == 1
    entries = client.xrange(target.stream)
    fields = [{k.decode(): v.decode() for k, v in f.items()}
              for _, f in entries]
    events = [json.loads(f['event']) for f in fields]
    assert [e['data']['name'] for e in events] == list('abcd')
    assert [f['id'] for f in fields] == [e['id'] for e in events]
    assert [int(f['id']) for f in fields] == sorted(
        int(f['id']) for f in fields)


def test_forward_command_once(db, receiver, tmp_path, capsys):
    from cybertools_tracking.cli import main
    receiver.fail = 0
    append(db, 'a')
    db.close()      # the command opens the FileStorage itself
    url = 'http://127.0.0.1:%d/' % receiver.server_port
    path = str(tmp_path / 'forward.fs')
    assert main(['--db', path, 'forward', '--webhook', url, '--once']) == 0
    assert main(['--db', path, 'forward', '--webhook', url, '--once']) == 0
    assert 'delivered 0 events' in capsys.readouterr().err
    assert [body['data']['name'] for _, _, body in receiver.got] == ['a']
    assert main(['--db', path, 'forward', '--webhook', 'x:', '--once']) == 2
