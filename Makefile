# numadvisor — see README.md. `make run` and `make test` do all set-up on a fresh Debian 12 machine.
SHELL := /bin/bash
NODE ?= node
NPM ?= npm
# Run: a C compiler for the numad front end (src/cli/numad-fast.c) and the /proc scan addon (src/native); util-linux's
# taskset and numactl's migratepages move processes (--apply processes). Test: the real numad for side-by-side tests,
# a real libvirtd with QEMU (the libvirt tests start and stop it themselves, in a private mount namespace), and
# logrotate to rotate logs under load with the shipped configs, and strace to kill the daemon at each step of the
# journal's compaction (test/integration/crash-consistency.test.ts), and Prometheus (with promtool) to scrape the
# daemon for real (test/integration/prometheus.test.ts).
APT_PACKAGES := curl ca-certificates gcc libc6-dev util-linux numactl
APT_TEST_PACKAGES := numad libvirt-daemon libvirt-daemon-system libvirt-clients qemu-system-x86 logrotate strace prometheus
# The lab (test/lab): QEMU and an initramfs built from busybox; numactl runs inside the guest from this machine's root,
# and so do libvirtd, virtlogd and virsh for the VM scenarios. libvirt-daemon-system, as for the tests: it has
# qemu.conf and libvirtd.conf and creates the libvirt-qemu user QEMU runs as.
APT_LAB_PACKAGES := qemu-system-x86 busybox-static kmod cpio numactl libvirt-daemon-system libvirt-clients
NODE_BIN := $(shell command -v $(NODE))
# Supported Node.js: package.json's "engines" (20.19 and 22.12 are vitest's floor); CI runs the unit and integration
# suites on 20, 22 and 24 (test-nodes). $(call node_check,NODE_BINARY) fails with that range if the binary is outside
# it; keep its test in step with "engines".
node_check = $(1) -e 'const [a,b]=process.versions.node.split(".").map(Number); \
  if (!(a===20 && b>=19 || a===22 && b>=12 || a>22)) { console.error("numadvisor needs Node.js "+require("./package.json").engines.node+" (CI tests 20, 22 and 24); "+process.execPath+" is "+process.version); process.exit(1) } \
  if (a===20) console.error("note: Node.js 20 reached its end of life in April 2026; 22 or 24 is recommended")'
# Node-API headers for the addons (src/native): from npm's node-api-headers (a devDependency), not beside the node
# binary (Debian's nodejs package ships none). Node-API is ABI-stable: built once for version 8 (the headers'
# default), the same .node files load in every supported Node.js, so test-nodes needs no rebuild.
NODE_INCLUDE := node_modules/node-api-headers/include
# One set of C flags for everything we compile; a Node-API addon adds ADDON_CFLAGS.
C_FLAGS := -O2 -Wall -Wextra -Werror -std=c11
ADDON_CFLAGS := -shared -fPIC -fvisibility=hidden -I$(NODE_INCLUDE)
# $(call numad_front_end,ENTRY,OUTPUT[,NODE]): the C front end, with the path of the Node.js client it falls back to
# and the node that runs it (default this machine's; the Debian package's is /usr/bin/node).
numad_front_end = $(CC) $(C_FLAGS) -DNUMADVISOR_NODE='"$(or $(3),$(NODE_BIN))"' -DNUMADVISOR_ENTRY='"$(1)"' -o $(2) src/cli/numad-fast.c

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

.PHONY: run test lab lab-deps deps apt-deps apt-test-deps build typecheck check-deps schemas check-schemas unit test-nodes bench bench-advice bench-numad bench-libvirt bench-quality fixtures clean

run: deps build
	$(NODE) $(DAEMON_NODE_FLAGS) dist/cli/numadvisor-entry.js daemon $(ARGS)

test: deps apt-test-deps build typecheck check-deps check-schemas unit test-nodes lab

# Installs what is missing: Debian packages (as root, only when absent) and the npm dependencies from the lockfile.
deps: apt-deps $(STAMP)

apt-deps:
	@$(call node_check,$(NODE))
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

build: $(STAMP) dist/numad dist/native/proc-scan.node dist/native/file-lock.node dist/native/sd-notify.node
	$(NPM) run --silent build

# Node-API addons the daemon loads from dist/native: the rebalancer's /proc filter (src/native/proc-scan.c) and
# flock(2) for the state-dir lock and the -w spool (src/native/file-lock.c; Node.js has no binding for it), and
# systemd's READY=1 datagram for Type=notify (src/native/sd-notify.c; Node.js cannot send on a unix datagram socket).
dist/native/%.node: src/native/%.c | $(STAMP)
	@mkdir -p dist/native
	@test -f $(NODE_INCLUDE)/node_api.h || { echo "no Node-API headers in $(NODE_INCLUDE) (npm ci installs node-api-headers)"; exit 1; }
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

