"""HTTP load on a real gunicorn (PostgreSQL): a realistic mix of the API's busiest
requests, each next to GET /healthz measured in the same run, and the workers' memory.

    .venv/bin/python -m bench.load                                   # 5 minutes, 3,000 more residents
    BENCH_LOAD_SECONDS=30 .venv/bin/python -m bench.load             # a quick run
    BENCH_WORKERS=2 BENCH_THREADS=4 .venv/bin/python -m bench.load   # gunicorn.conf.py's default on 2 cores

1. Data: a temporary PostgreSQL schema gets the migrations, the package catalog and the
   demo county through the commands `make run` uses (`flask --app wsgi db upgrade`,
   `catalog load`, `demo seed`), run as subprocesses with the server's own environment
   (the schema reaches them, and gunicorn, as PGOPTIONS=-csearch_path=...). Then
   BENCH_LOAD_RESIDENTS (3,000) more residents of the demo villages, with real encrypted
   ID numbers and phones, are added in batches; the chronic-disease patients among them
   (about one in four) get an enrolment with their village's team and a year of
   quarterly follow-ups, in set-based SQL; the sync feed is rebuilt from the tables.
2. Server: gunicorn with the real gunicorn.conf.py (SCHEDULER_WITH_WEB=0,
   WEB_CONCURRENCY=BENCH_WORKERS (1), GUNICORN_THREADS=BENCH_THREADS (8)) on a free
   loopback port, console SMS, its log in a temporary file.
3. Sign-in over HTTP: the four team leads by password; two residents per client by SMS
   code (the console channel's `[SMS] …` line is read from the server's log).
4. Phases, each driven by BENCH_LOAD_CLIENTS (8) client threads in a closed loop, each
   with its own keep-alive connection and a timeout on every request
   (BENCH_LOAD_TIMEOUT, 10 s); every client stops at its phase's deadline, and after at
   most 1,000 requests per second of the phase:
   - warm-up: the mix for BENCH_LOAD_WARMUP_SECONDS (5), not counted; then the workers'
     RSS is read (VmRSS in /proc/<pid>/status of the master's children);
   - the mix for BENCH_LOAD_SECONDS (300), weights in MIX: the doctors' worklist,
     resident search (GET /residents?q=), the residents' slots and /me, a booking
     (POST /appointments, cancelled at once so no session fills up), a doctor's
     follow-up visit for a hypertension patient of their team (POST /followups) and a
     doctor's delta sync pull from their last cursor (GET /sync/pull, gzip); then the
     RSS again;
   - alone: GET /healthz, then each op of the mix by itself, then GET /healthz again,
     BENCH_LOAD_ALONE_SECONDS each (a twentieth of the run, 5 to 30 s), as wrk against
     one URL measures it. The baseline is GET /healthz in these phases of its own (not
     interleaved with the mix), before and after the others, pooled.

The table: one row per endpoint (method and path template) with, in the mix, its
count, req/s, p50/p99 latency and errors (non-2xx answers or exceptions; the first
error body is shown); then its req/s alone and that divided by GET /healthz's req/s
alone (`x healthz`). Compare the ratios, not req/s, between machines. A line
`RSS start … MB end … MB (+x %)` gives the workers' memory over the mix. The schema is
dropped at the end, also on failure (and on SIGTERM).

BENCH_DATABASE_URL (default the tests' PostgreSQL) picks the server. Where no PostgreSQL
is reachable the run fails, or with BENCH_LOAD_SKIP_UNREACHABLE=1 (as `make bench`
sets) it says so and exits 0, except under CI=true.
"""
from __future__ import annotations

import datetime as dt
import gzip
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zoneinfo
from dataclasses import dataclass, field
from urllib.parse import quote

import sqlalchemy as sa

from bench.worklist import DEFAULT_URL, private_schema

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "127.0.0.1"
DEMO_PASSWORD = "demo-password"  # services.demo.seed.DEMO_PASSWORD
LOCAL_AREA_CODE = "131122"       # the demo county's ID-number area code
PROGRAMS = ("hypertension", "diabetes", "mental_disorder")
# op -> weight; an op is one request, the booking is two (book, then cancel)
MIX = (("worklist", 15), ("residents", 20), ("slots", 15), ("me", 15), ("booking", 5), ("followup", 10),
       ("sync_pull", 10))
ENDPOINTS = ("GET /worklist", "GET /residents", "GET /slots", "GET /me", "POST /appointments",
             "POST /appointments/{id}/cancel", "POST /followups", "GET /sync/pull")
