#!/usr/bin/python3
"""Scale-out behind nginx, with one instance killed mid-load.

scripts/cluster.sh starts 3 `serve` and 2 `worker` processes, the sandbox and nginx, on a
database of this test's own (on the PostgreSQL of scripts/test.sh) and the shared Redis. Client
threads then run a mixed workload through nginx: campaigns created with an Idempotency-Key,
updated and read back, creatives processed, Amazon DSP syncs, report refreshes and bulk sheets
(jobs and a file). While they run, one `serve` process (one holding a job, when one does) is
stopped for a second (SIGSTOP: requests pile up on it) and then killed with SIGKILL. A client
repeats a request that failed in flight exactly as it was (a POST with its Idempotency-Key), as
the Kargo UI does; it also sends some creates twice with the same key, as a client whose answer
was lost does, and expects the same id back (which also covers an answer lost after the write).
A key whose request died with the process answers 409 "still in progress" until the service
releases it (60 s): the client keeps repeating, so such a run takes about a minute longer.

Afterwards, from the database and the sandbox:
  * every create a client saw acknowledged exists exactly once, with the id the client got, and
    nothing else does (a repeated POST was not written twice); every update is there; a read
    after a write saw the write, whichever instance answered it;
  * every job ended `succeeded` (the killed process's job was taken over: a second attempt), and
    each synced campaign, ad group and creative exists once at Amazon;
  * nginx kept serving: only requests in flight on the killed process failed, only POSTs (nginx
    repeats GET and PUT on another instance itself), and their repeats succeeded.

Before the load it checks what nginx adds: the request id both ways, the health routes, its own
413 in the service's envelope. Run by ctest (tests/CMakeLists.txt) under scripts/test.sh, which
provides DATABASE_URL, REDIS_URL and SECRET_KEY. Standard library only.
"""

import argparse
import datetime
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PSQL = "/usr/lib/postgresql/15/bin/psql"
SERVE, WORKERS = 3, 2
LOAD_BEFORE_KILL = 2.5  # seconds of load before looking for the process to kill
FROZEN = 1.0  # seconds the victim is stopped (SIGSTOP) before SIGKILL
LOAD_AFTER_KILL = 5.0
OP_DEADLINE = 75.0  # how long a client keeps repeating one request
IN_FLIGHT_SLACK = 0.5  # a request started this soon after the kill may still have been routed there
ADVERTISER = "adv-1001"
# Client-side failures that a client repeats: nginx's own answers when an instance failed, and
# the service's 503 (it may answer it while overloaded).
RETRYABLE = {502, 503, 504}


class Failure(Exception):
    pass


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- PostgreSQL -----------------------------------------------------------------------------------

def psql(url, sql):
    r = subprocess.run([PSQL, url, "-v", "ON_ERROR_STOP=1", "-qtA", "-F", "\t", "-c", sql],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise Failure(f"SQL failed: {r.stderr.strip()}\n{sql}")
    return [line.split("\t") for line in r.stdout.splitlines() if line]


def admin_url(base):
    """The superuser connection (trusted on the throw-away PostgreSQL) of DATABASE_URL's server."""
    u = urllib.parse.urlsplit(base)
    return f"postgresql://postgres@{u.hostname}:{u.port or 5432}/postgres"


def with_database(base, name):
    u = urllib.parse.urlsplit(base)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + name, u.query, ""))


# --- HTTP -----------------------------------------------------------------------------------------

class Attempt:
    """One HTTP exchange as a client saw it (monotonic times)."""

    def __init__(self, op, method, path, start, end, status, detail=""):
        self.op, self.method, self.path = op, method, path
        self.start, self.end, self.status, self.detail = start, end, status, detail

    def failed(self):
        return self.status is None or self.status in RETRYABLE

    def __repr__(self):
        return (f"{self.op}: {self.method} {self.path} -> {self.status or 'connection error'} {self.detail} "
                f"[{self.start:.3f}..{self.end:.3f}]")


