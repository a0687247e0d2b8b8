# opsbook.stack: the two commands a user needs are `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT        := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV        ?= $(ROOT)/.venv
PYTHON      ?= python3
BIN         := $(VENV)/bin
COLLECTIONS := $(ROOT)/.cache/collections
SANITY_ROOT := $(ROOT)/.cache/sanity
# Output of `make build` (only this directory is replaced: other stages write under build/ meanwhile).
BUILD       := $(ROOT)/build/collection
# Debian release of the sandbox hosts: bookworm (12) or trixie (13).
DEBIAN      ?= bookworm
# How `make sandbox` / `make demo` reach the hosts: docker (docker exec) or ssh
# (an admin user with sudo, the sandbox's own key, pinned host keys).
CONNECTION  ?= docker
# Inventory of `make daily`, `make weekly` and `make backup`.
INVENTORY   ?= inventories/sandbox
# Kind of `make backup`.
KIND        ?= full
# Role scenarios of `make molecule` (default: every scenario under molecule/).
SCENARIOS   ?= $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))
# `make stack`: extra pytest arguments (e.g. STACK_ARGS="--stack-keep -k daily") and the timing file.
STACK_ARGS  ?=
STACK_TIMES ?= $(ROOT)/build/test/stack-$(DEBIAN).json

