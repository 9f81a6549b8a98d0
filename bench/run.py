"""County-scale benchmark of resident lookups, printed as ratios.

    make bench                                  # SQLite, 20,000 residents
    BENCH_RESIDENTS=100000 make bench
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test make bench

Builds a fresh database through the migrations, loads the demo organisation
plus N generated residents, then times each operation (median of repeats)
and prints it next to a baseline measured in the same run: fetching one
resident by primary key (service level) and GET /healthz (HTTP level). The
ratios, not the milliseconds, are what to compare between machines.
"""
from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import tempfile
import time
import uuid

import sqlalchemy as sa


def median_ms(fn, repeat: int) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def make_app(url: str, engine_options: dict | None):
    from flask_migrate import upgrade

    from app import create_app

    overrides = {"SQLALCHEMY_DATABASE_URI": url, "LOG_LEVEL": "WARNING", "RATELIMIT_ENABLED": False}
    if engine_options:
        overrides["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options
    app = create_app(overrides)
    with app.app_context():
        upgrade(directory=os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations"))
    return app


def _load_residents(app, n: int) -> list[str]:
    from services.core.db import db
    from services.core.idcard import make_id_number
    from services.models import Institution, Resident, ResidentTag

    rng = random.Random(7)
    cipher = app.extensions["pii_cipher"]
    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    given = "秀英桂兰建国建华志强丽娟明军红梅玉兰淑珍海燕春梅小红伟芳娜敏静磊洋勇艳杰娟涛超霞平刚"
    inst_ids = db.session.scalars(sa.select(Institution.id)).all()
    ids, rows, tags = [], [], []
    start_id = (db.session.scalar(sa.select(sa.func.max(Resident.id))) or 0) + 1
    now = dt.datetime.now(dt.timezone.utc)
    for i in range(n):
        birth = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(0, 34000))
        sex = rng.choice(("male", "female"))
        number = make_id_number(f"13{rng.randrange(1000, 9999)}", birth, i % 100, sex)
        rid = start_id + i
        ids.append(number)
        rows.append({"id": rid, "institution_id": rng.choice(inst_ids),
                     "name": rng.choice(surnames) + "".join(rng.choice(given) for _ in range(rng.choice((1, 2)))),
                     "id_number_encrypted": cipher.encrypt(number), "id_number_hash": cipher.lookup_hash(number),
                     "birth_date": birth, "sex": sex, "phone": f"1{rng.choice('3589')}{rng.randrange(10**9):09d}",
                     "village": f"村{rng.randrange(60)}", "floating": False, "sms_opt_out": False,
                     "created_at": now, "updated_at": now})
        if rng.random() < 0.25:
            tags.append({"resident_id": rid, "tag": "hypertension"})
    seen, unique_rows = set(), []
    for r in rows:
        if r["id_number_hash"] not in seen:
            seen.add(r["id_number_hash"])
            unique_rows.append(r)
    for chunk in range(0, len(unique_rows), 5000):
        db.session.execute(sa.insert(Resident), unique_rows[chunk:chunk + 5000])
    valid = {r["id"] for r in unique_rows}
    db.session.execute(sa.insert(ResidentTag), [t for t in tags if t["resident_id"] in valid])
    db.session.commit()
    return ids


def main() -> None:
    n = int(os.environ.get("BENCH_RESIDENTS", "20000"))
    repeat = int(os.environ.get("BENCH_REPEAT", "30"))
    url = os.environ.get("BENCH_DATABASE_URL")
    engine_options = None
    tmp = None
    schema = None
    if url:
        schema = f"fdbench_{uuid.uuid4().hex[:8]}"
        eng = sa.create_engine(url)
        with eng.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        eng.dispose()
        engine_options = {"connect_args": {"options": f"-csearch_path={schema}"}}
    else:
        tmp = tempfile.mkdtemp(prefix="fdbench-")
        url = f"sqlite:///{tmp}/bench.db"
    app = make_app(url, engine_options)
    try:
        _run(app, n, repeat, url)
    finally:
        if schema:
            eng = sa.create_engine(url)
            with eng.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            eng.dispose()


def _run(app, n: int, repeat: int, url: str) -> None:
    from services.access.scope import scope_for_staff
    from services.core.db import db
    from services.core.pagination import paginate
    from services.demo import seed as demo
    from services.models import Resident, Staff
    from services.residents import register as residents

    with app.app_context():
        demo.seed_demo(app.extensions["pii_cipher"])
        db.session.commit()
        t0 = time.perf_counter()
        numbers = _load_residents(app, n)
        load_s = time.perf_counter() - t0
        total = db.session.scalar(sa.select(sa.func.count()).select_from(Resident))
        cipher = app.extensions["pii_cipher"]
        doctor = db.session.scalar(sa.select(Staff).where(Staff.username == "demo_doctor"))
        admin = db.session.scalar(sa.select(Staff).where(Staff.username == "demo_admin"))
        doc_scope, admin_scope = scope_for_staff(doctor), scope_for_staff(admin)
        rng = random.Random(3)
        max_id = db.session.scalar(sa.select(sa.func.max(Resident.id)))

        def by_pk():
            db.session.get(Resident, rng.randrange(1, max_id + 1))
            db.session.expunge_all()

        def page(scope, **filters):
            def run():
                p = paginate(residents.search_residents(scope, cipher, **filters), 1, 20)
                [residents.view(r, cipher) for r in p.items]
                db.session.expunge_all()
            return run

        base = median_ms(by_pk, repeat * 5)
        ops = [
            ("list page 1 (doctor scope)", page(doc_scope)),
            ("list page 1 (community admin)", page(admin_scope)),
            ("search name fragment '王' (doctor)", page(doc_scope, q="王")),
            ("search phone fragment '1381' (doctor)", page(doc_scope, q="1381")),
            ("exact ID number (keyed hash)", page(admin_scope, id_number=numbers[len(numbers) // 2])),
            ("tag=elderly (derived, doctor)", page(doc_scope, tag="elderly")),
            ("tag=hypertension (recorded, doctor)", page(doc_scope, tag="hypertension")),
        ]
        print(f"\nResident lookups: {total} residents on {url.split(':')[0]}, loaded in {load_s:.1f}s, "
              f"median of {repeat} runs")
        print(f"{'operation':42} {'ms':>9} {'x baseline':>11}")
        print(f"{'baseline: fetch one resident by id':42} {base:9.3f} {1.0:11.1f}")
        for name, fn in ops:
            ms = median_ms(fn, repeat)
            print(f"{name:42} {ms:9.3f} {ms / base:11.1f}")

    client = app.test_client()
    token = client.post("/api/v1/auth/staff/login",
                        json={"username": "demo_doctor", "password": "demo-password"}).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    http_base = median_ms(lambda: client.get("/healthz"), repeat)
    print("\nHTTP (in-process test client)")
    print(f"{'baseline: GET /healthz':42} {http_base:9.3f} {1.0:11.1f}")
    for name, path in (("GET /residents (doctor, page 1)", "/api/v1/residents"),
                       ("GET /residents?q=王 (doctor)", "/api/v1/residents?q=%E7%8E%8B"),
                       ("GET /residents/{id} (doctor)", None)):
        if path is None:
            with app.app_context():
                rid = db.session.scalar(
                    residents.search_residents(doc_scope, cipher).with_only_columns(Resident.id).limit(1))
            path = f"/api/v1/residents/{rid}"
        ms = median_ms(lambda p=path: client.get(p, headers=headers), repeat)
        print(f"{name:42} {ms:9.3f} {ms / http_base:11.1f}")


if __name__ == "__main__":
    main()
