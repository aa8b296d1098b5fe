# Two commands do everything on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt pyproject.toml | sha1sum | cut -c1-12)
DATA_DIR ?= .data
export HOST ?= 127.0.0.1
export PORT ?= 8080

.PHONY: install system-deps run start stop test setup doctor

$(PY):
	python3 -m venv $(VENV)

$(STAMP): $(PY) requirements.txt requirements-dev.txt pyproject.toml
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
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

install: $(STAMP) system-deps

setup: install
	$(VENV)/bin/fluxbase setup

run: setup
	@echo "web: http://$(HOST):$(PORT)  (health: /health, websocket: ws://$(HOST):$(PORT)/ai/ws); Ctrl-C stops everything"
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/honcho start -f Procfile web worker beat; \
	  $(VENV)/bin/fluxbase services stop

start: setup
	@mkdir -p $(DATA_DIR)
	@if [ -f $(DATA_DIR)/honcho.pid ] && kill -0 $$(cat $(DATA_DIR)/honcho.pid) 2>/dev/null; then \
	  echo "already running (pid $$(cat $(DATA_DIR)/honcho.pid))"; \
	else \
	  PATH=$(CURDIR)/$(VENV)/bin:$$PATH setsid $(VENV)/bin/honcho start -f Procfile web worker beat \
	    > $(DATA_DIR)/processes.log 2>&1 < /dev/null & echo $$! > $(DATA_DIR)/honcho.pid; \
	fi
	$(VENV)/bin/fluxbase health --wait 90
	@echo "web: http://$(HOST):$(PORT)  logs: $(DATA_DIR)/processes.log  stop: make stop"

stop:
	@if [ -f $(DATA_DIR)/honcho.pid ]; then \
	  pid=$$(cat $(DATA_DIR)/honcho.pid); \
	  kill -TERM -- -$$pid 2>/dev/null || kill -TERM $$pid 2>/dev/null || true; \
	  for i in $$(seq 1 150); do kill -0 $$pid 2>/dev/null || break; sleep 0.1; done; \
	  kill -KILL -- -$$pid 2>/dev/null || true; \
	  rm -f $(DATA_DIR)/honcho.pid; \
	fi
	@if [ -x $(VENV)/bin/fluxbase ]; then $(VENV)/bin/fluxbase services stop; fi

doctor: install
	$(VENV)/bin/fluxbase doctor

test: install
	$(PY) -m pytest -q $(PYTEST_ARGS)
