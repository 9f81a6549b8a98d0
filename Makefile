# Two commands: `make run` (serve the API with demo data) and `make test`.
# Settings come from the environment (see README / .env.example); nothing here
# assumes a database path, host or port.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
FLASK  := $(BIN)/flask --app wsgi

.PHONY: install run serve migrate seed test test-sqlite test-postgres lint bench clean

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

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
test: install test-sqlite test-postgres

test-sqlite: install
	$(BIN)/python -m pytest

test-postgres: install
	TEST_DB=postgres $(BIN)/python -m pytest tests/api tests/db tests/pg

lint: install
	$(BIN)/python -m ruff check app services tests bench || true

bench: install
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .pytest_cache