# each op alone in a phase of its own, in this order (the booking phase gives both its endpoints)
ALONE = ("worklist", "residents", "slots", "me", "booking", "followup", "sync_pull")
ALONE_NOTE = "a booking and its cancel alternate, so both show the pairs per second"
SEARCH_TERMS = ("王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "1390", "1385", "建", "秀英")
SURNAMES = "王王王李李李张张张刘刘陈陈杨杨黄赵赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN_MALE = ("建国", "国庆", "振华", "德福", "长林", "建军", "海涛", "志强", "卫东", "立新", "伟", "勇", "军", "浩", "鹏",
              "磊", "子轩", "宇航", "俊杰", "明")
GIVEN_FEMALE = ("桂英", "秀英", "玉兰", "淑珍", "凤英", "丽娟", "红梅", "海燕", "小红", "静", "敏", "霞", "婷婷", "雪",
                "佳怡", "欣怡", "梓涵", "芳", "丽华", "玉梅")


def _env_int(name: str, default: int) -> int:
    raw = (os.environ.get(name) or "").strip()
    return int(raw) if raw else default


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


# --- data -------------------------------------------------------------------------------

def _run_flask(env: dict, *args: str) -> str:
    """One `flask --app wsgi ...` command with the server's environment."""
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-2000:]}"
                           f"\n{done.stderr[-4000:]}")
    return done.stdout


@dataclass
class Data:
    residents: int = 0
    enrolments: int = 0
    followups: int = 0
    slots: int = 0
    # team id -> (lead username, hypertension patients' resident ids)
    teams: dict[int, tuple[str, list[int]]] = field(default_factory=dict)
    # (resident id, national phone, team id) of adults with a phone of their own, for SMS sign-in
    sign_in: list[tuple[int, str, int]] = field(default_factory=list)


