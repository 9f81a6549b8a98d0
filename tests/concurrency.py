"""Firing N requests at the same moment, for the PostgreSQL race tests."""
from __future__ import annotations

import threading


def race(app, n: int, request) -> list[tuple[int, dict]]:
    """Run `request(client, i)` for i in range(n) in n threads released together by a
    barrier; returns (status, JSON body) of every response."""
    barrier = threading.Barrier(n)
    results, lock = [], threading.Lock()

    def worker(i):
        client = app.test_client()
        barrier.wait()
        resp = request(client, i)
        with lock:
            results.append((resp.status_code, resp.get_json()))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
