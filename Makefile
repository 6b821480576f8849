# harborkit developer entry points. `make run` and `make test` work on a fresh
# Debian 12 machine as root: they create .venv and install what they need.
VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
# Debian packages the tests use: a real Docker engine, a real registry, skopeo
# as an independent cross-check, busybox for tiny image rootfs, pigz (dockerd
# uses it to unpack gzip layers), xmllint, debootstrap for the benchmark images
# and the sshd test hosts, the OpenSSH client for check --host, chromium to open
# the HTML report headless, minisign to check bundle signatures as a target would,
# docker-compose and nginx-light for the Harbor-shaped stack of the post-install
# tests, GNU time to measure a run's own peak memory.
DEBS    = docker.io docker-compose nginx-light docker-registry skopeo busybox-static pigz libxml2-utils debootstrap iproute2 procps ca-certificates chromium openssh-client minisign time strace

.PHONY: setup system-deps run test test-py39 smoke lint bench clean docs mutation mutation-load

# pip's and setuptools' chatter goes to $(VENV)/setup.log, shown only on failure.
$(VENV)/.installed: pyproject.toml setup.py
	@echo "setting up $(VENV) (log: $(VENV)/setup.log)"
	@$(PYTHON) -m venv $(VENV)
	@{ $(PY) -m pip install --upgrade pip && $(PY) -m pip install -e '.[test]'; } \
	  >$(VENV)/setup.log 2>&1 || { tail -n 40 $(VENV)/setup.log; \
	  echo "make setup failed (full log: $(VENV)/setup.log)"; exit 1; }
	@touch $@

setup: $(VENV)/.installed

system-deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# The report, then what its exit status means. A host that fails checks is a
# finished audit, not a failed make: exit 0 and 1 both end `make run` cleanly.
run: setup
	@$(VENV)/bin/harborkit check; rc=$$?; case $$rc in \
	  0) echo "exit status 0: this host passes every check.";; \
	  1) echo "exit status 1: this host fails the checks marked FAIL above; fix them and run $(VENV)/bin/harborkit check again.";; \
	  *) exit $$rc;; \
	esac

# Build the sdist and wheel, install the wheel into a clean venv and run every
# command from there (nothing read from this checkout).
smoke: setup system-deps
	$(PY) .ci/wheel_smoke.py --python $(PY)

# Two pytest-xdist workers (this machine has 2 cores). --dist loadgroup with the
# groups of tests/support/parallel.py: the tests of each slow shared fixture (the
# sshd lab, the build daemon, the Harbor stack, a module's daemon, ...) run on one
# worker, so it still starts once; the other tests are spread one by one.
PYTEST_WORKERS ?= 2
test: setup system-deps
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

# The fast tests (-m "not daemon") on a real Python 3.9: a Debian 11 root made
# with debootstrap (built once, cached under /var/cache/harborkit-tests), a venv
# in it, pip install -e '.[test]' from a copy of this checkout (issue 25).
test-py39: setup system-deps
	$(PY) .ci/py39.py

lint: setup
	$(VENV)/bin/ruff check harborkit tests bench setup.py .ci/wheel_smoke.py .ci/py39.py
	$(VENV)/bin/ruff format --check harborkit tests bench setup.py .ci/wheel_smoke.py .ci/py39.py
	$(VENV)/bin/mypy

# The documentation site (docs/, mkdocs.yml) into .work/site. --strict: a broken
# link or anchor, or a page left out of the nav, fails the build. The built-in
# theme with highlight.js off: nothing is fetched at build or view time.
$(VENV)/.docs-installed: $(VENV)/.installed pyproject.toml
	@$(PY) -m pip install -e '.[docs]' >>$(VENV)/setup.log 2>&1 || { tail -n 40 $(VENV)/setup.log; \
	  echo "installing the docs extra failed (full log: $(VENV)/setup.log)"; exit 1; }
	@touch $@

docs: $(VENV)/.docs-installed
	$(VENV)/bin/mkdocs build --strict --clean --site-dir .work/site

bench: setup system-deps
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .work build dist *.egg-info mutants

# Mutation testing (not part of `make test`: it takes a long while). mutmut 3
# mutates checks, engine, report and bundle/{verify,tarsafe,load,format} and
# runs the fast tests (-m "not daemon") against every mutant; the score and
# the survivors are printed at the end (see tests/mutation-equivalent.md).
# mutation-load judges bundle/load.py again with its daemon tests (marked
# mutation: one private dockerd per pytest run), in a copy of the tree.
mutation: setup
	$(PY) -m pip install -q -e '.[test,mutation]'
	$(PY) tests/mutation.py

mutation-load: setup
	$(PY) -m pip install -q -e '.[test,mutation]'
	rm -rf .work/mutation-load && mkdir -p .work/mutation-load
	tar -c --exclude=./.venv --exclude=./.work --exclude=./mutants --exclude=./.git . \
		| tar -x -C .work/mutation-load
	cd .work/mutation-load && MUTATION_DAEMON=1 $(abspath $(PY)) tests/mutation.py 'harborkit.bundle.load*' 'harborkit.bundle.targets*'