def _scale_up(url: str, schema: str, count: int, seed: int = 20261202) -> Data:
    """BENCH_LOAD_RESIDENTS residents in the demo villages, their enrolments and a year of visits."""
    from app import create_app
    from services import sync
    from services.core import clock
    from services.core.db import db
    from services.core.idcard import make_id_number
    from services.models import Resident, ResidentTag

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "LOG_LEVEL": "WARNING",
                      "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"options": f"-csearch_path={schema}"}}})
    rng = random.Random(seed)
    data = Data()
    with app.app_context():
        cipher = app.extensions["pii_cipher"]
        rules_version = app.extensions["followup_rules"].version
        today = clock.today()
        conn = db.session
        teams = conn.execute(sa.text(
            "SELECT t.id, t.institution_id, t.service_area, s.username FROM teams t "
            "JOIN staff s ON s.id = t.lead_doctor_id ORDER BY t.id")).all()
        clinics = conn.execute(sa.text(
            "SELECT id, parent_id, name FROM institutions WHERE type = 'village_clinic'")).all()
        points = dict(conn.execute(sa.text("SELECT village, id FROM round_points WHERE active")).all())
        places = []  # (village, institution id, team id)
        for team in teams:
            for village in (team.service_area or "").split("、"):
                clinic = next((c.id for c in clinics if c.parent_id == team.institution_id and village in c.name), None)
                places.append((village, clinic or team.institution_id, team.id))
        used_hashes = set(conn.scalars(sa.text("SELECT id_number_hash FROM residents")))
        used_phones = set(conn.scalars(sa.text("SELECT phone FROM residents WHERE phone IS NOT NULL")))
        first_id = (conn.scalar(sa.text("SELECT max(id) FROM residents")) or 0) + 1
        now = clock.now()
        rows, tags = [], []
        for i in range(count):
            rid = first_id + i
            age = rng.choice((rng.randint(0, 34), rng.randint(35, 59), rng.randint(35, 59), rng.randint(60, 90)))
            birth = today - dt.timedelta(days=age * 365 + rng.randint(0, 364))
            sex = rng.choice(("male", "female"))
            while True:
                number = make_id_number(LOCAL_AREA_CODE, birth, rng.randint(0, 99), sex)
                number_hash = cipher.lookup_hash(number)
                if number_hash not in used_hashes:
                    used_hashes.add(number_hash)
                    break
            phone = f"139{50_000_000 + i:08d}"
            if phone in used_phones:
                phone = None
            village, institution, team_id = rng.choice(places)
            rows.append({"id": rid, "institution_id": institution,
                         "name": rng.choice(SURNAMES) + rng.choice(GIVEN_MALE if sex == "male" else GIVEN_FEMALE),
                         "id_number_encrypted": cipher.encrypt(number), "id_number_hash": number_hash,
                         "birth_date": birth, "sex": sex, "phone": phone, "village": village,
                         "address": f"青禾县{village}{rng.randint(1, 168)}号", "round_point_id": points.get(village),
                         "floating": False, "sms_opt_out": False, "created_at": now, "updated_at": now})
            if age >= 35 and rng.random() < (0.35 if age >= 60 else 0.16):
                tags.append({"resident_id": rid, "tag": "hypertension"})
            if age >= 35 and rng.random() < (0.14 if age >= 60 else 0.07):
                tags.append({"resident_id": rid, "tag": "diabetes"})
            if age >= 16 and rng.random() < 0.015:
                tags.append({"resident_id": rid, "tag": "mental_disorder"})
            if phone and 18 <= age < 65:
                data.sign_in.append((rid, phone, team_id))
        for start in range(0, len(rows), 1000):
            conn.execute(sa.insert(Resident), rows[start:start + 1000])
        if tags:
            conn.execute(sa.insert(ResidentTag), tags)
        params = {"today": today, "first": first_id, "rv": rules_version}
        # Each new patient with the team whose service area names their village.
        conn.execute(sa.text("""
            INSERT INTO program_enrolments (resident_id, team_id, program, disease, diagnosed_on, enrolled_on,
                                            status, system_due_date, next_due_date, created_by_id, created_at,
                                            updated_at)
            SELECT r.id, tm.id, t.tag, CASE WHEN t.tag = 'mental_disorder' THEN 'schizophrenia' END,
                   CAST(:today AS date) - 460 - (r.id * 37 + length(t.tag)) % 700,
                   CAST(:today AS date) - 400 - (r.id * 37 + length(t.tag)) % 700,
                   'active', :today, :today, tm.lead_doctor_id, now(), now()
            FROM residents r
            JOIN resident_tags t ON t.resident_id = r.id AND t.tag IN ('hypertension', 'diabetes', 'mental_disorder')
            JOIN institutions i ON i.id = r.institution_id
            JOIN teams tm ON tm.institution_id IN (i.id, i.parent_id) AND strpos(tm.service_area, r.village) > 0
            WHERE r.id >= :first"""), params)
        # A year of visits: four, 91 days apart, the latest 3 to 112 days ago; readings from a hash.
        conn.execute(sa.text("""
            INSERT INTO followups (enrolment_id, resident_id, team_id, program, visit_date, visit_mode, not_reached,
                                   not_reached_reason, sbp, dbp, heart_rate, fasting_glucose, risk_level, insight,
                                   details, classification, at_target, referral, reasons, next_due_date,
                                   rules_version, recorded_by_id, created_at)
            SELECT id, resident_id, team_id, program, visit_date,
                   CASE WHEN nr THEN 'home' WHEN h < 150 THEN 'phone' WHEN h % 2 = 0 THEN 'clinic' ELSE 'home' END,
                   nr, CASE WHEN nr THEN '外出务工' END,
                   CASE WHEN nr OR program = 'mental_disorder' THEN NULL WHEN good THEN 112 + h % 26
                        ELSE 142 + h % 28 END,
                   CASE WHEN nr OR program = 'mental_disorder' THEN NULL WHEN good THEN 66 + h % 22
                        ELSE 91 + h % 14 END,
                   CASE WHEN nr THEN NULL ELSE 62 + h % 30 END,
                   CASE WHEN nr OR program <> 'diabetes' THEN NULL WHEN good THEN 5.0 + (h % 19) / 10.0
                        ELSE 7.2 + (h % 40) / 10.0 END,
                   CASE WHEN nr OR program <> 'mental_disorder' THEN NULL WHEN good THEN 0 ELSE 1 + h % 2 END,
                   CASE WHEN nr OR program <> 'mental_disorder' THEN NULL WHEN good THEN 'complete'
                        ELSE 'partial' END,
                   CAST('{"symptoms": []}' AS json),
                   CASE WHEN nr THEN NULL WHEN program = 'mental_disorder' THEN
                            CASE WHEN good THEN 'stable' ELSE 'basically_stable' END
                        WHEN good THEN 'controlled' ELSE 'uncontrolled' END,
                   CASE WHEN nr OR program = 'mental_disorder' THEN NULL ELSE good END,
                   'none', CAST('[]' AS json),
                   visit_date + CASE WHEN nr THEN 14 WHEN good THEN 90 WHEN program = 'mental_disorder' THEN 30
                                     ELSE 14 END,
                   :rv, created_by_id, now()
            FROM (
                SELECT e.id, e.resident_id, e.team_id, e.program, e.created_by_id,
                       CAST(:today AS date) - 3 - (e.id * 53) % 110 - 91 * j AS visit_date,
                       (e.id * 7919 + j * 104729) % 1000 AS h,
                       (e.id * 7919 + j * 104729) % 1000 >= 970 AS nr,
                       (e.id * 7919 + j * 104729) % 1000 < 620 AS good
                FROM program_enrolments e CROSS JOIN generate_series(0, 3) AS g(j)
                WHERE e.resident_id >= :first
            ) v"""), params)
        # The plan in force follows the latest visit (the latest reached one for the assessment).
        conn.execute(sa.text("""
            UPDATE program_enrolments e
            SET last_visit_date = v.visit_date, system_due_date = v.next_due_date, next_due_date = v.next_due_date
            FROM (SELECT DISTINCT ON (enrolment_id) enrolment_id, visit_date, next_due_date FROM followups
                  ORDER BY enrolment_id, visit_date DESC, id DESC) v
            WHERE v.enrolment_id = e.id AND e.resident_id >= :first"""), params)
        conn.execute(sa.text("""
            UPDATE program_enrolments e
            SET last_referral = v.referral,
                last_assessment = json_build_object('classification', v.classification, 'at_target', v.at_target,
                                                    'next_due_date', v.next_due_date, 'referral', v.referral,
                                                    'reasons', v.reasons, 'rules_version', v.rules_version)
            FROM (SELECT DISTINCT ON (enrolment_id) * FROM followups WHERE NOT not_reached
                  ORDER BY enrolment_id, visit_date DESC, id DESC) v
            WHERE v.enrolment_id = e.id AND e.resident_id >= :first"""), params)
        conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('residents', 'id'), (SELECT max(id) FROM residents))"))
        sync.rebuild(db.session)
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            for table in ("residents", "resident_tags", "program_enrolments", "followups", "slots", "sync_feed"):
                c.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
        counts = dict(conn.execute(sa.text(
            "SELECT 'residents', count(*) FROM residents UNION ALL "
            "SELECT 'enrolments', count(*) FROM program_enrolments WHERE status = 'active' UNION ALL "
            "SELECT 'followups', count(*) FROM followups UNION ALL SELECT 'slots', count(*) FROM slots")).all())
        data.residents, data.enrolments = counts["residents"], counts["enrolments"]
        data.followups, data.slots = counts["followups"], counts["slots"]
        for team in teams:
            patients = list(conn.scalars(sa.text(
                "SELECT resident_id FROM program_enrolments WHERE team_id = :t AND status = 'active' "
                "AND program = 'hypertension' ORDER BY resident_id"), {"t": team.id}))
            data.teams[team.id] = (team.username, patients)
        db.session.remove()
        db.engine.dispose()
    return data


