# numadvisor — see README.md. `make run` and `make test` do all set-up on a fresh Debian 12 machine.
SHELL := /bin/bash
NODE ?= node
NPM ?= npm
# Run: a C compiler for the numad front end (src/cli/numad-fast.c) and the /proc scan addon (src/native); util-linux's
# taskset and numactl's migratepages move processes (--apply processes). Test: the real numad for side-by-side tests,
# a real libvirtd with QEMU (the libvirt tests start and stop it themselves, in a private mount namespace), and
# logrotate to rotate logs under load with the shipped configs, and strace to kill the daemon at each step of the
# journal's compaction (test/integration/crash-consistency.test.ts).
APT_PACKAGES := curl ca-certificates gcc libc6-dev util-linux numactl
APT_TEST_PACKAGES := numad libvirt-daemon libvirt-daemon-system libvirt-clients qemu-system-x86 logrotate strace
# The lab (test/lab): QEMU and an initramfs built from busybox; numactl runs inside the guest from this machine's root,
# and so do libvirtd, virtlogd and virsh for the VM scenarios. libvirt-daemon-system, as for the tests: it has
# qemu.conf and libvirtd.conf and creates the libvirt-qemu user QEMU runs as.
APT_LAB_PACKAGES := qemu-system-x86 busybox-static kmod cpio numactl libvirt-daemon-system libvirt-clients
NODE_BIN := $(shell command -v $(NODE))
# Node-API headers for the /proc scan addon: Debian's and NodeSource's nodejs packages ship them beside the binary.
NODE_INCLUDE := $(shell $(NODE) -p "require('path').resolve(process.execPath, '../../include/node')")
# One set of C flags for everything we compile; a Node-API addon adds ADDON_CFLAGS.
C_FLAGS := -O2 -Wall -Wextra -Werror -std=c11
ADDON_CFLAGS := -shared -fPIC -fvisibility=hidden -I$(NODE_INCLUDE)
# $(call numad_front_end,ENTRY,OUTPUT): the C front end, with the path of the Node.js client it falls back to.
numad_front_end = $(CC) $(C_FLAGS) -DNUMADVISOR_NODE='"$(NODE_BIN)"' -DNUMADVISOR_ENTRY='"$(1)"' -o $(2) src/cli/numad-fast.c

# $(call apt_install,PACKAGES,MESSAGE,COMMAND): install the missing ones as root; otherwise print MESSAGE, run COMMAND.
define apt_install
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	  else echo "$(2): $$missing (run as root or install them)"; $(3); fi; \
	fi
endef
STAMP := node_modules/.installed
# The daemon's V8 flags, read from their one home (src/config/node-flags.ts) in the build when a recipe needs them.
DAEMON_NODE_FLAGS = $(shell $(NODE) --input-type=module -e 'import { DAEMON_NODE_FLAGS } from "./dist/config/node-flags.js"; console.log(DAEMON_NODE_FLAGS.join(" "))')

.PHONY: run test lab lab-deps deps apt-deps apt-test-deps build typecheck check-deps schemas check-schemas unit bench bench-advice bench-numad bench-libvirt bench-quality fixtures clean

run: deps build
	$(NODE) $(DAEMON_NODE_FLAGS) dist/cli/numadvisor-entry.js daemon $(ARGS)

test: deps apt-test-deps build typecheck check-deps check-schemas unit lab

# Installs what is missing: Debian packages (as root, only when absent) and the npm dependencies from the lockfile.
deps: apt-deps $(STAMP)

apt-deps:
	@$(NODE) -e 'const [maj]=process.versions.node.split(".").map(Number); if (maj<20) { console.error("numadvisor needs Node.js >= 20 (found "+process.version+")"); process.exit(1) }'
	$(call apt_install,$(APT_PACKAGES),missing Debian packages,exit 1)

apt-test-deps:
	$(call apt_install,$(APT_TEST_PACKAGES),note: not installed (the side-by-side tests with the real numad and the libvirt tests will be skipped),true)

lab-deps:
	$(call apt_install,$(APT_LAB_PACKAGES),missing Debian packages for the lab,exit 1)

# Boots emulated 4- and 8-node guests, VMs under libvirt inside some (about 11 minutes in all, docs/lab.md; kernel
# and initramfs cached under test/.tmp/lab).
lab: deps lab-deps build
	npx vitest run --config test/lab/vitest.config.ts

$(STAMP): package.json package-lock.json
	$(NPM) ci --no-audit --no-fund
	@touch $@

build: $(STAMP) dist/numad dist/native/proc-scan.node dist/native/file-lock.node
	$(NPM) run --silent build

# Node-API addons the daemon loads from dist/native: the rebalancer's /proc filter (src/native/proc-scan.c) and
# flock(2) for the state-dir lock and the -w spool (src/native/file-lock.c; Node.js has no binding for it).
dist/native/%.node: src/native/%.c
	@mkdir -p dist/native
	@test -f $(NODE_INCLUDE)/node_api.h || { echo "no Node-API headers in $(NODE_INCLUDE) (install Node.js with its headers)"; exit 1; }
	$(CC) $(C_FLAGS) $(ADDON_CFLAGS) -o $@ $<

