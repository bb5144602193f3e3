"""A threaded WSGI app that saves tracks, for test_wsgi_threads.py.

    python wsgi_goal_app.py DATABASE EVENTS_FILE

Serves on 127.0.0.1 (a free port, printed as ``listening on PORT``), one
thread per request (``socketserver.ThreadingMixIn`` over ``wsgiref``).  At
startup it adds an after-commit listener that appends each goal event
(tracker added, stage completed, all completed) to EVENTS_FILE, one JSON
line per event: the outside effect that must happen once per committed
event and never for work that was rolled back.

``POST /track`` with ``{"user", "task", "request", "fail"}`` saves one
track in ``run_in_transaction`` (a connection of its own per request),
stamped with the request number, so an event names the request that
caused it.  With ``"fail": true`` the work raises after saving: the
transaction aborts and the client gets a 500.

The app stops when its stdin closes, then prints one JSON line of counts.
"""

import json
import socketserver
import sys
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from cybertools_tracking.db import open_db, run_in_transaction
from cybertools_tracking.goals import (EVENT_TRACKER_ADDED,
                                       EVENT_TRACKER_ALL_COMPLETED,
                                       EVENT_TRACKER_STAGE_COMPLETED)

CODES = (EVENT_TRACKER_ADDED, EVENT_TRACKER_STAGE_COMPLETED,
         EVENT_TRACKER_ALL_COMPLETED)


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = False       # server_close() waits for every request
    block_on_close = True


class QuietHandler(WSGIRequestHandler):

    def log_message(self, format, *args):
        pass


class RequestFailed(Exception):
    """What a request asked to fail with."""


class App:

    def __init__(self, db, events_path):
        self.db = db
        self.lock = threading.Lock()
        self.events = open(events_path, 'a', encoding='utf-8')
        self.counts = {'saved': 0, 'failed': 0, 'retries': 0, 'errors': 0}
        run_in_transaction(db, self.listen)

    def listen(self, storage):
        for code in CODES:
            storage.goals.add_listener(code, self.announce,
                                       when='after_commit')

    def announce(self, event):
        snapshot = event.tracker
        line = json.dumps({
            'code': event.code, 'group': event.group_id, 'name': event.name,
            'progress': snapshot.progress, 'stage': snapshot.current_stage,
            'request': event.timestamp,
            'thread': threading.current_thread().name})
        with self.lock:
            self.events.write(line + '\n')
            self.events.flush()

    def count(self, key):
        with self.lock:
            self.counts[key] += 1

    def __call__(self, environ, start_response):
        if (environ['REQUEST_METHOD'], environ['PATH_INFO']) != (
                'POST', '/track'):
            return self.respond(start_response, '404 Not Found',
                                {'error': 'not found'})
        length = int(environ.get('CONTENT_LENGTH') or 0)
        request = json.loads(environ['wsgi.input'].read(length))

        def work(storage):
            trackId = storage.saveUserTrack(
                request['task'], 0, request['user'],
                {'request': request['request']},
                timeStamp=request['request'])
            if request.get('fail'):
                raise RequestFailed('request %d fails on purpose after '
                                    'saving %s' % (request['request'],
                                                   trackId))
            return trackId
        try:
            trackId = run_in_transaction(
                self.db, work, attempts=50,
                on_retry=lambda attempt, error: self.count('retries'))
        except RequestFailed as error:
            self.count('failed')
            return self.respond(start_response,
                                '500 Internal Server Error',
                                {'error': str(error)})
        except Exception as error:   # reported to the test as a 500 too
            self.count('errors')
            return self.respond(start_response,
                                '500 Internal Server Error',
                                {'error': repr(error), 'unexpected': True})
        self.count('saved')
        return self.respond(start_response, '200 OK', {'track': trackId})

    def respond(self, start_response, status, body):
        data = json.dumps(body).encode('utf-8')
        start_response(status, [('Content-Type', 'application/json'),
                                ('Content-Length', str(len(data)))])
        return [data]


def main(database, events_path):
    db = open_db(database)
    app = App(db, events_path)
    server = make_server('127.0.0.1', 0, app,
                         server_class=ThreadingWSGIServer,
                         handler_class=QuietHandler)
    serving = threading.Thread(target=server.serve_forever,
                               kwargs={'poll_interval': 0.05})
    serving.start()
    print('listening on %d' % server.server_port, flush=True)
    sys.stdin.read()             # until the test closes our stdin
    server.shutdown()
    serving.join()
    server.server_close()        # waits for requests still running
    app.events.close()
    db.close()
    print(json.dumps(app.counts), flush=True)


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