class Client:
    """One keep-alive connection to nginx; repeats failed requests as a careful client does."""

    def __init__(self, port, token, attempts, lock):
        self.port, self.token = port, token
        self.attempts, self.lock = attempts, lock
        self.conn = None

    def exchange(self, method, path, body=None, headers=None):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        h = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if body is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        try:
            self.conn.request(method, path, body=body, headers=h)
            res = self.conn.getresponse()
            data = res.read()
            if res.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            return res.status, dict(res.getheaders()), data
        except Exception:
            self.conn.close()
            self.conn = None
            raise

    def call(self, op, method, path, payload=None, key=None, ok=(200, 201, 202)):
        """The request until it succeeds: repeated as it was (same body, same Idempotency-Key)
        after a connection error, a 502/503/504 or a 409 "still in progress"."""
        body = json.dumps(payload).encode() if payload is not None else None
        headers = {"Idempotency-Key": key} if key else {}
        deadline = time.monotonic() + OP_DEADLINE
        while True:
            start = time.monotonic()
            try:
                status, hdrs, data = self.exchange(method, path, body, headers)
                detail = ""
            except (OSError, http.client.HTTPException) as e:
                status, hdrs, data, detail = None, {}, b"", type(e).__name__
            end = time.monotonic()
            doc = None
            if data:
                try:
                    doc = json.loads(data)
                except ValueError:
                    doc = None
            if status in RETRYABLE and isinstance(doc, dict):
                detail = doc.get("error", {}).get("message", "")
            in_progress = status == 409 and key and "still in progress" in data.decode(errors="replace")
            with self.lock:
                self.attempts.append(Attempt(op, method, path, start, end, status,
                                             "in progress" if in_progress else detail))
            if status in ok:
                return doc if doc is not None else data
            if status is None or status in RETRYABLE or in_progress:
                if end > deadline:
                    raise Failure(f"{op}: {method} {path} still failing after {OP_DEADLINE:.0f} s ({status} {detail})")
                wait = float(hdrs.get("Retry-After", "0.2")) if in_progress or status == 503 else 0.2
                time.sleep(min(max(wait, 0.1), 2.0))
                continue
            raise Failure(f"{op}: {method} {path} answered {status}: {data[:400]!r}")


def login(port, username, password):
    c = Client(port, None, [], threading.Lock())
    doc = c.call("login", "POST", "/api/auth/token", {"username": username, "password": password}, ok=(200,))
    return doc["data"]["access_token"]


# --- the cluster ----------------------------------------------------------------------------------

def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_block(count):
    """A first port of `count` free consecutive ports, below the ephemeral range."""
    for _ in range(200):
        base = random.randint(20000, 30000 - count)
        if all(port_free(base + i) for i in range(count)):
            return base
    raise Failure("no free block of ports")