# The unit and integration suites again on other Node.js binaries, each in turn (nothing when TEST_NODES is empty):
# `make test-nodes TEST_NODES='/opt/node22/bin/node /opt/node24/bin/node'`; .ci/run installs 22 and 24 from the npm
# registry and passes them to `make test`. The build is shared (the addons are Node-API). The binary's directory goes
# first in PATH (vitest's workers and the tests' child processes run on it, as does `node` in scripts) and
# NUMADVISOR_NODE_BIN points dist/numad's fallback to the Node.js client at it. All versions run; then it fails if any did.
# Left out on these: TEST_NODES_SKIP, the real-libvirtd file (160 s a run, most of it QEMU domains starting under TCG;
# our RPC client's Node-sensitive part, XDR and framing, is in the unit suite on every version): CI stays under 30 min.
TEST_NODES ?=
TEST_NODES_SKIP ?= test/integration/libvirt.test.ts
test-nodes: build
	@failed=; for n in $(TEST_NODES); do \
	  $(call node_check,$$n) || exit 1; \
	  echo "=== unit and integration tests on Node.js $$($$n -v) ($$n), without $(TEST_NODES_SKIP)"; \
	  PATH="$$(dirname $$n):$$PATH" NUMADVISOR_NODE_BIN=$$n $$n node_modules/vitest/vitest.mjs run --config test/vitest.config.ts \
	    $(foreach f,$(TEST_NODES_SKIP),--exclude $(f)) \
	    || failed="$$failed $$($$n -v)"; \
	done; \
	if [ -n "$$failed" ]; then echo "unit and integration tests failed on Node.js$$failed"; exit 1; fi

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
MANDIR ?= $(PREFIX)/share/man
UNITDIR ?= /etc/systemd/system
LOGROTATEDIR ?= /etc/logrotate.d
NUMAD_PATH := /usr/bin/numad
DIVERT := dpkg-divert $(if $(DESTDIR),--root $(DESTDIR)) --package numadvisor --rename --divert $(NUMAD_PATH).distrib
subst = sed -e 's|@NODE@|$(NODE_BIN)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@DOCDIR@|$(LIBDIR)|g' -e 's|@DAEMON_NODE_FLAGS@|$(DAEMON_NODE_FLAGS)|g'

.PHONY: install uninstall man
# man/numadvisor.8 and man/numadvisor-numad.8 are generated from man/*.8.md and the commands' option tables and
# committed; test/unit/man-pages.test.ts fails when they are stale, `make man` regenerates them.
man: $(STAMP)
	npx tsx scripts/gen-man.mts

install: build
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(LOGROTATEDIR) $(DESTDIR)$(dir $(NUMAD_PATH))
	rm -rf $(DESTDIR)$(LIBDIR)/dist
	cp -r dist package.json package-lock.json README.md $(DESTDIR)$(LIBDIR)/
	rm -rf $(DESTDIR)$(LIBDIR)/dist/deb $(DESTDIR)$(LIBDIR)/dist/*.deb
	cd $(DESTDIR)$(LIBDIR) && $(NPM) ci --omit=dev --no-audit --no-fund --loglevel=error
	$(call numad_front_end,$(LIBDIR)/dist/cli/numad-entry.js,$(DESTDIR)$(LIBDIR)/numad)
	$(subst) src/install/numadvisor.sh > $(DESTDIR)$(BINDIR)/numadvisor && chmod 0755 $(DESTDIR)$(BINDIR)/numadvisor
	$(subst) src/install/numadvisor.service > $(DESTDIR)$(UNITDIR)/numadvisor.service
	install -m 0644 src/install/numadvisor.logrotate $(DESTDIR)$(LOGROTATEDIR)/numadvisor
	install -d $(DESTDIR)$(MANDIR)/man8
	install -m 0644 man/numadvisor.8 man/numadvisor-numad.8 $(DESTDIR)$(MANDIR)/man8/
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
	rm -f $(DESTDIR)$(MANDIR)/man8/numadvisor.8 $(DESTDIR)$(MANDIR)/man8/numadvisor-numad.8
	rm -rf $(DESTDIR)$(LIBDIR)
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

# --- Debian package (docs/install.md) ------------------------------------------------------------------------------
# `make deb` writes dist/numadvisor_VERSION_ARCH.deb with dpkg-deb from a staging tree (dist/deb; no debhelper):
# /usr/lib/numadvisor (the build without source maps, production node_modules without highs, which only
# `numadvisor simulate` loads), /usr/bin/numadvisor, /usr/bin/numad (the C front end compiled for
# /usr/lib/numadvisor and /usr/bin/node; the maintainer scripts in packaging/deb divert Debian's numad around it),
# the hardened unit in /usr/lib/systemd/system, the conffiles /etc/default/numadvisor and
# /etc/logrotate.d/numadvisor, docs and README in /usr/share/doc/numadvisor, man/*.8 when present.
DEB_STAGE := dist/deb
DEB_LIBDIR := /usr/lib/numadvisor
DEB_DOCDIR := /usr/share/doc/numadvisor
DEB_VERSION = $(shell $(NODE) -p 'require("./package.json").version')
DEB_ARCH = $(shell dpkg --print-architecture)
# The first version in package.json's "engines" (">=20.19 ..." → nodejs (>= 20.19)).
DEB_NODE_MIN = $(shell $(NODE) -p 'require("./package.json").engines.node.match(/[0-9]+(\.[0-9]+)*/)[0]')
DEB_FILE = dist/numadvisor_$(DEB_VERSION)_$(DEB_ARCH).deb
deb_subst = sed -e 's|@NODE@|/usr/bin/node|g' -e 's|@LIBDIR@|$(DEB_LIBDIR)|g' -e 's|@BINDIR@|/usr/bin|g' -e 's|@DOCDIR@|$(DEB_DOCDIR)|g' \
  -e 's|@DAEMON_NODE_FLAGS@|$(DAEMON_NODE_FLAGS)|g' -e 's|@VERSION@|$(DEB_VERSION)|g' -e 's|@ARCH@|$(DEB_ARCH)|g' -e 's|@NODE_MIN@|$(DEB_NODE_MIN)|g'