# The numad front end: answers `-w V[:M]` from the daemon in ~2 ms, otherwise execs the Node.js client.
dist/numad: src/cli/numad-fast.c
	@mkdir -p dist
	$(call numad_front_end,$(CURDIR)/dist/cli/numad-entry.js,$@)

typecheck: $(STAMP)
	$(NPM) run --silent typecheck

# The layer rule and no circles (docs/architecture.md; the rules are in .dependency-cruiser.cjs).
check-deps: $(STAMP)
	npx depcruise src --config .dependency-cruiser.cjs --output-type err

schemas: build
	$(NODE) dist/cli/numadvisor-entry.js schemas --out schemas

check-schemas: build
	$(NODE) dist/cli/numadvisor-entry.js schemas --check schemas

unit: build
	npx vitest run --config test/vitest.config.ts

bench: bench-advice bench-numad bench-libvirt

bench-advice: deps build
	npx tsx test/bench/advice-latency.ts

fixtures: $(STAMP)
	npx tsx test/fixtures/make-fixtures.ts

clean:
	rm -rf dist run node_modules/.vite

bench-numad: deps build
	npx tsx test/bench/numad-w-latency.ts

# Placement quality: every scenario through every strategy and the optimum; writes docs/quality.md and its plot.
bench-quality: deps build
	$(NODE) dist/cli/numadvisor-entry.js simulate all --report docs/quality.md --plot docs/quality.svg

# Our libvirt client against libvirtd beside virsh (root; starts and stops libvirtd like the tests).
bench-libvirt: deps apt-test-deps build
	npx tsx test/bench/libvirt-calls.ts

# --- installation -------------------------------------------------------------------------------------------------
# `make install` puts numadvisor under $(LIBDIR), the `numadvisor` command in $(BINDIR), and our numad front end at
# /usr/bin/numad — the path libvirt has compiled in — after moving Debian's binary aside with dpkg-divert (it stays
# runnable as /usr/bin/numad.distrib). `make uninstall` reverses every step. DESTDIR installs into a staging root
# (dpkg-divert then works on that root's own database: --root).
PREFIX ?= /usr
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib/numadvisor
UNITDIR ?= /etc/systemd/system
LOGROTATEDIR ?= /etc/logrotate.d
NUMAD_PATH := /usr/bin/numad
DIVERT := dpkg-divert $(if $(DESTDIR),--root $(DESTDIR)) --package numadvisor --rename --divert $(NUMAD_PATH).distrib
subst = sed -e 's|@NODE@|$(NODE_BIN)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@DAEMON_NODE_FLAGS@|$(DAEMON_NODE_FLAGS)|g'

.PHONY: install uninstall
install: build
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(LOGROTATEDIR) $(DESTDIR)$(dir $(NUMAD_PATH))
	rm -rf $(DESTDIR)$(LIBDIR)/dist
	cp -r dist package.json package-lock.json README.md $(DESTDIR)$(LIBDIR)/
	cd $(DESTDIR)$(LIBDIR) && $(NPM) ci --omit=dev --no-audit --no-fund --loglevel=error
	$(call numad_front_end,$(LIBDIR)/dist/cli/numad-entry.js,$(DESTDIR)$(LIBDIR)/numad)
	$(subst) src/install/numadvisor.sh > $(DESTDIR)$(BINDIR)/numadvisor && chmod 0755 $(DESTDIR)$(BINDIR)/numadvisor
	$(subst) src/install/numadvisor.service > $(DESTDIR)$(UNITDIR)/numadvisor.service
	install -m 0644 src/install/numadvisor.logrotate $(DESTDIR)$(LOGROTATEDIR)/numadvisor
	@if [ ! -e $(DESTDIR)$(LOGROTATEDIR)/numad ]; then install -m 0644 src/install/numad.logrotate $(DESTDIR)$(LOGROTATEDIR)/numad-numadvisor; fi
	$(DIVERT) --add $(NUMAD_PATH)
	install -m 0755 $(DESTDIR)$(LIBDIR)/numad $(DESTDIR)$(NUMAD_PATH)
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "installed; start with: systemctl enable --now numadvisor  (or: numad -i 15)"

uninstall:
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl disable --now numadvisor 2>/dev/null || true; fi
	@if cmp -s $(DESTDIR)$(NUMAD_PATH) $(DESTDIR)$(LIBDIR)/numad; then rm -f $(DESTDIR)$(NUMAD_PATH); fi
	$(DIVERT) --remove $(NUMAD_PATH)
	rm -f $(DESTDIR)$(BINDIR)/numadvisor $(DESTDIR)$(UNITDIR)/numadvisor.service
	rm -f $(DESTDIR)$(LOGROTATEDIR)/numadvisor $(DESTDIR)$(LOGROTATEDIR)/numad-numadvisor
	rm -rf $(DESTDIR)$(LIBDIR)
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
