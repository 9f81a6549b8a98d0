"""Two staff registering the same ID number at the same moment: the unique
index decides, one gets 201, the other 409 RESIDENT_EXISTS, never a 500."""
from __future__ import annotations

import threading

from sqlalchemy import func, select

from services.core.db import db
from services.models import Resident
from tests.factories import login


def test_same_id_registered_concurrently(app, world):
    client = app.test_client()
    headers = login(client, "doctor_a")
    barrier = threading.Barrier(8)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def register(i):
        c = app.test_client()
        barrier.wait()
        r = c.post("/api/v1/residents", headers=headers,
                   json={"name": f"并发{i}", "id_number": "11010519491231002X"})
        with lock:
            results.append((r.status_code, r.get_json()))

    threads = [threading.Thread(target=register, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(code for code, _ in results)
    assert codes == [201] + [409] * 7, results
    assert all(body["code"] == "RESIDENT_EXISTS" for code, body in results if code == 409)
    assert db.session.scalar(select(func.count()).select_from(Resident)) == 1
