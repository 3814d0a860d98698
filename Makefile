# The two commands of the README:  `make main`  and  `make test`.
# Each creates .venv and installs msknb into it first (idempotent: re-installs only when
# pyproject.toml changes).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PROFILE ?= quick
DATA   ?=
OUT    ?= outputs/$(PROFILE)
STAMP  := $(VENV)/.msknb-installed
CHROMIUM ?= /usr/bin/chromium

.PHONY: main test install lab clean-outputs browser-deps test-browser

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(VENV)/bin/python -m pip install -q -e ".[test,browser]"
	@touch $(STAMP)

main: $(STAMP)
	$(VENV)/bin/python -m msknb run --profile $(PROFILE) --out $(OUT) $(if $(DATA),--data $(DATA),)

test: $(STAMP) browser-deps
	$(VENV)/bin/python -m pytest -q

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