# --- the server -------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    """gunicorn -c gunicorn.conf.py wsgi:app, in its own process group, its log in a file."""

    def __init__(self, env: dict, log_path: str):
        self.env, self.log_path = env, log_path
        self.port = int(env["PORT"])
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        # --no-control-socket: gunicorn's control socket has one fixed path per user, which a
        # `make run` on the same machine would share; it plays no part in serving.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--no-control-socket", "wsgi:app"],
            cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, workers: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
                conn.request("GET", "/healthz")
                ok = conn.getresponse().status == 200
                conn.close()
            except OSError:
                ok = False
            if ok and len(self.worker_pids()) >= workers:
                return
            time.sleep(0.3)
        raise RuntimeError(f"gunicorn not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        """The master's children: its workers (no scheduler runs with SCHEDULER_WITH_WEB=0)."""
        pids = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                pids.append(int(name))
        return sorted(pids)

    def rss_mb(self) -> dict[int, float]:
        out = {}
        for pid in self.worker_pids():
            try:
                with open(f"/proc/{pid}/status") as f:
                    kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            except (OSError, StopIteration):
                continue
            out[pid] = kb / 1024
        return out

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()


# --- HTTP -------------------------------------------------------------------------------

class Http:
    """One keep-alive connection, no retries (a retried POST could book twice): a request
    that fails is an error and the next one opens a new connection."""

    IDLE_SECONDS = 1.0  # gunicorn closes a kept-alive connection idle for its keepalive (2 s)

    def __init__(self, port: int, timeout: float):
        self.port, self.timeout = port, timeout
        self.conn: http.client.HTTPConnection | None = None
        self.last_used = 0.0

    def request(self, method: str, path: str, token: str | None = None, body: dict | None = None,
                gzip_ok: bool = False) -> tuple[int, bytes]:
        if self.conn is not None and time.monotonic() - self.last_used > self.IDLE_SECONDS:
            self.close()
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if gzip_ok:
            headers["Accept-Encoding"] = "gzip"
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=payload, headers=headers)
            resp = self.conn.getresponse()
            data = resp.read()
            if resp.getheader("Content-Encoding") == "gzip":
                data = gzip.decompress(data)
            if resp.will_close:
                self.close()
        except BaseException:
            self.close()
            raise
        finally:
            self.last_used = time.monotonic()
        return resp.status, data

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# --- callers ----------------------------------------------------------------------------

