# The two commands of the README:  `make main`  and  `make test`.
# Each creates .venv and installs msknb into it first (idempotent: re-installs only when
# pyproject.toml changes).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PROFILE ?= quick
DATA   ?=
OUT    ?= outputs/$(PROFILE)
STAMP  := $(VENV)/.msknb-installed

.PHONY: main test install lab clean-outputs

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(VENV)/bin/python -m pip install -q -e ".[test]"
	@touch $(STAMP)

main: $(STAMP)
	$(VENV)/bin/python -m msknb run --profile $(PROFILE) --out $(OUT) $(if $(DATA),--data $(DATA),)

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean-outputs:
	rm -rf outputs/
