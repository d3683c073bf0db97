# stratops — every target installs what it needs (venv, packages, helm) by itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TOOLS  := .tools
CONTAINERS_COMMON := 0.50.1+ds1-4
# Prefer a helm already on PATH; otherwise extract one into $(TOOLS).
HELM   := $(or $(shell command -v helm 2>/dev/null),$(CURDIR)/$(TOOLS)/helm)
export STRATOPS_HELM := $(HELM)
# The kyverno CLI the policy engine's differential tests and benchmark compare against.
export STRATOPS_KYVERNO := $(CURDIR)/$(TOOLS)/bin/kyverno

.PHONY: install tools sandbox components crds cluster browser node test demo bench lint clean

# uv (from PyPI, pinned) creates the venv and installs the packages: it downloads in parallel and links from
# its cache, so a cold set-up takes seconds where venv + pip took minutes. It is bootstrapped into $(TOOLS)/uv
# by the system's pip (the same pip that fetches helm); nothing is installed globally.
UV_VERSION := 0.13.9
UV := $(TOOLS)/uv/bin/uv
UV_INSTALL := $(UV) pip install -q --python $(BIN)/python
export UV_SYSTEM_CERTS ?= true

install: $(VENV)/.installed tools sandbox $(TOOLS)/containers/seccomp.json

$(UV):
	PIP_ROOT_USER_ACTION=ignore $(PYTHON) -m pip install -q --target $(TOOLS)/uv uv==$(UV_VERSION)

# The venv (with pip in it, for the tests that run pip); one made by `python -m venv` is kept as it is.
$(VENV)/.uv: | $(UV)
	test -x $(BIN)/python || $(UV) venv -q --seed --python $(PYTHON) $(VENV)
	touch $@

# What the software runs (install_requires): `make demo` needs nothing more.
$(VENV)/.runtime: setup.cfg pyproject.toml $(VENV)/.uv
	$(UV_INSTALL) -e .
	touch $@

# With the dev extra (pytest, hypothesis, schemathesis, ruff, playwright): tests and lint.
$(VENV)/.installed: setup.cfg pyproject.toml $(VENV)/.uv
	$(UV_INSTALL) -e '.[dev]'
	touch $@

# The backtest extra (numpy, pandas, pyarrow, matplotlib): tests need it, `make demo` does not.
$(VENV)/.backtest: $(VENV)/.installed
	$(UV_INSTALL) -e '.[dev,backtest]'
	touch $@

# The live-feed extra (ccxt and its websocket client): tests need it, `make demo` does not.
$(VENV)/.feed: $(VENV)/.installed
	$(UV_INSTALL) -e '.[dev,feed]'
	touch $@

tools: $(HELM)

$(CURDIR)/$(TOOLS)/helm:
	$(PYTHON) scripts/fetch_helm.py $(TOOLS)

# The real control plane's Go components (tools/go/<name>/: pinned wrapper modules) into $(TOOLS)/bin.
# Cold it compiles Kubernetes and friends (long on 2 cores); warm it checks stamps and runs no Go at all.
# COMPONENTS="etcd kwok" builds only those.
components:
	nice $(PYTHON) scripts/build_tools.py $(COMPONENTS)

# The prometheus-operator CRD of the chart's optional PodMonitor, from the Go module pinned in generator/crds.py
# (through the Go module proxy): the tests validate the rendered PodMonitor and the shipped schema against it.
crds: $(TOOLS)/crds/monitoring.coreos.com_podmonitors.yaml

$(TOOLS)/crds/monitoring.coreos.com_podmonitors.yaml: generator/crds.py $(VENV)/.installed
	$(BIN)/python -m generator.crds fetch $(TOOLS)/crds

# A local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok, Flux) on 127.0.0.1,
# reconciling the fleet repo FLEET (created, with a tenant `demo`, when missing). `stratops cluster down` stops it.
FLEET ?= .stratops/fleet
cluster: install components
	test -d $(FLEET)/.git || { $(BIN)/stratops init $(FLEET) --cluster dev && \
	  $(BIN)/stratops tenant add demo --cpu 4 --memory 8Gi --repo $(FLEET) --no-push; }
	$(BIN)/stratops cluster up --repo $(FLEET)

# bubblewrap and libseccomp for the executors' kernel sandbox (`stratops up`): Debian's packages, installed
# when we are root and they are missing. Without them `stratops up` refuses to run strategies and says why.
sandbox:
	@if { ! command -v bwrap >/dev/null 2>&1 || ! ldconfig -p | grep -q libseccomp.so.2; } \
	  && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get install -y -q bubblewrap libseccomp2 >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q bubblewrap libseccomp2 >/dev/null 2>&1; } || true; \
	fi
	@command -v bwrap >/dev/null 2>&1 || echo "sandbox: no bubblewrap; install it (apt-get install bubblewrap)"

# The container tools' default seccomp profile (Debian golang-github-containers-common), as data for the
# test of the allowlist mode: only its seccomp.json is extracted (the package itself is not installed).
$(TOOLS)/containers/seccomp.json:
	mkdir -p $(TOOLS)/containers/deb
	cd $(TOOLS)/containers/deb && { apt-get download -q golang-github-containers-common=$(CONTAINERS_COMMON) >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null 2>&1 && apt-get download -q golang-github-containers-common=$(CONTAINERS_COMMON) >/dev/null; }; }
	dpkg-deb --fsys-tarfile $(TOOLS)/containers/deb/golang-github-containers-common_*.deb | \
	  tar -x -O ./usr/share/containers/seccomp.json > $@.tmp && mv $@.tmp $@
	rm -rf $(TOOLS)/containers/deb

# Chromium for the web console's browser tests (tests/console): Debian's package, installed when we are
# root and it is missing. Without it those tests skip locally and fail in CI (CI=true), as this target does.
browser:
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } || true; \
	fi
	@command -v chromium >/dev/null 2>&1 || { echo "browser: no chromium (apt-get install chromium); the console browser tests need it"; \
	  case "$$CI" in ""|0|false|no) ;; *) exit 1;; esac; }

# Node and npm for the console's build tools and JavaScript tests: Debian's packages when we are root and
# they are missing.
node:
	@if ! command -v npm >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get install -y -q nodejs npm >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q nodejs npm >/dev/null 2>&1; } || true; \
	fi
	@command -v npm >/dev/null 2>&1 || { echo "node: no node/npm (apt-get install nodejs npm)"; exit 1; }

# The console's build tools (esbuild, pinned by web/package-lock.json): the test that the committed console
# is the build of web/src runs them.
web/node_modules/.package-lock.json: web/package-lock.json | node
	cd web && npm ci --no-fund --no-audit

test: install $(VENV)/.backtest $(VENV)/.feed browser components crds web/node_modules/.package-lock.json
	$(BIN)/pytest -q -n 2 tests

# Only what the demo runs: the runtime packages, helm and the sandbox (no dev, backtest or feed extras).
demo:
	@$(MAKE) --no-print-directory -j3 $(VENV)/.runtime tools sandbox
	$(BIN)/stratops demo

bench: install $(VENV)/.backtest $(VENV)/.feed components
	$(BIN)/python -m tests.bench $(AREAS)

lint: install
	$(BIN)/ruff check generator executor tests
	$(BIN)/ruff format --check generator executor tests

clean:
	rm -rf $(VENV) $(TOOLS) *.egg-info