@dataclass
class Doctor:
    username: str
    team_id: int
    token: str
    patients: list[int]
    cursor: str | None = None


@dataclass
class ResidentCaller:
    resident_id: int
    team_id: int
    token: str
    slots: list[int] = field(default_factory=list)


def _json(status: int, data: bytes, what: str, expect: int = 200) -> dict:
    if status != expect:
        raise RuntimeError(f"{what}: HTTP {status} {data[:500].decode('utf-8', 'replace')}")
    return json.loads(data)


def _sign_in_doctors(http: Http, teams: dict[int, tuple[str, list[int]]]) -> list[Doctor]:
    doctors = []
    for team_id, (username, patients) in teams.items():
        body = _json(*http.request("POST", "/api/v1/auth/staff/login",
                                   body={"username": username, "password": DEMO_PASSWORD}), f"login {username}")
        doctors.append(Doctor(username, team_id, body["access_token"], patients))
        # The first full pull, to the end, as a phone does once; the mix pulls deltas from here.
        while True:
            path = "/api/v1/sync/pull?limit=1000" + (f"&cursor={quote(doctors[-1].cursor)}" if doctors[-1].cursor
                                                     else "")
            page = _json(*http.request("GET", path, token=body["access_token"], gzip_ok=True), "first pull")
            doctors[-1].cursor = page["cursor"]
            if not page["has_more"]:
                break
    return [d for d in doctors if d.patients]


def _sms_code(server: Server, phone: str, timeout: float = 15) -> str:
    pattern = re.compile(rf"\[SMS\] .*to=\+86{phone} .*?(\d{{6}})")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(server.log_path, encoding="utf-8", errors="replace") as f:
            found = [m.group(1) for m in map(pattern.search, f) if m]
        if found:
            return found[-1]
        time.sleep(0.2)
    raise RuntimeError(f"no [SMS] line for {phone} in the server log:\n{server.log_tail()}")


def _sign_in_residents(http: Http, server: Server, candidates: list[tuple[int, str, int]],
                       count: int) -> list[ResidentCaller]:
    by_team: dict[int, list[tuple[int, str, int]]] = {}
    for c in candidates:
        by_team.setdefault(c[2], []).append(c)
    chosen, lists = [], list(by_team.values())
    while len(chosen) < count and any(lists):
        for options in lists:
            if options and len(chosen) < count:
                chosen.append(options.pop(0))
    out = []
    for resident_id, phone, team_id in chosen:
        _json(*http.request("POST", "/api/v1/auth/otp", body={"phone": phone}), f"otp {phone}", expect=202)
        code = _sms_code(server, phone)
        body = _json(*http.request("POST", "/api/v1/auth/resident/login", body={"phone": phone, "code": code}),
                     f"resident login {phone}")
        caller = ResidentCaller(resident_id, team_id, body["access_token"])
        page = _json(*http.request("GET", f"/api/v1/slots?team_id={team_id}&available=true", token=caller.token),
                     "slots")
        caller.slots = [s["id"] for s in page["items"] if s.get("can_book")]
        out.append(caller)
    return out


# --- load -------------------------------------------------------------------------------

@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)  # ms, of the requests answered
    exceptions: int = 0                                    # requests not answered (timeout, reset)
    errors: int = 0                                        # non-2xx answers and exceptions
    first_error: str | None = None

    def add(self, ms: float | None, error: str | None) -> None:
        if ms is None:
            self.exceptions += 1
        else:
            self.latencies.append(ms)
        if error is not None:
            self.errors += 1
            if self.first_error is None:
                self.first_error = error[:400]

    def merge(self, other: Stats) -> None:
        self.latencies += other.latencies
        self.exceptions += other.exceptions
        self.errors += other.errors
        self.first_error = self.first_error or other.first_error

    @property
    def count(self) -> int:
        return len(self.latencies) + self.exceptions


