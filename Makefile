# Two commands do all set-up on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test serve migrate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: the CPU build; a bare `torch` would pull gigabytes of CUDA.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py demo

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# The portals on http://127.0.0.1:8000/ with one Celery worker (both queues, plus beat for license
# activation and expiry) on the configured broker: the embedded SQLite one unless CELERY_BROKER_URL is set.
serve: migrate
	$(VENV)/bin/celery -A config worker -Q gpu,default -B -c 1 --loglevel=WARNING & \
	trap 'kill $$!' EXIT INT TERM; $(PY) manage.py runserver 127.0.0.1:8000

clean:
	rm -rf $(VENV) data .pytest_cache
