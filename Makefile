# Two commands do everything on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt pyproject.toml sdk/python/pyproject.toml | sha1sum | cut -c1-12)
DATA_DIR ?= .data
export HOST ?= 127.0.0.1
export PORT ?= 8080

.PHONY: install system-deps browser-deps run start stop test setup doctor

$(PY):
	python3 -m venv $(VENV)

$(STAMP): $(PY) requirements.txt requirements-dev.txt pyproject.toml sdk/python/pyproject.toml
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e . -e sdk/python
	rm -f $(VENV)/.installed-* && touch $(STAMP)

# redis-server comes from Debian; as root we install it, otherwise we say how.
system-deps:
	@if ! command -v redis-server >/dev/null 2>&1 && [ ! -x $(VENV)/bin/redis-server ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing redis-server (apt)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else \
	    echo "redis-server is missing: run 'sudo apt-get install redis-server' or set REDIS_URL"; exit 1; \
	  fi; \
	fi

# The playground's browser tests drive Debian's Chromium; as root we install it, otherwise we say how.
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing chromium (apt)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium is missing: the playground's browser tests need it (sudo apt-get install chromium)"; \
	  fi; \
	fi

# The JavaScript SDK's packages (its tests run under `make test`), again only when its lock file changes.
NPM_STAMP := sdk/js/node_modules/.installed-$(shell sha1sum sdk/js/package-lock.json | cut -c1-12)

$(NPM_STAMP): sdk/js/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix sdk/js --no-audit --no-fund --loglevel=error && touch $(NPM_STAMP); \
	else \
	  echo "npm is missing: the JavaScript SDK's tests need Node.js 20+ and npm (apt-get install nodejs npm)"; \
	fi

install: $(STAMP) system-deps $(NPM_STAMP)

setup: install
	$(VENV)/bin/fluxbase setup

# The Procfile's processes under supervisord (`fluxbase run`): a process that dies is restarted.
run: setup
	@echo "web: http://$(HOST):$(PORT)  (playground: /, admin: /playground/admin, health: /health, websocket: ws://$(HOST):$(PORT)/ai/ws, MCP: http://$(HOST):$${MCP_PORT:-8090}/mcp); Ctrl-C stops everything"
	@# exit code 3: already running in the background, whose services must stay up
	$(VENV)/bin/fluxbase run; rc=$$?; [ $$rc = 3 ] || $(VENV)/bin/fluxbase services stop; exit $$rc

start: setup
	$(VENV)/bin/fluxbase run --background
	$(VENV)/bin/fluxbase health --wait 90
	@echo "web: http://$(HOST):$(PORT) (playground: /)  MCP: http://$(HOST):$${MCP_PORT:-8090}/mcp  logs: $(DATA_DIR)/logs/  stop: make stop"

stop:
	@if [ -x $(VENV)/bin/fluxbase ]; then \
	  $(VENV)/bin/fluxbase stop; rc=$$?; $(VENV)/bin/fluxbase services stop; exit $$rc; \
	fi

doctor: install
	$(VENV)/bin/fluxbase doctor

test: install browser-deps
	$(PY) -m pytest -q $(PYTEST_ARGS)

# The red-team suite at full size (tests/redteam/, docs/security.md); `make test` runs its short version.
# REDTEAM_SEED=<n> replays the fuzzers' random cases.
.PHONY: redteam
redteam: install
	REDTEAM_SCALE=full $(PY) -m pytest -q -p no:cacheprovider tests/redteam $(PYTEST_ARGS)

# The load and soak suites at full size (bench/load.py, bench/soak.py, docs/scaling.md); `make test` runs their
# short versions (tests/load/). SOAK_SECONDS=<n> changes the soak's length (default 10 minutes).
SOAK_SECONDS ?= 600
.PHONY: load soak
load: install
	$(PY) -m bench.load

soak: install
	$(PY) -m bench.soak --seconds $(SOAK_SECONDS)

# The fault suite at full size (tests/faults/, docs/reliability.md); `make test` runs its short version.
# FAULTS_SEED=<n> replays the random points at which the faults strike.
.PHONY: faults
faults: install
	FAULTS_SCALE=full $(PY) -m pytest -q -p no:cacheprovider tests/faults $(PYTEST_ARGS)