.PHONY: deb
deb: build
	rm -rf $(DEB_STAGE) $(DEB_FILE)
	install -d $(DEB_STAGE)/DEBIAN $(DEB_STAGE)$(DEB_LIBDIR)/dist $(DEB_STAGE)/usr/bin $(DEB_STAGE)/usr/lib/systemd/system \
	  $(DEB_STAGE)/etc/default $(DEB_STAGE)/etc/logrotate.d $(DEB_STAGE)$(DEB_DOCDIR)/docs $(DEB_STAGE)/usr/share/numadvisor
	tar -C dist --exclude=./deb --exclude=./numad --exclude='*.deb' --exclude='*.map' -cf - . | tar -C $(DEB_STAGE)$(DEB_LIBDIR)/dist -xf -
	cp package.json package-lock.json $(DEB_STAGE)$(DEB_LIBDIR)/
	cd $(DEB_STAGE)$(DEB_LIBDIR) && $(NPM) ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error && rm -rf node_modules/highs node_modules/.package-lock.json
	$(call numad_front_end,$(DEB_LIBDIR)/dist/cli/numad-entry.js,$(DEB_STAGE)/usr/bin/numad,/usr/bin/node)
	$(deb_subst) src/install/numadvisor.sh > $(DEB_STAGE)/usr/bin/numadvisor && chmod 0755 $(DEB_STAGE)/usr/bin/numadvisor
	$(deb_subst) src/install/numadvisor.service > $(DEB_STAGE)/usr/lib/systemd/system/numadvisor.service
	install -m 0644 packaging/deb/numadvisor.default $(DEB_STAGE)/etc/default/numadvisor
	install -m 0644 src/install/numadvisor.logrotate $(DEB_STAGE)/etc/logrotate.d/numadvisor
	install -m 0644 src/install/numad.logrotate $(DEB_STAGE)/usr/share/numadvisor/numad.logrotate
	install -m 0644 README.md packaging/deb/copyright $(DEB_STAGE)$(DEB_DOCDIR)/
	install -m 0644 docs/*.md docs/*.svg $(DEB_STAGE)$(DEB_DOCDIR)/docs/
	@if ls man/*.8 >/dev/null 2>&1; then install -d $(DEB_STAGE)/usr/share/man/man8 && for m in man/*.8; do gzip -9n < $$m > $(DEB_STAGE)/usr/share/man/man8/$$(basename $$m).gz; done; \
	  else echo "note: no man/*.8 yet; the package has no man pages"; fi
	$(deb_subst) packaging/deb/control.in > $(DEB_STAGE)/DEBIAN/control
	echo "Installed-Size: $$(du -sk --exclude=DEBIAN $(DEB_STAGE) | cut -f1)" >> $(DEB_STAGE)/DEBIAN/control
	install -m 0644 packaging/deb/conffiles $(DEB_STAGE)/DEBIAN/conffiles
	install -m 0755 packaging/deb/preinst packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm $(DEB_STAGE)/DEBIAN/
	dpkg-deb --build --root-owner-group $(DEB_STAGE) $(DEB_FILE)
	rm -rf $(DEB_STAGE)
	@echo "built $(DEB_FILE); install with: dpkg -i $(DEB_FILE)  (or apt install ./$(DEB_FILE))"
