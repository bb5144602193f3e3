"""The app server under load, on the loopback interface.

    python benchmarks/web_bench.py [--requests 10000] [--clients 8]
                                   [--batches 5] [--out FILE]
                                   [--client raw|httpx]
                                   [--server HTTP/LOOP ...] [--rounds N]

Against ``cybertools-tracking serve`` in real processes: one on a
FileStorage, then two (``--workers 2``) on a ZEO server. For each:

- *mixed*: ``--clients`` threads, each with a keep-alive HTTP connection,
  send ``--requests`` requests in all, 70% single-track writes (POST
  /tracks) and 30% reads (half a user's last track, half a user's ten
  newest tracks); 200 users split among the clients, 20 tasks, the
  users' goals and the tasks' runs made before. Figures: requests per
  second (all requests over the wall time), latency percentiles, errors
  (non-2xx or failed requests), retries per 1,000 writes (from each
  write's ``X-Attempts``);
- *events*: an SSE client connected to /events throughout the mixed
  run; each user's goal completes stages at 5, 10, 20 and 40 tracks, and
  the completions the client heard are compared with those in the
  outbox: every one exactly once;
- *batch*: ``--batches`` POSTs of 10,000 tracks to /tracks/batch, one
  after the other: tracks per second.

The load generator's clients (``--client``): ``raw`` (the default) is one
``http.client`` keep-alive connection per thread, sending the same
requests with the same headers and JSON bodies as ``httpx`` (one
``httpx.Client`` per thread, the generator of the first figures); httpx
spent 0.52 ms of CPU per request against 0.13-0.17 ms (benchmarks/
RESULTS.md, issue 10 throughput), on the two cores the server needs too. Both ways, each run reports the CPU seconds the load generator
and the app server's processes used (``client_cpu_s``, ``server_cpu_s``).

``--server HTTP/LOOP[@SRC]`` (repeatable) runs the FileStorage case (the
ZEO case with ``--only zeo``) with
uvicorn's HTTP implementation and event loop given (``serve --http
--loop``: ``h11/asyncio``, ``httptools/uvloop``, ``auto/auto``; ``-/-``
passes neither, for versions without the options), one after the other,
``--rounds`` times in turn: before/after in one run. ``@SRC`` serves the
package from another source tree (put first on the server's
``PYTHONPATH``), e.g. an earlier commit's ``src`` from ``git archive``.

Bounded: a run stops after ``--requests`` requests or ``--time-limit``
seconds. The load generator runs on the same machine (2 cores here) and
takes its share of them; compare figures of one run only.
"""

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import httpx

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

TOKEN = 'bench-token'
AUTH = {'Authorization': 'Bearer ' + TOKEN}
TASKS = ['task-%02d' % n for n in range(20)]
USERS = ['user-%03d' % n for n in range(200)]
# Every user's goal: stages at 5, 10, 20 and 40 tracks.
GOAL = {'type': 'CountTracker', 'name': 'stages', 'target': [5, 10, 20, 40],
        'conditions': []}
COMPLETIONS = ('goal.stage_completed', 'goal.all_completed')


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _start_server(db, workers, tmp, server=None):
    env = dict(os.environ)
    if server is not None and server[2]:
        env['PYTHONPATH'] = os.pathsep.join(
            [server[2]] + env.get('PYTHONPATH', '').split(os.pathsep))
    tokens = os.path.join(tmp, 'tokens')
    with open(tokens, 'w') as stream:
        stream.write(TOKEN + '\n')
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, '-m', 'cybertools_tracking', '--db', db, 'serve',
         '--port', str(port), '--workers', str(workers), '--token-file',
         tokens, '--open-reads', '--log-level', 'warning']
        + ([] if server is None or server[0] == '-' else [
            '--http', server[0], '--loop', server[1]]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = 'http://127.0.0.1:%d' % port
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + '/openapi.json').status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError('the app server did not start')


def _cpu_seconds(pid):
    """User and system CPU seconds of process ``pid`` and its children
    (uvicorn's workers), from /proc (Linux); None elsewhere."""
    try:
        ticks = os.sysconf('SC_CLK_TCK')
        stats = {}
        for name in os.listdir('/proc'):
            if name.isdigit():
                try:
                    with open('/proc/%s/stat' % name) as stream:
                        fields = stream.read().rsplit(')', 1)[1].split()
                except OSError:
                    continue
                stats[int(name)] = (int(fields[1]),
                                    int(fields[11]) + int(fields[12]))
    except (OSError, ValueError, AttributeError):
        return None
    family, total = {pid}, 0
    for _ in range(3):      # children and grandchildren
        family |= {p for p, (ppid, _) in stats.items() if ppid in family}
    total = sum(stats[p][1] for p in family if p in stats)
    return total / ticks


