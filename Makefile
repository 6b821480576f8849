# harborkit developer entry points. `make run` and `make test` work on a fresh
# Debian 12 machine as root: they create .venv and install what they need.
VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
# Debian packages the tests use: a real Docker engine, a real registry, skopeo
# as an independent cross-check, busybox for tiny image rootfs, pigz (dockerd
# uses it to unpack gzip layers), xmllint, debootstrap for the benchmark images,
# minisign to check bundle signatures the way a target would.
DEBS    = docker.io docker-registry skopeo busybox-static pigz libxml2-utils debootstrap minisign iproute2 procps ca-certificates

.PHONY: setup system-deps run test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed

system-deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

run: setup
	$(VENV)/bin/harborkit check

test: setup system-deps
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check harborkit tests bench
	$(VENV)/bin/ruff format --check harborkit tests bench
	$(VENV)/bin/mypy

bench: setup system-deps
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .work build *.egg-info
