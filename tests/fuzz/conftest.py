"""The fuzz run's tally: requests sent, statuses seen and the distinct failures found.

The test module adds to one `FuzzStats` per pytest session; the summary is printed
at the end of the run and, with FUZZ_REPORT=path, written there as JSON.
"""
from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest


@dataclass
class FuzzStats:
    started: float = field(default_factory=time.monotonic)
    settings: dict = field(default_factory=dict)
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    requests_by_caller: Counter = field(default_factory=Counter)
    # check name -> number of responses that failed it
    failed_responses: Counter = field(default_factory=Counter)
    # signature -> the smallest reproducing request seen, with how often it occurred
    distinct: dict = field(default_factory=dict)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def as_dict(self) -> dict:
        return {
            "settings": self.settings,
            "seconds": round(time.monotonic() - self.started, 1),
            "requests": self.requests,
            "requests_by_caller": dict(self.requests_by_caller),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "responses_5xx": self.server_errors,
            "responses_failing_check": dict(self.failed_responses),
            "distinct_failures": sorted(self.distinct.values(),
                                        key=lambda f: (f["check"], f["operation"], f["caller"])),
        }


STATS_KEY = pytest.StashKey[FuzzStats]()


@pytest.fixture(scope="session")
def fuzz_stats(request) -> FuzzStats:
    stats = request.config.stash.get(STATS_KEY, None)
    if stats is None:
        stats = request.config.stash[STATS_KEY] = FuzzStats()
    return stats


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    stats = config.stash.get(STATS_KEY, None)
    if stats is None or not stats.requests:
        return
    data = stats.as_dict()
    tr = terminalreporter
    tr.section("schemathesis fuzz summary")
    tr.line(f"settings: {json.dumps(data['settings'], ensure_ascii=False)}")
    tr.line(f"requests: {data['requests']} in {data['seconds']} s "
            f"(by caller: {json.dumps(data['requests_by_caller'])})")
    tr.line(f"statuses: {json.dumps(data['statuses'])}")
    tr.line(f"5xx responses: {data['responses_5xx']}")
    tr.line(f"responses failing a check: {json.dumps(data['responses_failing_check'])}")
    tr.line(f"distinct failures: {len(data['distinct_failures'])}")
    per_check = Counter(f["check"] for f in data["distinct_failures"])
    for check, n in sorted(per_check.items()):
        tr.line(f"  {check}: {n}")
    path = os.environ.get("FUZZ_REPORT")
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=1)
        tr.line(f"report written to {path}")