class Cluster:
    def __init__(self, binary, work, database_url):
        self.work = work
        self.dir = os.path.join(work, "cluster")
        self.base = free_block(SERVE + WORKERS + 2)
        self.sandbox_port = self.base + SERVE + WORKERS + 1
        self.admin = ("cluster-admin-" + uuid.uuid4().hex[:8], "cluster-password-" + uuid.uuid4().hex)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AMAZON_", "KARGO_", "CLUSTER_", "ADMIN_"))
               and k not in ("PORT", "WORKER_PORT", "HOST")}
        env.update({
            "DATABASE_URL": database_url,
            "SECRET_KEY": os.environ.get("SECRET_KEY") or "cluster-test-secret-key-0123456789abcdef",
            "ADMIN_USERNAME": self.admin[0],
            "ADMIN_PASSWORD": self.admin[1],
            "KARGO_BIN": binary,
            "KARGO_STATE": os.path.join(work, "run.env"),  # leave the checkout's .local/run.env alone
            "KARGO_PG_USER": os.environ.get("KARGO_PG_USER", "kargopg"),
            "RATE_LIMIT_PER_MINUTE": "1000000",
            "JOB_LEASE_SECONDS": "3",
            "JOB_CONCURRENCY": "2",
            "SYNC_INTERVAL_SECONDS": "0",
            "REPORT_INTERVAL_SECONDS": "0",
            "SYNC_RETRY_BACKOFF_SECONDS": "1",
            "REPORT_RETRY_BACKOFF_SECONDS": "1",
            "REPORT_POLL_INITIAL_MS": "100",
            "REPORT_POLL_MAX_MS": "300",
            "UPSTREAM_MAX_RETRIES": "2",
            "DATABASE_POOL_SIZE": "8",
            "IO_THREADS": "2",
            "WEBHOOK_CONCURRENCY": "1",
            "LOG_LEVEL": "info",  # request lines carry the request id (check_proxy)
        })
        self.out = open(os.path.join(work, "cluster.out"), "w")
        # A session of its own: what cluster.sh starts stays together, and a stuck run can be
        # stopped as one group.
        self.proc = subprocess.Popen(
            [os.path.join(ROOT, "scripts", "cluster.sh"), "--serve", str(SERVE), "--workers", str(WORKERS),
             "--port", str(self.base), "--sandbox-port", str(self.sandbox_port), "--dir", self.dir],
            cwd=ROOT, env=env, stdout=self.out, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes = self._wait_ready()

    def _wait_ready(self):
        listing = os.path.join(self.dir, "processes")
        deadline = time.monotonic() + 120
        while not os.path.exists(listing):
            if self.proc.poll() is not None:
                raise Failure(f"cluster.sh exited ({self.proc.returncode}) before it was ready")
            if time.monotonic() > deadline:
                raise Failure("cluster.sh was not ready within 120 s")
            time.sleep(0.2)
        procs = []
        with open(listing) as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                role, index, pid, port, path = line.split(maxsplit=4)
                procs.append({"role": role, "index": int(index), "pid": int(pid), "port": int(port),
                              "log": path.strip()})
        return procs

    def of(self, role):
        return [p for p in self.processes if p["role"] == role]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # its trap stops everything it started
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.out.close()

    def dump(self):
        print("--- cluster.sh output (tail) ---")
        with open(os.path.join(self.work, "cluster.out"), errors="replace") as f:
            print("".join(f.readlines()[-40:]))
        for name in sorted(os.listdir(self.dir)) if os.path.isdir(self.dir) else []:
            if name.endswith(".log"):
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    tail = [line for line in f.readlines() if '"level":"info"' not in line][-8:]
                print(f"--- {name} (last non-info lines) ---\n{''.join(tail)}")


# --- the workload ---------------------------------------------------------------------------------

class Workload:
    def __init__(self, port, token, sandbox_port, prefix):
        self.port, self.token, self.prefix = port, token, prefix
        self.snippet_url = f"http://127.0.0.1:{sandbox_port}/snippet/dm/81298"
        self.lock = threading.Lock()
        self.attempts = []
        self.stop = threading.Event()
        self.errors = []
        # What the clients saw acknowledged.
        self.campaigns = {}  # name -> id
        self.budgets = {}  # id -> budget of the last acknowledged update
        self.creatives = {}  # name -> id
        self.synced = {}  # campaign id -> creative id
        self.job_ids = set()
        self.sheet_ids = set()
        self.stale_reads = []
        self.creates = 0
        self.replay_mismatches = []  # (path, id of the first answer, id of the repeat)

    def client(self):
        return Client(self.port, self.token, self.attempts, self.lock)

    def create(self, c, op, path, body, field="id", always_repeat=False):
        """A POST create with a key of its own. Every third one is sent again with the same key and
        body, as a client does whose answer was lost (it timed out, or the instance died after
        writing): the repeat, most likely answered by another instance, must return the same id."""
        key = str(uuid.uuid4())
        created = c.call(op, "POST", path, body, key=key)["data"][field]
        with self.lock:
            self.creates += 1
            again = always_repeat or self.creates % 3 == 0
        if again:
            repeated = c.call(op + " (repeat)", "POST", path, body, key=key)["data"][field]
            if repeated != created:
                with self.lock:
                    self.replay_mismatches.append((path, created, repeated))
        return created

    def create_creative(self, c, op, name):
        config = {"name": name, "format": "runway", "dimensions": "320x50", "snippet_url": self.snippet_url,
                  "viewability_config": {"phase": "phase_1", "vendors": ["double_verify"]}}
        crv = self.create(c, op, "/api/creatives/process", {"creative_config": config})
        with self.lock:
            self.creatives[name] = crv
        return crv

    def create_campaign(self, c, op, name, budget, creative_ids=()):
        body = {"name": name, "advertiser_id": ADVERTISER, "budget": budget, "start_date": "2030-01-01",
                "end_date": "2030-03-31"}
        if creative_ids:
            body["creative_ids"] = list(creative_ids)
        cid = self.create(c, op, "/api/campaigns", body)
        with self.lock:
            self.campaigns[name] = cid
        return cid

    def run(self, name, fn):
        def body():
            try:
                fn(self.client())
            except Exception as e:  # noqa: BLE001 - any failure of a client thread fails the test
                with self.lock:
                    self.errors.append(f"{name}: {e!r}")
        t = threading.Thread(target=body, name=name)
        t.start()
        return t

    # Creates campaigns, updates each and reads it back (a read after a write, from any instance).
    def writer(self, n):
        def loop(c):
            i = 0
            while not self.stop.is_set():
                i += 1
                cid = self.create_campaign(c, "campaign", f"{self.prefix}-w{n}-{i}", 1000 + i)
                budget = 5000 + i
                c.call("update", "PUT", f"/api/campaigns/{cid}", {"budget": budget}, ok=(200,))
                with self.lock:
                    self.budgets[cid] = budget
                got = c.call("read", "GET", f"/api/campaigns/{cid}", ok=(200,))["data"]["budget"]
                if got != budget:
                    with self.lock:
                        self.stale_reads.append((cid, budget, got))
        return loop

    def creative_writer(self, c):
        i = 0
        while not self.stop.is_set():
            i += 1
            self.create_creative(c, "creative", f"{self.prefix}-crv-{i}")

    def reader(self, c):
        q = urllib.parse.quote(self.prefix)
        while not self.stop.is_set():
            c.call("list", "GET", f"/api/campaigns?limit=20&q={q}", ok=(200,))
            c.call("list", "GET", "/api/jobs?limit=10", ok=(200,))
            c.call("list", "GET", "/api/creatives?limit=10", ok=(200,))
            c.call("health", "GET", "/health/ready", ok=(200,))

    # Starts jobs: a campaign with a creative of its own, synced to Amazon DSP; now and then a
    # report refresh and a bulk sheet (downloaded back through any instance).
    def job_starter(self, c):
        i = 0
        today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
        while not self.stop.is_set():
            i += 1
            crv = self.create_creative(c, "creative", f"{self.prefix}-sync-crv-{i}")
            cid = self.create_campaign(c, "campaign", f"{self.prefix}-sync-{i}", 2000, [crv])
            # The sync route takes no Idempotency-Key: a repeat may queue a second job for the
            # campaign, which must still create nothing twice at Amazon.
            job = c.call("sync", "POST", "/api/integrations/amazon-dsp/sync", {"campaign_ids": [cid]})
            with self.lock:
                self.synced[cid] = crv
                self.job_ids.add(job["data"]["job_id"])
            if i % 3 == 0:
                job_id = self.create(c, "refresh", "/api/reports/refresh", {"start_date": today, "end_date": today},
                                     field="job_id", always_repeat=True)
                with self.lock:
                    self.job_ids.add(job_id)
            if i % 2 == 0:
                sid = self.create(c, "sheet", "/api/bulk/generate-sheet", {"campaign_ids": [cid], "format": "csv"},
                                  field="sheet_id", always_repeat=True)
                with self.lock:
                    self.sheet_ids.add(sid)
                c.call("download", "GET", f"/api/bulk/download/{sid}", ok=(200,))
            self.stop.wait(0.6)


# --- the sandbox's view of Amazon DSP -------------------------------------------------------------

class Amazon:
    def __init__(self, port):
        self.port = port
        form = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": "sandbox-refresh",
                                       "client_id": "sandbox-client", "client_secret": "sandbox-secret"})
        self.token = self.send("POST", "/auth/o2/token", form,
                               {"Content-Type": "application/x-www-form-urlencoded"})["access_token"]

    def send(self, method, path, body, headers, expect=200):
        # A connection per call: minutes may pass between two (the sandbox closes idle ones).
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            res = conn.getresponse()
            data = res.read()
        finally:
            conn.close()
        if res.status != expect:
            raise Failure(f"sandbox {method} {path}: {res.status} {data[:300]!r}")
        return json.loads(data)

    def fault(self, fault):
        self.send("POST", "/_sandbox/faults", json.dumps(fault), {"Content-Type": "application/json"}, expect=201)

    def list(self, path, filters):
        headers = {"Authorization": f"Bearer {self.token}", "Amazon-Advertising-API-ClientId": "sandbox-client",
                   "Amazon-Advertising-API-Scope": "1234567890", "Amazon-Ads-AccountId": ADVERTISER,
                   "Content-Type": "application/json"}
        return self.send("POST", path, json.dumps(filters), headers)


