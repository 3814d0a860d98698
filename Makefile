# The two commands of the README:  `make main`  and  `make test`.
# Each creates .venv and installs msknb into it first (idempotent: re-installs only when
# pyproject.toml changes).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PROFILE ?= quick
DATA   ?=
OUT    ?= outputs/$(PROFILE)
STAMP  := $(VENV)/.msknb-installed
TORCH  := torch==2.14.1 torchvision==0.29.1
PIP    := $(VENV)/bin/python -m pip
# uv installs with pip's resolver results but downloads and unpacks in parallel (a fresh
# .venv in ~1 min instead of ~2.5 on 2 cores, torch's CUDA wheels are ~5 GB unpacked);
# without uv (not installable here) the same install runs with pip.
UV     := $(VENV)/bin/uv pip install -q -p $(VENV)/bin/python --compile-bytecode
CHROMIUM ?= /usr/bin/chromium

.PHONY: main test install lab clean-outputs browser-deps test-browser

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@if $(PIP) install -q uv 2>/dev/null && $(UV) $(TORCH) -e ".[test,browser]"; then echo "installed with uv"; else \
	  echo "uv unavailable: installing with pip"; \
	  $(PIP) install -q --upgrade pip && $(PIP) install -q $(TORCH) && $(PIP) install -q -e ".[test,browser]"; fi
	@touch $(STAMP)

main: $(STAMP)
	$(VENV)/bin/python -m msknb run --profile $(PROFILE) --out $(OUT) $(if $(DATA),--data $(DATA),)

# pytest-xdist: one worker per core (at most 4), whole files per worker (module fixtures run once)
test: $(STAMP) browser-deps
	$(VENV)/bin/python -m pytest -q -n auto --maxprocesses 4 --dist loadfile

# Debian's Chromium for tests/test_browser.py (Playwright drives it; never `playwright install`)
browser-deps:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else echo "note: $(CHROMIUM) missing - 'sudo apt-get install -y chromium' to run the browser test (it skips; fails under CI=true)"; fi; }

test-browser: $(STAMP) browser-deps
	MSKNB_BROWSER_FULL=1 $(VENV)/bin/python -m pytest -q -m browser -s

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean-outputs:
	rm -rf outputs/