class Client:
    """One caller thread's state: its connection, its residents, the doctors' cursors."""

    def __init__(self, n: int, port: int, timeout: float, doctors: list[Doctor], residents: list[ResidentCaller],
                 today: dt.date):
        self.rng = random.Random(1000 + n)
        self.http = Http(port, timeout)
        self.doctors = [Doctor(d.username, d.team_id, d.token, d.patients, d.cursor) for d in doctors]
        self.residents = residents
        self.bookers = [r for r in residents if r.slots]
        self.today = today.isoformat()
        self.stats: dict[str, Stats] = {}

    def call(self, endpoint: str, method: str, path: str, token: str | None = None, body: dict | None = None,
             gzip_ok: bool = False, expect: tuple[int, ...] = (200,)) -> bytes | None:
        stats = self.stats.setdefault(endpoint, Stats())
        t0 = time.perf_counter()
        try:
            status, data = self.http.request(method, path, token, body, gzip_ok)
        except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
            stats.add(None, f"{type(exc).__name__}: {exc}")
            return None
        ms = (time.perf_counter() - t0) * 1000
        ok = status in expect
        stats.add(ms, None if ok else f"HTTP {status} {data[:300].decode('utf-8', 'replace')}")
        return data if ok else None

    # the ops of MIX
    def worklist(self) -> None:
        self.call("GET /worklist", "GET", "/api/v1/worklist", self.rng.choice(self.doctors).token)

    def residents_search(self) -> None:
        q = quote(self.rng.choice(SEARCH_TERMS))
        self.call("GET /residents", "GET", f"/api/v1/residents?q={q}", self.rng.choice(self.doctors).token)

    def slots(self) -> None:
        r = self.rng.choice(self.residents)
        self.call("GET /slots", "GET", f"/api/v1/slots?team_id={r.team_id}", r.token)

    def me(self) -> None:
        self.call("GET /me", "GET", "/api/v1/me", self.rng.choice(self.residents).token)

    def booking(self) -> None:
        if not self.bookers:
            return self.me()
        r = self.rng.choice(self.bookers)
        data = self.call("POST /appointments", "POST", "/api/v1/appointments", r.token,
                         {"slot_id": self.rng.choice(r.slots), "reason": "复查血压"}, expect=(201,))
        if data is not None:
            self.call("POST /appointments/{id}/cancel", "POST", f"/api/v1/appointments/{json.loads(data)['id']}/cancel",
                      r.token, {"reason": "时间冲突，改天再约"})
        return None

    def followup(self) -> None:
        d = self.rng.choice(self.doctors)
        good = self.rng.random() < 0.6
        self.call("POST /followups", "POST", "/api/v1/followups", d.token,
                  {"resident_id": self.rng.choice(d.patients), "program": "hypertension", "visit_date": self.today,
                   "visit_mode": self.rng.choice(("clinic", "home", "phone")),
                   "sbp": self.rng.randint(112, 138) if good else self.rng.randint(142, 170),
                   "dbp": self.rng.randint(66, 88) if good else self.rng.randint(91, 104),
                   "heart_rate": self.rng.randint(60, 92)}, expect=(201,))

    def sync_pull(self) -> None:
        d = self.rng.choice(self.doctors)
        data = self.call("GET /sync/pull", "GET", f"/api/v1/sync/pull?cursor={quote(d.cursor)}", d.token,
                         gzip_ok=True)
        if data is not None:
            d.cursor = json.loads(data)["cursor"]

    def healthz(self) -> None:
        self.call("GET /healthz", "GET", "/healthz")

    def op(self, name: str):
        return {"worklist": self.worklist, "residents": self.residents_search, "slots": self.slots, "me": self.me,
                "booking": self.booking, "followup": self.followup, "sync_pull": self.sync_pull,
                "healthz": self.healthz}[name]


def run_phase(clients: list[Client], ops: tuple[tuple[str, int], ...], seconds: float) -> tuple[dict, float]:
    """Every client runs the weighted ops back to back until the deadline (and at most
    1,000 requests per second of the phase); returns the merged stats and the elapsed time."""
    for c in clients:
        c.stats = {}
    names, weights = [n for n, _ in ops], [w for _, w in ops]
    limit = max(100, int(seconds * 1000))
    start = time.monotonic()
    deadline = start + seconds

    def loop(c: Client) -> None:
        done = 0
        while done < limit and time.monotonic() < deadline:
            c.op(c.rng.choices(names, weights)[0])()
            done += 1

    threads = [threading.Thread(target=loop, args=(c,), daemon=True) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 4 * clients[0].http.timeout + 10)
    if any(t.is_alive() for t in threads):
        raise RuntimeError("a client did not stop after its deadline and request timeout")
    elapsed = time.monotonic() - start
    merged: dict[str, Stats] = {}
    for c in clients:
        for name, s in c.stats.items():
            merged.setdefault(name, Stats()).merge(s)
    return merged, elapsed


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


# --- main -------------------------------------------------------------------------------

def _reachable(url: str) -> str | None:
    try:
        eng = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        eng.dispose()
        return None
    except Exception as exc:  # noqa: BLE001
        return str(exc).strip().splitlines()[0]


