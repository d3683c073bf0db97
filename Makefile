# stratops — every target installs what it needs (venv, packages, helm) by itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TOOLS  := .tools
# Prefer a helm already on PATH; otherwise extract one into $(TOOLS).
HELM   := $(or $(shell command -v helm 2>/dev/null),$(CURDIR)/$(TOOLS)/helm)
export STRATOPS_HELM := $(HELM)
# Go components, each pinned by a wrapper module under tools/go/<name>/ (go.mod + go.sum), built
# into $(GO_BIN) by scripts/build_go_tool.sh. A warm build (binary newer than its pins) is a no-op.
GO_BIN   := $(TOOLS)/bin
KYVERNO  := $(CURDIR)/$(GO_BIN)/kyverno
export STRATOPS_KYVERNO := $(KYVERNO)

.PHONY: install tools kyverno browser test demo bench lint clean

install: $(VENV)/.installed tools

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

tools: $(HELM)

$(CURDIR)/$(TOOLS)/helm:
	$(PYTHON) scripts/fetch_helm.py $(TOOLS)

# The Kyverno CLI (oracle of the policy engine's differential tests) and admission controller.
kyverno: $(GO_BIN)/kyverno $(GO_BIN)/kyverno-admission

$(GO_BIN)/kyverno: tools/go/kyverno/go.mod tools/go/kyverno/go.sum scripts/build_go_tool.sh
	scripts/build_go_tool.sh tools/go/kyverno github.com/kyverno/kyverno/cmd/cli/kubectl-kyverno $@ \
	  github.com/kyverno/kyverno/pkg/version.BuildVersion

$(GO_BIN)/kyverno-admission: tools/go/kyverno/go.mod tools/go/kyverno/go.sum scripts/build_go_tool.sh
	scripts/build_go_tool.sh tools/go/kyverno github.com/kyverno/kyverno/cmd/kyverno $@ \
	  github.com/kyverno/kyverno/pkg/version.BuildVersion

# Chromium for the web console's browser tests (tests/console): Debian's package, installed when we are
# root and it is missing. Best effort: without it those tests skip and say why.
browser:
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } || true; \
	fi
	@command -v chromium >/dev/null 2>&1 || echo "browser: no chromium; the console browser tests (tests/console) will skip"

test: install browser kyverno
	$(BIN)/pytest -q -n 2 tests

demo: install
	$(BIN)/stratops demo

bench: install kyverno
	$(BIN)/python -m tests.bench $(AREAS)

lint: install
	$(BIN)/ruff check generator executor tests
	$(BIN)/ruff format --check generator executor tests

clean:
	rm -rf $(VENV) $(TOOLS) *.egg-info