# --- the test -------------------------------------------------------------------------------------

def check_proxy(port, cluster):
    """What nginx adds and passes on: the request id both ways (the client's, else its own), the
    health routes, its own errors in the service's envelope."""
    problems = []
    c = Client(port, None, [], threading.Lock())
    rid = "cluster-check-" + uuid.uuid4().hex[:8]
    status, headers, body = c.exchange("GET", "/health/live", headers={"X-Request-ID": rid})
    if status != 200 or headers.get("X-Request-ID") != rid:
        problems.append(f"X-Request-ID {rid} not passed through: {status} {headers.get('X-Request-ID')}")
    # 401: the service's envelope. With no id, or one the service would not accept, nginx's own.
    status, headers, body = c.exchange("GET", "/api/campaigns")
    own = headers.get("X-Request-ID", "")
    if status != 401 or not re.fullmatch(r"[0-9a-f]{32}", own) or json.loads(body).get("request_id") != own:
        problems.append(f"without X-Request-ID, nginx's id should reach the service: {status} {own} {body[:200]!r}")
    status, headers, body = c.exchange("GET", "/api/campaigns", headers={"X-Request-ID": 'a"b'})
    if not re.fullmatch(r"[0-9a-f]{32}", headers.get("X-Request-ID", "")):
        problems.append(f"an X-Request-ID the service refuses should be replaced by nginx's: {headers}")
    for path in ("/health", "/health/live", "/health/ready", "/health/metrics"):
        status, _, _ = c.exchange("GET", path)
        if status != 200:
            problems.append(f"GET {path} through nginx: {status}")
    def logged(ids, paths):
        deadline = time.monotonic() + 10  # log lines reach the files a little later
        while True:
            text = "".join(open(p, errors="replace").read() for p in paths)
            if all(i in text for i in ids) or time.monotonic() > deadline:
                return all(i in text for i in ids)
            time.sleep(0.2)
    if not logged([rid, own], [p["log"] for p in cluster.of("serve")]):
        problems.append("the request ids are not in the service's logs")
    if not logged([f"rid={rid}", f"rid={own}"], [cluster.of("nginx")[0]["log"]]):
        problems.append("the request ids are not in nginx's access log")
    # A body over the limit: nginx answers from Content-Length, before reading it, in the envelope.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("POST", "/api/creatives")
    conn.putheader("Content-Type", "multipart/form-data; boundary=x")
    conn.putheader("Content-Length", str(64 * 1024 * 1024))
    conn.endheaders()
    res = conn.getresponse()
    doc = json.loads(res.read() or b"{}")
    conn.close()
    if res.status != 413 or doc.get("error", {}).get("code") != "PAYLOAD_TOO_LARGE":
        problems.append(f"a 64 MiB body: {res.status} {doc}")
    return problems