def _interrupted(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    shown = sa.engine.make_url(url).render_as_string(hide_password=True)
    why = _reachable(url) if url.startswith("postgresql") else "not a PostgreSQL URL"
    if why is not None:
        message = f"bench.load needs PostgreSQL ({shown}: {why})"
        if os.environ.get("BENCH_LOAD_SKIP_UNREACHABLE") == "1" and not _ci():
            print(message + " - skipped")
            return
        sys.exit(message)
    # SIGTERM (a CI timeout, kill <pid>) unwinds like Ctrl-C, so the server stops and the schema goes.
    signal.signal(signal.SIGTERM, _interrupted)
    started = time.perf_counter()
    try:
        with private_schema(url, "loadbench", "bench.load") as (schema, _shown):
            tmp = tempfile.mkdtemp(prefix="fdoc-load-")
            try:
                _run(url, schema, shown, tmp)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except KeyboardInterrupt as exc:
        sys.exit(f"\nbench.load interrupted ({exc or 'Ctrl-C'}): server stopped, schema dropped")
    print(f"\ntotal runtime {time.perf_counter() - started:.0f}s (schema {schema} dropped)")


def _run(url: str, schema: str, shown: str, tmp: str) -> None:
    seconds = _env_int("BENCH_LOAD_SECONDS", 300)
    n_residents = _env_int("BENCH_LOAD_RESIDENTS", 3000)
    n_clients = max(1, _env_int("BENCH_LOAD_CLIENTS", 8))
    workers, threads = _env_int("BENCH_WORKERS", 1), _env_int("BENCH_THREADS", 8)
    warmup = _env_int("BENCH_LOAD_WARMUP_SECONDS", 5)
    alone_s = max(1, _env_int("BENCH_LOAD_ALONE_SECONDS", min(30, max(5, seconds // 20))))
    timeout = float(os.environ.get("BENCH_LOAD_TIMEOUT") or 10)
    total = warmup + seconds + alone_s * (len(ALONE) + 2)
    pgoptions = f"{os.environ.get('PGOPTIONS', '')} -csearch_path={schema}".strip()
    env = {**os.environ, "DATABASE_URL": url, "PGOPTIONS": pgoptions, "APP_ENV": "development",
           "SMS_BACKEND": "console", "SCHEDULER_WITH_WEB": "0", "WEB_CONCURRENCY": str(workers),
           "GUNICORN_THREADS": str(threads), "HOST": HOST, "PORT": str(_free_port()), "PYTHONUNBUFFERED": "1",
           # Sign-in is set-up, not load: many residents sign in from one address, and with a
           # Redis limiter (RATELIMIT_STORAGE_URI from the environment) the same phones again
           # in the next run. Limits of their own are keys of their own, apart from a server's.
           "OTP_RATE_LIMIT_PER_IP": "100000 per hour", "OTP_RATE_LIMIT_PER_PHONE": "1000 per minute",
           "JWT_ACCESS_MINUTES": str(max(15, total // 60 + 15))}

    t0 = time.perf_counter()
    _run_flask(env, "db", "upgrade")
    _run_flask(env, "catalog", "load")
    _run_flask(env, "demo", "seed")
    demo_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    data = _scale_up(url, schema, n_residents)
    scale_s = time.perf_counter() - t0

    server = Server(env, os.path.join(tmp, "gunicorn.log"))
    try:
        server.wait_ready(workers)
        setup = Http(server.port, timeout)
        doctors = _sign_in_doctors(setup, data.teams)
        residents = _sign_in_residents(setup, server, data.sign_in, 2 * n_clients)
        setup.close()
        if not doctors or not residents:
            raise RuntimeError("no doctor with patients or no resident signed in")
        zone = zoneinfo.ZoneInfo(os.environ.get("TIMEZONE") or "Asia/Shanghai")
        today = dt.datetime.now(zone).date()
        clients = [Client(i, server.port, timeout, doctors, residents[i::n_clients] or residents, today)
                   for i in range(n_clients)]

        print(f"\nHTTP load: gunicorn ({workers} worker{'s' if workers > 1 else ''} × {threads} threads, "
              f"gunicorn.conf.py) on {shown}, schema {schema}")
        print(f"data: {data.residents:,} residents ({n_residents:,} added), {data.enrolments:,} enrolments, "
              f"{data.followups:,} follow-ups, {data.slots} sessions; built in {demo_s:.0f}s (migrations, "
              f"catalog, demo seed) + {scale_s:.0f}s (scale-up)")
        print(f"callers: {len(doctors)} doctors, {len(residents)} residents "
              f"({sum(1 for r in residents if r.slots)} with a bookable session); {n_clients} clients, "
              f"keep-alive, timeout {timeout:g}s per request")
        print(f"phases: warm-up {warmup}s (the mix, not counted), the mix {seconds}s ("
              + ", ".join(f"{n} {w}" for n, w in MIX) + f"), then each alone {alone_s}s: GET /healthz, "
              "every endpoint, GET /healthz again", flush=True)

        warm, _ = run_phase(clients, MIX, warmup)
        rss_start = server.rss_mb()
        mix, mix_s = run_phase(clients, MIX, seconds)
        rss_end = server.rss_mb()
        alone = {}
        health = [run_phase(clients, (("healthz", 1),), alone_s)]
        for op in ALONE:
            stats, elapsed = run_phase(clients, ((op, 1),), alone_s)
            alone.update({endpoint: (s, elapsed) for endpoint, s in stats.items()})
        health.append(run_phase(clients, (("healthz", 1),), alone_s))
    except BaseException:
        print(f"\n--- the server's log, last lines ---\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        server.stop()

    _report(health, mix, mix_s, n_clients, warm, alone, rss_start, rss_end)
    with open(server.log_path, encoding="utf-8", errors="replace") as f:
        log = f.read()
    problems = log.count("Traceback") + log.count("[ERROR]") + log.count("[CRITICAL]")
    print(f"server log: {log.count(chr(10)):,} lines, {problems} tracebacks or errors")
    if problems:
        at = min(i for i in (log.find("Traceback"), log.find("[ERROR]"), log.find("[CRITICAL]")) if i >= 0)
        print(log[at:at + 3000])


def _report(health: list[tuple[dict, float]], mix: dict, mix_s: float, n_clients: int, warm: dict,
            alone: dict, rss_start: dict, rss_end: dict) -> None:
    baseline = Stats()
    for stats, _ in health:
        baseline.merge(stats.get("GET /healthz", Stats()))
    health_s = sum(elapsed for _, elapsed in health)
    health_rps = baseline.count / health_s
    header = (f"{'endpoint':31} {'count':>7} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
              f"{'alone req/s':>11} {'x healthz':>9}")
    print("\n" + header)
    print("-" * len(header))

    def row(name: str, s: Stats, elapsed: float, alone_rps: float | None) -> None:
        tail = (f"{alone_rps:11.1f} {alone_rps / health_rps:9.3f}" if alone_rps is not None else "")
        print(f"{name:31} {s.count:7} {s.count / elapsed:7.1f} {_pct(s.latencies, 50):7.2f} "
              f"{_pct(s.latencies, 99):7.2f} {s.errors:6} {tail}")

    row("GET /healthz (alone)", baseline, health_s, health_rps)
    for name in ENDPOINTS:
        s = mix.get(name)
        if s is not None:
            solo = alone.get(name)
            row(name, s, mix_s, solo[0].count / solo[1] if solo else None)
    total = Stats()
    for s in mix.values():
        total.merge(s)
    row("the mix, all requests", total, mix_s, total.count / mix_s)
    before, after = (stats["GET /healthz"].count / elapsed if "GET /healthz" in stats else float("nan")
                     for stats, elapsed in health)
    print(f"count .. errors: in the {mix_s:.0f}s mix, {n_clients} clients. alone req/s: the endpoint alone, "
          f"{n_clients} clients\n  ({ALONE_NOTE}).\n"
          f"x healthz: alone req/s / GET /healthz alone ({health_rps:.0f} req/s: {before:.0f} before the others, "
          f"{after:.0f} after them); the last row: the mix's own req/s / it.")
    alone_errors = [(f"{name} (alone)", s) for name, (s, _) in alone.items()]
    for name, s in [("GET /healthz (alone)", baseline), *sorted(mix.items()), *alone_errors]:
        if s.first_error:
            print(f"first error, {name}, {s.errors} in all: {s.first_error}")
    for name, s in warm.items():
        if s.errors:
            print(f"warm-up errors, {name}: {s.errors}, the first: {s.first_error}")
    start, end = sum(rss_start.values()), sum(rss_end.values())
    growth = (end - start) / start * 100 if start else float("nan")
    per_worker = ", ".join(f"pid {pid} {rss_start.get(pid, 0):.1f} -> {mb:.1f}" for pid, mb in sorted(rss_end.items()))
    print(f"\nRSS start {start:.1f} MB end {end:.1f} MB ({growth:+.1f} %) over the {mix_s:.0f}s mix, "
          f"{len(rss_end)} worker{'s' if len(rss_end) != 1 else ''} ({per_worker})")
    if set(rss_start) != set(rss_end):
        print("  (the worker pids changed during the run: a worker restarted)")


if __name__ == "__main__":
    main()