def _stop(process):
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class SSEClient(threading.Thread):
    """Collects the goal completions of /events from now on."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url, self.completions, self.ready = url, [], threading.Event()
        self.stop = threading.Event()

    def run(self):
        with httpx.Client(timeout=None) as client:
            with client.stream('GET', self.url + '/events') as response:
                self.ready.set()
                event = {}
                for line in response.iter_lines():
                    if self.stop.is_set():
                        return
                    if not line:
                        if event.get('event') in COMPLETIONS:
                            data = json.loads(event['data'])
                            self.completions.append(
                                (event['id'], data['data']['group_id'],
                                 data['data']['tracker']['stage']))
                        event = {}
                    elif not line.startswith(':'):
                        name, _, value = line.partition(': ')
                        event[name] = value


def _mixed(url, requests, clients, time_limit, seed, kind='raw',
           server_pid=None):
    # A user's requests come from one client, as one person does not act
    # in two places at once (see concurrency_bench.py); so two writes of
    # the same user's goal never overlap.
    rng = random.Random(seed)
    plans = [[] for _ in range(clients)]
    for n in range(requests):
        client = n % clients
        task = rng.choice(TASKS)
        user = rng.choice(USERS[client::clients])
        roll = rng.random()
        if roll < 0.7:
            plans[client].append(('POST', '/tracks', None, {
                'taskId': task, 'userName': user,
                'data': {'page': n, 'score': rng.randint(0, 100)}}))
        elif roll < 0.85:
            plans[client].append(('GET', '/tracks/last',
                                  {'taskId': task, 'userName': user}, None))
        else:
            plans[client].append(('GET', '/tracks', {'userName': user,
                                                     'limit': 10}, None))
    lock = threading.Lock()
    results = []            # (method, seconds, status, attempts)
    deadline = time.monotonic() + time_limit

    def httpx_client(plan):
        with httpx.Client(base_url=url, timeout=60, headers=AUTH) as http:
            for method, path, params, body in plan:
                if time.monotonic() > deadline:
                    return
                start = time.perf_counter()
                try:
                    answer = http.request(method, path, params=params,
                                          json=body)
                    status = answer.status_code
                    attempts = int(answer.headers.get('X-Attempts', 1))
                except httpx.HTTPError:
                    status, attempts = 0, 1
                took = time.perf_counter() - start
                with lock:
                    results.append((method, took, status, attempts))

    def raw_client(plan):
        # The same requests as httpx sends: the query string encoded the
        # same way, the body the same compact JSON, the same headers.
        host, port = url.split('//')[1].split(':')
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            for method, path, params, body in plan:
                if time.monotonic() > deadline:
                    return
                target = path if not params else path + '?' + str(
                    httpx.QueryParams(params))
                headers = dict(AUTH)
                payload = None
                if body is not None:
                    payload = json.dumps(body, separators=(',', ':'),
                                         ensure_ascii=False).encode()
                    headers['Content-Type'] = 'application/json'
                start = time.perf_counter()
                try:
                    connection.request(method, target, payload, headers)
                    answer = connection.getresponse()
                    answer.read()
                    status = answer.status
                    attempts = int(answer.getheader('X-Attempts', 1))
                except (OSError, http.client.HTTPException):
                    connection.close()
                    status, attempts = 0, 1
                took = time.perf_counter() - start
                with lock:
                    results.append((method, took, status, attempts))
        finally:
            connection.close()

    client = raw_client if kind == 'raw' else httpx_client
    threads = [threading.Thread(target=client, args=(plan,))
               for plan in plans]
    cpu = time.process_time()
    server_cpu = None if server_pid is None else _cpu_seconds(server_pid)
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    client_cpu = time.process_time() - cpu
    if server_cpu is not None:
        after = _cpu_seconds(server_pid)
        server_cpu = None if after is None else after - server_cpu
    times = sorted(r[1] for r in results)
    writes = [r for r in results if r[0] == 'POST']
    ok = [r for r in results if r[2] in (200, 404)]   # 404: no last track

    def percentile(p):
        return times[min(len(times) - 1, int(len(times) * p))] * 1000
    return {
        'requests': len(results), 'seconds': round(wall, 2),
        'per_second': round(len(results) / wall),
        'p50_ms': round(percentile(0.50), 1),
        'p95_ms': round(percentile(0.95), 1),
        'p99_ms': round(percentile(0.99), 1),
        'errors': sum(1 for r in results
                      if r not in ok and not (r[0] == 'POST'
                                              and r[2] == 201)),
        'writes': len(writes),
        'retries_per_1000_writes': round(
            1000 * sum(r[3] - 1 for r in writes) / max(len(writes), 1), 2),
        'client': kind,
        # The load generator's whole process (the SSE client included).
        'client_cpu_s': round(client_cpu, 2),
        'server_cpu_s': None if server_cpu is None else round(server_cpu, 2),
        'load_average': [round(x, 2) for x in os.getloadavg()],
    }


def _batches(url, batches, seed):
    rng = random.Random(seed)
    seconds = 0.0
    with httpx.Client(base_url=url, timeout=300, headers=AUTH) as http:
        for n in range(batches):
            tracks = [{'taskId': 'batch-%d' % (i % 20),
                       'userName': rng.choice(USERS), 'data': {'i': i}}
                      for i in range(10_000)]
            start = time.perf_counter()
            answer = http.post('/tracks/batch', json={'tracks': tracks})
            seconds += time.perf_counter() - start
            if answer.status_code != 201:
                raise RuntimeError('batch %d: %s' % (n, answer.text[:300]))
    return {'tracks': batches * 10_000, 'seconds': round(seconds, 2),
            'per_second': round(batches * 10_000 / seconds)}


def run(name, db, workers, args, tmp, server=None):
    process, url = _start_server(db, workers, tmp, server)
    try:
        # Goals and runs made up front: the load is the established phase
        # (a new group or a task's first run is a change writers share).
        with httpx.Client(base_url=url, headers=AUTH) as http:
            for user in USERS:
                answer = http.post('/goals', params={'group': user},
                                   json=GOAL)
                assert answer.status_code == 201, answer.text
            for task in TASKS:
                http.post('/runs', json={'taskId': task})
            start = http.get('/stats').json()['lastEventPosition']
        sse = SSEClient(url)
        sse.start()
        sse.ready.wait(30)
        time.sleep(0.5)
        mixed = _mixed(url, args.requests, args.clients, args.time_limit,
                       seed=1, kind=args.client, server_pid=process.pid)
        # The outbox's completions since the start, all of them.
        stored, since = [], start
        with httpx.Client(base_url=url) as http:
            while True:
                page = http.get('/events/page', params={
                    'since': since, 'limit': 10_000}).json()
                stored += [(e['id'], e['data']['group_id'],
                            e['data']['tracker']['stage'])
                           for e in page['events']
                           if e['type'] in COMPLETIONS]
                if page['last'] == since:
                    break
                since = page['last']
        deadline = time.monotonic() + 30
        while len(sse.completions) < len(stored) and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        sse.stop.set()
        heard = list(sse.completions)
        mixed['completions'] = len(stored)
        mixed['sse_heard'] = len(heard)
        mixed['sse_exactly_once'] = (sorted(heard) == sorted(stored)
                                     and len(set(heard)) == len(heard))
        batch = _batches(url, args.batches, seed=2)
    finally:
        _stop(process)
    return {'name': name, 'mixed': mixed, 'batch': batch}


def _server(spec):
    """``HTTP/LOOP[@SRC]`` as (http, loop, src or None)."""
    kinds, _, src = spec.partition('@')
    http_, loop = kinds.split('/')
    return http_, loop, src or None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--requests', type=int, default=10_000)
    parser.add_argument('--clients', type=int, default=8)
    parser.add_argument('--batches', type=int, default=5)
    parser.add_argument('--time-limit', type=float, default=300)
    parser.add_argument('--only', choices=('file', 'zeo'))
    parser.add_argument('--out', help='also write the results as JSON here')
    parser.add_argument('--client', choices=('raw', 'httpx'), default='raw',
                        help='the load generator\'s HTTP client (default '
                             'raw: http.client)')
    parser.add_argument('--server', action='append', metavar='HTTP/LOOP',
                        help='serve with this uvicorn HTTP implementation '
                             'and loop (e.g. h11/asyncio, httptools/uvloop; '
                             '@SRC: that source tree), in turns; '
                             'repeatable; FileStorage unless --only zeo')
    parser.add_argument('--rounds', type=int, default=1,
                        help='with --server: run the servers in turn this '
                             'many times')
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.join(ROOT, 'tests'))
    from conftest import start_zeo, stop
    results = []
    tmp = tempfile.mkdtemp(prefix='web_bench')
    try:
        if args.server:
            for round_ in range(args.rounds):
                for number, server in enumerate(args.server):
                    place = os.path.join(tmp, 'r%d-s%d' % (round_, number))
                    name = '%s, round %d' % (server, round_ + 1)
                    if args.only == 'zeo':
                        zeo, uri = start_zeo(os.path.join(place,
                                                          'tracking.fs'))
                        try:
                            results.append(run(
                                '2 processes, ZEO, ' + name, uri, 2, args,
                                tmp, _server(server)))
                        finally:
                            stop(zeo)
                    else:
                        results.append(run(
                            '1 process, FileStorage, ' + name,
                            os.path.join(place, 'tracking.fs'), 1, args,
                            tmp, _server(server)))
                    print(json.dumps(results[-1]), flush=True)
        elif args.only in (None, 'file'):
            results.append(run('1 process, FileStorage',
                               os.path.join(tmp, 'file', 'tracking.fs'), 1,
                               args, tmp))
            print(json.dumps(results[-1]), flush=True)
        if args.only in (None, 'zeo') and not args.server:
            zeo, uri = start_zeo(os.path.join(tmp, 'zeo', 'tracking.fs'))
            try:
                results.append(run('2 processes, ZEO', uri, 2, args, tmp))
            finally:
                stop(zeo)
            print(json.dumps(results[-1]), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.out:
        with open(args.out, 'w') as stream:
            json.dump(results, stream, indent=2)
    return results


if __name__ == '__main__':
    main()
