"""Forwarders: the outbox delivered to a webhook or a Redis stream.

A forwarder reads the outbox (``events.py``) from the position it
stored, delivers the events one by one, in order, and stores the
position of the last delivered event in the database (``outbox
.set_cursor``, under the forwarder's name) after each batch. Delivery is
*at least once*: if the process stops between delivering and storing,
the next run delivers those events again. Each event carries its id (its
position, as a string), by which a receiver drops what it has seen.

A failed delivery (no answer, a non-2xx status, a Redis error) is tried
again after a pause that doubles up to ``max_delay`` seconds (with
jitter); an event is never skipped, so a receiver that stays down stops
the feed behind it, and it resumes where it stopped.

Targets:

- ``WebhookTarget(url)``: an HTTP POST per event, the body the event's
  JSON (``OutboxEvent.as_json``), with ``Idempotency-Key`` and
  ``X-Event-Type`` headers;
- ``RedisStreamTarget(url, stream)``: ``XADD`` per event (the ``redis``
  extra) with the fields ``id``, ``type`` and ``event`` (the JSON).
"""

import json
import logging
import time
import urllib.error
import urllib.request

import transaction

from cybertools_tracking.db import DEFAULT_NAME, backoff_delay, get_storage
from cybertools_tracking.db import retry_transaction

__all__ = ['Forwarder', 'WebhookTarget', 'RedisStreamTarget',
           'DeliveryError']

logger = logging.getLogger('cybertools_tracking.forwarders')

BATCH = 100
MAX_DELAY = 30.0        # seconds between attempts, at most
POLL = 0.5              # seconds between looks for new events


class DeliveryError(Exception):
    """A target did not take an event."""


class WebhookTarget:
    """POST each event to ``url``; a 2xx status is a delivery."""

    def __init__(self, url, timeout=10.0, headers=None):
        if not isinstance(url, str) or not url.startswith(('http://',
                                                           'https://')):
            raise ValueError('url must be an http:// or https:// URL, got %r'
                             % (url,))
        self.url = url
        self.timeout = timeout
        self.headers = dict(headers or {})

    def __repr__(self):
        return '<WebhookTarget %s>' % self.url

    def deliver(self, event):
        body = json.dumps(event.as_json(), ensure_ascii=False,
                          default=repr).encode('utf-8')
        request = urllib.request.Request(self.url, data=body, method='POST',
                                         headers={
            'Content-Type': 'application/json',
            'Idempotency-Key': str(event.position),
            'X-Event-Type': event.type, **self.headers})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as r:
                r.read()
        except urllib.error.HTTPError as error:
            raise DeliveryError('%s answered %d for event %d'
                                % (self.url, error.code, event.position)
                                ) from None
        except (OSError, urllib.error.URLError) as error:
            raise DeliveryError('%s: %s' % (self.url, error)) from None

    def close(self):
        pass


class RedisStreamTarget:
    """``XADD`` each event to the Redis stream ``stream``."""

    def __init__(self, url='redis://127.0.0.1:6379/0',
                 stream='cybertools-tracking-events', maxlen=None):
        import redis
        self.url, self.stream, self.maxlen = url, stream, maxlen
        self._redis = redis.Redis.from_url(url, socket_timeout=10)
        self._errors = (redis.RedisError, OSError)

    def __repr__(self):
        return '<RedisStreamTarget %s %s>' % (self.url, self.stream)

    def deliver(self, event):
        fields = {'id': str(event.position), 'type': event.type,
                  'event': json.dumps(event.as_json(), ensure_ascii=False,
                                      default=repr)}
        try:
            self._redis.xadd(self.stream, fields, maxlen=self.maxlen,
                             approximate=self.maxlen is not None)
        except self._errors as error:
            raise DeliveryError('redis %s: %s' % (self.url, error)) from None

    def close(self):
        self._redis.close()


class Forwarder:
    """Deliver a storage's outbox to ``target`` (see the module doc).

    ``name`` keys the stored position: forwarders of different names
    each get every event. ``sleep`` is how pauses are taken (a test may
    record them).
    """

    def __init__(self, db, target, name, storage_name=DEFAULT_NAME,
                 batch=BATCH, max_delay=MAX_DELAY, sleep=time.sleep):
        if not isinstance(name, str) or not name:
            raise TypeError('name must be a non-empty string, got %r'
                            % (name,))
        self.db, self.target, self.name = db, target, name
        self.storage_name = storage_name
        self.batch, self.max_delay, self.sleep = batch, max_delay, sleep
        self.failures = 0       # failed deliveries, in all

    def __repr__(self):
        return '<Forwarder %r to %r>' % (self.name, self.target)

    def _outbox(self, connection):
        return get_storage(connection, self.storage_name, create=False).events

    def forward(self, limit=None):
        """Deliver what is in the outbox after the stored position, up to
        ``limit`` events; return how many were delivered. Returns when the
        outbox holds nothing newer."""
        manager = transaction.TransactionManager()
        connection = self.db.open(manager)
        delivered = 0
        try:
            while limit is None or delivered < limit:
                manager.abort()                 # a new view
                try:
                    outbox = self._outbox(connection)
                except KeyError:
                    return delivered            # no storage yet
                size = self.batch if limit is None else min(
                    self.batch, limit - delivered)
                events = outbox.since(outbox.cursor(self.name), size)
                manager.abort()
                if not events:
                    return delivered
                for event in events:
                    self._deliver(event)
                    delivered += 1
                last = events[-1].position
                retry_transaction(
                    lambda: self._outbox(connection).set_cursor(self.name,
                                                                last),
                    manager)
            return delivered
        finally:
            manager.abort()
            connection.close()

    def _deliver(self, event):
        attempt = 0
        while True:
            try:
                return self.target.deliver(event)
            except DeliveryError as error:
                self.failures += 1
                logger.warning('event %d not delivered (%s); trying again',
                               event.position, error)
                self.sleep(backoff_delay(attempt, cap=self.max_delay))
                attempt += 1

    def run(self, stop=None, poll=POLL):
        """Forward until ``stop`` (a ``threading.Event``) is set, looking
        for new events every ``poll`` seconds."""
        while stop is None or not stop.is_set():
            if not self.forward():
                if stop is not None:
                    stop.wait(poll)
                else:
                    self.sleep(poll)
