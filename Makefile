# wirelens — the two set-up commands are `make run` and `make test`.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
SAMPLE  ?= sample_pcaps/demo.pcapng
# Debian packages the tests use when present (tshark for cross-checks and filter sets;
# dumpcap and tcpdump for the live capture tests).
DEB_TEST_PKGS := tshark wireshark-common tcpdump

.PHONY: run test deb-test-deps samples bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

run: $(STAMP)
	$(BIN)/wirelens $(SAMPLE)

# Installs the Debian packages tests use when they are missing (needs root and apt-get;
# without them the tshark cross-checks skip and the stored ground truth is used).
deb-test-deps:
	@if ! command -v tshark >/dev/null 2>&1 || ! command -v dumpcap >/dev/null 2>&1 || \
	    ! command -v tcpdump >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing $(DEB_TEST_PKGS) from Debian"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEB_TEST_PKGS) >/dev/null; \
	  else echo "note: $(DEB_TEST_PKGS) not all installed and cannot install them here; their tests will skip"; fi; \
	fi

test: $(STAMP) deb-test-deps
	@$(BIN)/python -m pytest -q -p no:cacheprovider; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# Regenerates sample_pcaps/ in network namespaces (root; not part of `make test`).
samples: $(STAMP)
	$(BIN)/python -m tools.netlab.make_samples

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
