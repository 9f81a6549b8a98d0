# Two commands: `make run` (serve the API with demo data) and `make test`.
# Settings come from the environment (see README / .env.example); nothing here
# assumes a database path, host or port.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt | cksum | cut -d' ' -f1)
DEVSTAMP := $(VENV)/.dev-installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
FLASK  := $(BIN)/flask --app wsgi

.PHONY: install install-dev run serve migrate seed test test-sqlite test-postgres test-client lint fuzz bench clean

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

$(DEVSTAMP): $(STAMP) requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.dev-installed-*
	@touch $(DEVSTAMP)

install-dev: $(DEVSTAMP)

migrate: install
	$(FLASK) db upgrade

seed: install
	$(FLASK) catalog load
	$(FLASK) demo seed

run: migrate seed serve

serve: install
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

# SQLite: the whole suite. PostgreSQL: the API and PostgreSQL tests again
# (skipped where no server is reachable, a failure under CI=true).
test: install-dev lint test-sqlite test-postgres test-client

test-sqlite: install
	$(BIN)/python -m pytest

test-postgres: install
	TEST_DB=postgres $(BIN)/python -m pytest tests/api tests/db tests/pg

# The mini-program's TypeScript client (clients/miniprogram): npm ci from the committed lock
# file, then Node's test runner against the real API (and the generated types' drift check).
# Skipped with a message where npm is missing, a failure under CI=true.
test-client: install
	@if command -v npm >/dev/null 2>&1; then \
		cd clients/miniprogram && npm ci --no-audit --no-fund --loglevel=error && npm test; \
	elif [ "$${CI:-}" = "true" ]; then echo "test-client: CI=true but no npm found" >&2; exit 1; \
	else echo "test-client: no npm found: the client's tests (clients/miniprogram) are skipped"; fi

# Fails on any finding. bandit -ll reports medium and high severity; an accepted
# finding carries `# nosec BXXX - reason` on its line.
lint: install-dev
	$(BIN)/python -m ruff check app services tests bench migrations wsgi.py
	$(BIN)/python -m bandit -q -ll -r app services

# Schemathesis against the app's own OpenAPI document, every operation as four
# callers, random data (`make test` runs the same file with a few derandomized
# examples). FUZZ_SEED=<seed from the summary> replays a run; the summary and
# every distinct failure go to $(FUZZ_REPORT).
FUZZ_EXAMPLES ?= 50
FUZZ_REPORT   ?= instance/fuzz-report.json
fuzz: install-dev
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_RANDOM=1 FUZZ_REPORT=$(FUZZ_REPORT) \
		$(BIN)/python -m pytest tests/fuzz -q

# Every benchmark at a small scale: resident lookups (SQLite unless BENCH_DATABASE_URL), the county
# benchmarks at 2 % (PostgreSQL), then 20 s of HTTP load on gunicorn
# against PostgreSQL (bench/load.py; skipped with a message where none is reachable).
# County scale: see bench/README.md.
PG_REACHABLE = $(BIN)/python -c "import os, sqlalchemy as sa; sa.create_engine(os.environ.get('BENCH_DATABASE_URL') or 'postgresql+psycopg://postgres@127.0.0.1:5432/test').connect().close()"

bench: install
	$(BIN)/python -m bench.run
	@if $(PG_REACHABLE) 2>/dev/null; then \
		BENCH_SCALE=$${BENCH_SCALE:-0.02} BENCH_REPEAT=$${BENCH_REPEAT:-3} $(BIN)/python -m bench.worklist && \
		BENCH_SCALE=$${BENCH_SCALE:-0.02} BENCH_REPEAT=$${BENCH_REPEAT:-3} BENCH_SMS_MESSAGES=$${BENCH_SMS_MESSAGES:-40} $(BIN)/python -m bench.reminders && \
		BENCH_SCALE=$${BENCH_SCALE:-0.02} BENCH_REPEAT=$${BENCH_REPEAT:-3} $(BIN)/python -m bench.sync && \
		BENCH_SCALE=$${BENCH_SCALE:-0.02} BENCH_REPEAT=$${BENCH_REPEAT:-3} $(BIN)/python -m bench.overview; \
	else echo "bench: no PostgreSQL reachable: the county benchmarks (worklist, reminders, sync, overview) are skipped"; fi
	BENCH_LOAD_SECONDS=$${BENCH_LOAD_SECONDS:-20} BENCH_LOAD_SKIP_UNREACHABLE=1 $(BIN)/python -m bench.load

clean:
	rm -rf $(VENV) .pytest_cache