export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export MOLECULE_GLOB := molecule/*/molecule.yml
# Molecule's prerun installs the collection under $$ANSIBLE_HOME/collections;
# a link to this checkout there makes it skip that copy, so no stale copy in
# ~/.ansible shadows the checkout and parallel lanes never reinstall it under
# each other's feet.
MOLECULE_HOME := $(ROOT)/.cache/ansible-home
export PY_COLORS := 1
export ANSIBLE_FORCE_COLOR := 1
# pip inside ansible-test's and molecule's environments trusts the system CA
# bundle (needed behind TLS-intercepting proxies; harmless elsewhere).
ifneq ($(wildcard /etc/ssl/certs/ca-certificates.crt),)
export PIP_CERT ?= /etc/ssl/certs/ca-certificates.crt
endif

.PHONY: help venv collection docker apt-cache images images-all sandbox demo sandbox-destroy \
        test lint sanity units integration-local duplicates molecule molecule-% stack build clean \
        daily weekly monthly dr-drill backup bench bench-backup bench-dr bench-smoke

help: ## list targets
	@grep -E '^[a-zA-Z%_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "ERROR: $(PYTHON) not found; install Python 3.11+ (Debian: apt-get install python3 python3-venv)"; exit 1; }
	@$(PYTHON) -m venv $(VENV) || { echo "ERROR: cannot create a venv; install python3-venv (Debian: apt-get install python3-venv)"; exit 1; }
	$(BIN)/pip install -q --upgrade pip 2>&1 | { grep -v '^WARNING: Location' || true; }
	$(BIN)/pip install -q -r requirements.txt 2>&1 | { grep -v '^WARNING: Location' || true; }
	@touch $@

venv: $(BIN)/.installed ## create .venv with the pinned requirements

collection: ## make the checkout importable as opsbook.stack
	@mkdir -p $(COLLECTIONS)/ansible_collections/opsbook $(MOLECULE_HOME)/collections/ansible_collections/opsbook
	@ln -sfn $(ROOT) $(COLLECTIONS)/ansible_collections/opsbook/stack
	@ln -sfn $(ROOT) $(MOLECULE_HOME)/collections/ansible_collections/opsbook/stack

docker: ## make sure a Docker engine answers (installs/starts one on Debian as root)
	@bash scripts/ensure-docker.sh

apt-cache: ## start the local apt cache (apt-cacher-ng) the containers share
	@bash scripts/ensure-apt-cache.sh

images: docker apt-cache ## build the systemd host image of DEBIAN
	@bash scripts/build-images.sh $(DEBIAN)

images-all: docker apt-cache ## build the systemd host images of Debian 12 and 13
	@bash scripts/build-images.sh bookworm trixie

sandbox: venv collection images ## create the sandbox hosts (CONNECTION=ssh: reach them over SSH with become)
	$(BIN)/ansible-playbook playbooks/sandbox.yml -e sandbox_debian=$(DEBIAN) -e sandbox_connection=$(CONNECTION)

demo: sandbox ## sandbox + provision the whole stack + print where services answer + run the daily checklist
	$(BIN)/ansible-playbook -i inventories/sandbox playbooks/site.yml
	@$(BIN)/ansible-playbook -i inventories/sandbox playbooks/sandbox_info.yml
	$(BIN)/ansible-playbook -i inventories/sandbox playbooks/daily.yml

daily: venv collection ## run the daily checklist against the sandbox (INVENTORY=... for another one)
	$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/daily.yml

weekly: venv collection ## run the weekly checklist (backups, disk growth, the week's errors, certificates)
	$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/weekly.yml

monthly: venv collection ## run the monthly checklist (restore tests, maintenance report, slow queries, growth, data quality, security review)
	$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/monthly.yml

dr-drill: venv collection ## run the DR drill: fresh DR host, PITR restore, app, checklist, RTO/RPO (KEEP=1 keeps the DR host)
	$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/dr_drill.yml $(if $(KEEP),-e dr_keep=true)

backup: venv collection ## take a backup now: make backup KIND=full|incr|diff|logical|redis|config
	$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/backup.yml -e backup_kind=$(KIND)

bench: venv collection images ## time daily.yml against a shell script on 1, 5 and 20 bench hosts of DEBIAN (docs/PERFORMANCE.md, ~30 min)
	$(BIN)/python tests/bench/bench_daily.py --debian $(DEBIAN) run

bench-backup: venv collection images ## time backups on DEBIAN: opsbook-backup logical vs pg_dump|gzip, pgBackRest full vs incr (docs/PERFORMANCE.md, ~6 min)
	$(BIN)/python tests/bench/bench_backup.py run --debian $(DEBIAN)

bench-dr: venv collection images ## restore-test time and DR drill RTO / RPO on a >= 1 GB database, on DEBIAN (docs/PERFORMANCE.md, ~25 min)
	$(BIN)/python tests/bench/bench_dr.py run --debian $(DEBIAN)

# The benchmarks' plumbing at the smallest size, one after the other (results
# in build/bench-smoke/, never in docs/ or tests/bench/results/). Their
# containers are removed at the end whatever happened; the exit status is 1
# when either failed.
bench-smoke: venv collection images ## bench_daily and bench_backup at the smallest size on DEBIAN (build/bench-smoke/)
	@trap '$(BIN)/python tests/bench/bench_daily.py down; $(BIN)/python tests/bench/bench_backup.py down' EXIT; \
	  trap 'exit 143' TERM INT; rc=0; \
	  $(BIN)/python tests/bench/bench_daily.py --debian $(DEBIAN) run --smoke || rc=1; \
	  $(BIN)/python tests/bench/bench_backup.py run --smoke --debian $(DEBIAN) || rc=1; \
	  exit $$rc

sandbox-destroy: venv collection ## remove every sandbox container, network and volume
	@bash scripts/ensure-docker.sh
	$(BIN)/ansible-playbook playbooks/sandbox.yml -e sandbox_state=absent

test: venv collection ## everything CI runs, stages side by side, then the table of their wall times
	$(BIN)/python scripts/test-stages.py

lint: venv collection ## yamllint + ansible-lint (production profile) + changelog fragments
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint --offline
	$(BIN)/antsibull-changelog lint

sanity: venv ## ansible-test sanity on a copy under ansible_collections/opsbook/stack
	@pipv=$$($(BIN)/python -c 'import re,ansible_test,pathlib;p=pathlib.Path(ansible_test.__file__).parent/"_internal/python_requirements.py";print(re.search(r"pip=.([0-9.]+).",p.read_text()).group(1))'); \
	  cache=$$HOME/.ansible/test/cache/get_pip_$${pipv//./_}.py; \
	  if [ ! -s "$$cache" ] && ! curl -fsS -m 10 -o "$$cache.tmp" https://ci-files.testing.ansible.com/ansible-test/get-pip-$$pipv.py 2>/dev/null; then \
	    mkdir -p "$$(dirname "$$cache")"; cp scripts/ansible-test-get-pip.py "$$cache"; \
	  elif [ -s "$$cache.tmp" ]; then mv "$$cache.tmp" "$$cache"; fi; rm -f "$$cache.tmp"
	@rm -rf $(SANITY_ROOT) && mkdir -p $(SANITY_ROOT)/ansible_collections/opsbook
	@mkdir -p $(SANITY_ROOT)/ansible_collections/opsbook/stack
	@git ls-files -z --cached --others --exclude-standard | \
	  tar --null --ignore-failed-read -T - -cf - | tar -C $(SANITY_ROOT)/ansible_collections/opsbook/stack -xf -
	cd $(SANITY_ROOT)/ansible_collections/opsbook/stack && git init -q . && git add -A && \
	  $(BIN)/ansible-test sanity --python 3.11 --color

units: venv collection ## pytest unit tests
	cd $(ROOT) && PYTHONPATH=$(COLLECTIONS) $(BIN)/pytest -q tests/unit

molecule: venv collection images-all ## every role scenario (create, converge, idempotence, verify on Debian 12 and 13)
	@for s in $(SCENARIOS); do ANSIBLE_HOME=$(MOLECULE_HOME) $(BIN)/molecule test -s $$s || exit 1; done

molecule-%: venv collection images-all ## one role scenario, e.g. make molecule-data
	ANSIBLE_HOME=$(MOLECULE_HOME) $(BIN)/molecule test -s $*

stack: venv collection images-all ## the shared stack on DEBIAN over CONNECTION: created, converged, every suite of tests/integration/stack
	$(BIN)/pytest -p no:cacheprovider tests/integration/stack --stack-debian $(DEBIAN) \
	  --stack-connection $(CONNECTION) --stack-times $(STACK_TIMES) $(STACK_ARGS)

build: venv ## build the collection tarball into build/collection/ and prove it installs
	@rm -rf $(BUILD) && mkdir -p $(BUILD) && printf "[defaults]\n" > $(BUILD)/ansible.cfg
	$(BIN)/ansible-galaxy collection build --force --output-path $(BUILD) .
	cd $(BUILD) && ANSIBLE_COLLECTIONS_PATH=$(BUILD)/installed ANSIBLE_CONFIG=$(BUILD)/ansible.cfg \
	  $(BIN)/ansible-galaxy collection install --offline -p $(BUILD)/installed opsbook-stack-*.tar.gz
	test -f $(BUILD)/installed/ansible_collections/opsbook/stack/MANIFEST.json
	ANSIBLE_COLLECTIONS_PATH=$(BUILD)/installed ANSIBLE_CONFIG=$(BUILD)/ansible.cfg \
	  $(BIN)/ansible-doc -t role -l opsbook.stack | tee $(BUILD)/roles.txt
	@for r in postgresql redis nginx app checklist backup dr sandbox; do grep -q "opsbook.stack.$$r" $(BUILD)/roles.txt || { echo "role $$r missing from the built collection"; exit 1; }; done
	ANSIBLE_COLLECTIONS_PATH=$(BUILD)/installed ANSIBLE_CONFIG=$(BUILD)/ansible.cfg \
	  $(BIN)/ansible-doc -t module -l opsbook.stack | tee $(BUILD)/modules.txt
	@for m in host_check log_check pg_check redis_check http_check tls_check backup_check backup_rotate backup_run restore_test security_check pg_maintenance dr_evaluate; do grep -q "opsbook.stack.$$m" $(BUILD)/modules.txt || { echo "module $$m missing from the built collection"; exit 1; }; done

clean: ## remove venv, caches and build output (not the sandbox)
	rm -rf $(VENV) .cache build tests/output

.PHONY: integration-local duplicates

integration-local: venv collection ## pytest tests/integration/local: ansible-playbook runs on localhost (no containers)
	cd $(ROOT) && PYTHONPATH=$(COLLECTIONS) $(BIN)/pytest -q tests/integration/local

# pylint's duplicate-code check (six lines or more) over the collection's Python:
# plugins/ and the Python the roles ship. Left out: imports (the shared contract
# makes import lists alike), docstrings and comments (prose), signatures (every
# module's `def main() -> None:`). The DOCUMENTATION / EXAMPLES / RETURN strings
# of the modules are excluded by `# pylint: disable=duplicate-code` around them:
# RETURN cannot come from doc fragments, so the result contract's fields repeat.
duplicates: venv ## pylint duplicate-code (>= 6 lines) over plugins/ and the roles' Python files
	$(BIN)/pylint --rcfile=/dev/null --disable=all --enable=duplicate-code --recursive=y \
	  --min-similarity-lines=6 --ignore-imports=y --ignore-docstrings=y --ignore-comments=y --ignore-signatures=y \
	  --score=n plugins roles/*/files