def pick_victim(cluster, db_url):
    """A serve process that holds a running job's lease (so that the kill also interrupts a job),
    else serve 2. Returns it and the ids of the jobs it held."""
    serves = {p["pid"]: p for p in cluster.of("serve")}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        held = {}
        for job_id, owner in psql(db_url, "SELECT id, lease_owner FROM jobs WHERE status = 'running'"):
            m = re.match(r"serve-(\d+)-", owner or "")
            if m and int(m.group(1)) in serves:
                held.setdefault(int(m.group(1)), []).append(job_id)
        if held:
            pid = random.choice(sorted(held))
            return serves[pid], held[pid]
        time.sleep(0.1)
    return cluster.of("serve")[1], []


def verify(w, db_url, amazon, kill_at, held_jobs, port):
    problems = []

    def expect(cond, msg):
        if not cond:
            problems.append(msg)

    expect(not w.errors, f"client threads failed: {w.errors}")
    expect(not w.stale_reads, f"reads after a write did not see it (id, written, read): {w.stale_reads}")
    expect(not w.replay_mismatches, f"repeats with the same Idempotency-Key got another id: {w.replay_mismatches}")

    # Every acknowledged create exactly once, with the id the client got; nothing unacknowledged.
    like = w.prefix.replace("_", r"\_") + "%"
    rows = psql(db_url, f"SELECT name, id, budget FROM campaigns WHERE name LIKE '{like}' ORDER BY name")
    by_name = {}
    for name, cid, budget in rows:
        by_name.setdefault(name, []).append((cid, float(budget)))
    for name, cid in w.campaigns.items():
        got = by_name.get(name, [])
        expect(len(got) == 1, f"campaign {name}: {len(got)} rows, expected exactly 1: {got}")
        expect(got and got[0][0] == cid, f"campaign {name}: client got {cid}, database has {got}")
    extra = sorted(set(by_name) - set(w.campaigns))
    expect(not extra, f"campaigns no client saw acknowledged: {extra}")
    for cid, budget in w.budgets.items():
        got = [b for rows_ in by_name.values() for (i, b) in rows_ if i == cid]
        expect(got == [float(budget)], f"campaign {cid}: budget {got}, the last acknowledged update set {budget}")

    rows = psql(db_url, f"SELECT name, id FROM creatives WHERE name LIKE '{like}'")
    by_name = {}
    for name, crv in rows:
        by_name.setdefault(name, []).append(crv)
    for name, crv in w.creatives.items():
        expect(by_name.get(name) == [crv], f"creative {name}: database has {by_name.get(name)}, client got {crv}")
    extra = sorted(set(by_name) - set(w.creatives))
    expect(not extra, f"creatives no client saw acknowledged: {extra}")

    files = {r[0] for r in psql(db_url, "SELECT id FROM generated_files")}
    expect(files == w.sheet_ids, f"generated files {sorted(files)} != acknowledged sheets {sorted(w.sheet_ids)}")

    # Every job ran to completion; the killed process's jobs were finished by another.
    jobs = {r[0]: r for r in psql(db_url, "SELECT id, kind, status, attempts, coalesce(error, '') FROM jobs")}
    for job_id in w.job_ids:
        expect(job_id in jobs, f"acknowledged job {job_id} is not in the jobs table")
    for job_id, (_, kind, status, attempts, error) in sorted(jobs.items()):
        expect(status == "succeeded", f"job {job_id} ({kind}) ended {status} after {attempts} attempt(s): {error}")
    for job_id in held_jobs:
        attempts = int(jobs[job_id][3]) if job_id in jobs else 0
        expect(attempts >= 2, f"job {job_id}, running on the killed process, shows {attempts} attempt(s), "
                              "expected a second one by another process")

    # Amazon DSP: one campaign, one ad group and one creative per local object, however many
    # sync jobs (and repeats of a killed one) ran for it.
    amazon_ids = dict(psql(db_url, "SELECT id, coalesce(amazon_campaign_id, '') FROM campaigns"))
    for cid, crv in sorted(w.synced.items()):
        campaigns = amazon.list("/dsp/v1/campaigns/list", {"externalIdFilter": [cid]})["campaigns"]
        expect(len(campaigns) == 1, f"Amazon has {len(campaigns)} campaigns for {cid}")
        if len(campaigns) != 1:
            continue
        expect(campaigns[0]["campaignId"] == amazon_ids.get(cid),
               f"{cid}: Amazon campaign {campaigns[0]['campaignId']}, stored {amazon_ids.get(cid)}")
        groups = amazon.list("/dsp/v1/adGroups/list", {"campaignIdFilter": [campaigns[0]["campaignId"]]})["adGroups"]
        expect([g["externalId"] for g in groups] == [f"{cid}:{crv}"],
               f"{cid}: Amazon ad groups {[g['externalId'] for g in groups]}")
        creatives = amazon.list("/dsp/v1/adCreatives/list", {"externalIdFilter": [crv]})["adCreatives"]
        expect(len(creatives) == 1, f"Amazon has {len(creatives)} creatives for {crv}")

    # nginx: failures only for POSTs in flight on the killed process; GET and PUT never failed
    # (nginx repeated them on another instance).
    failed = [a for a in w.attempts if a.failed()]
    for a in failed:
        expect(a.method == "POST", f"a {a.method} failed at the client (nginx should have repeated it): {a}")
        expect(a.start <= kill_at + IN_FLIGHT_SLACK and a.end >= kill_at,
               f"a request failed that was not in flight at the kill ({kill_at:.3f}): {a}")
    # And it still serves, with one instance gone.
    c = Client(port, None, [], threading.Lock())
    for _ in range(20):
        status, _, _ = c.exchange("GET", "/health/live")
        expect(status == 200, f"GET /health/live through nginx after the kill: {status}")
    served_after = [a for a in w.attempts if a.start > kill_at + IN_FLIGHT_SLACK and a.status and a.status < 300]
    expect(served_after, "no request succeeded after the kill")
    return problems, failed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="the kargo-dsp binary")
    args = parser.parse_args()
    args.bin = os.path.abspath(args.bin)
    for name in ("DATABASE_URL", "REDIS_URL"):
        if not os.environ.get(name):
            sys.exit(f"{name} is not set: run me through scripts/test.sh (ctest)")
    if not shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin"):
        sys.exit("nginx is not installed (scripts/lib.sh: ensure_test_packages)")

    started = time.monotonic()
    work = tempfile.mkdtemp(prefix="kargo-cluster-")
    base_url = os.environ["DATABASE_URL"]
    db = "cluster_" + uuid.uuid4().hex[:12]
    psql(admin_url(base_url), f"CREATE DATABASE {db} OWNER {urllib.parse.urlsplit(base_url).username}")
    db_url = with_database(base_url, db)
    cluster = None
    ok = False
    try:
        cluster = Cluster(args.bin, work, db_url)
        port = cluster.base
        log(f"cluster ready in {time.monotonic() - started:.1f} s: nginx on {port}, "
            f"serve {[p['pid'] for p in cluster.of('serve')]}, worker {[p['pid'] for p in cluster.of('worker')]}")
        proxy_problems = check_proxy(port, cluster)
        if proxy_problems:
            raise Failure("\n  ".join(["nginx:"] + proxy_problems))
        token = login(port, *cluster.admin)
        amazon = Amazon(cluster.sandbox_port)
        # Slow ad-group calls keep sync jobs running long enough for the kill to find one.
        amazon.fault({"path_prefix": "/dsp/v1/adGroups", "method": "POST", "delay_ms": 700, "count": 100000})

        w = Workload(port, token, cluster.sandbox_port, "cl" + uuid.uuid4().hex[:6])
        threads = [w.run("writer-1", w.writer(1)), w.run("writer-2", w.writer(2)),
                   w.run("creatives", w.creative_writer), w.run("reader", w.reader),
                   w.run("jobs", w.job_starter)]
        time.sleep(LOAD_BEFORE_KILL)
        victim, held_jobs = pick_victim(cluster, db_url)
        # Frozen first, so that requests pile up on it (nginx keeps sending it its share: the
        # kernel still accepts the connections), then killed with all of them in flight.
        os.kill(victim["pid"], signal.SIGSTOP)
        time.sleep(FROZEN)
        kill_at = time.monotonic()
        os.kill(victim["pid"], signal.SIGKILL)
        log(f"killed serve {victim['index']} (pid {victim['pid']}, port {victim['port']}) "
            f"holding job(s) {held_jobs or 'none'}")
        time.sleep(LOAD_AFTER_KILL)
        w.stop.set()
        for t in threads:
            t.join(OP_DEADLINE + 15)
        log(f"load stopped: {len(w.attempts)} requests, {len(w.campaigns)} campaigns, "
            f"{len(w.creatives)} creatives, {len(w.job_ids)} jobs, {len(w.sheet_ids)} sheets")

        deadline = time.monotonic() + 60
        while psql(db_url, "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')")[0][0] != "0":
            if time.monotonic() > deadline:
                raise Failure("jobs still queued or running 60 s after the load")
            time.sleep(0.3)

        problems, failed = verify(w, db_url, amazon, kill_at, held_jobs, port)
        attempts = psql(db_url, "SELECT attempts, count(*) FROM jobs GROUP BY 1 ORDER BY 1")
        repeats = sum(1 for a in w.attempts if a.detail == "in progress")
        log(f"in-flight failures at the kill: {len(failed)} (all repeated until acknowledged); "
            f"'still in progress' answers: {repeats}; jobs by attempts: {attempts}")
        if problems:
            shown = problems[:25] + ([f"... and {len(problems) - 25} more"] if len(problems) > 25 else [])
            raise Failure("\n  ".join(["the cluster lost or duplicated work:"] + shown))
        ok = True
        log(f"passed in {time.monotonic() - started:.1f} s")
    except Failure as e:
        print(f"FAILED: {e}", flush=True)
    finally:
        if cluster:
            cluster.stop()
            if not ok:
                cluster.dump()
        psql(admin_url(base_url), f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs kept in {work}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
