# mailproc — the two set-up commands are `make run` and `make test` (see README.md).
BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60
# make install [DESTDIR=...] [PREFIX=...]
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc/mailproc
UNITDIR ?= $(PREFIX)/lib/systemd/system

.PHONY: all deps build run demo-config install test asan fuzz bench format clean

all: build

deps:
	@.ci/install-deps

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

# The demo of README.md: etc/demo/* copied into RUN_DIR (run/) with @RUN@ = its
# absolute path, @USER@ = who deliveries run as (you; `mailproc` as root) and
# @LISTEN@ = DEMO_LISTEN. Mail for anyone@example.org lands in run/Maildir/new/.
# As root from a checkout the demo user cannot reach (under a 0700 folder such as
# /root), the files live in DEMO_FALLBACK instead and run/ is a symlink to it.
# The build is quiet (its log is build/make-run.log) and makes only the programs.
RUN_DIR ?= $(CURDIR)/run
DEMO_LISTEN ?= 127.0.0.1:2525
DEMO_FALLBACK ?= /var/tmp/mailproc-demo
DEMO_USER = $(shell if [ "$$(id -u)" -eq 0 ]; then echo mailproc; else id -un; fi)
PROGRAMS := mailprocd mpqueue mpsendmail
CONF ?= $(RUN_DIR)/mailprocd.conf

run: deps
	@mkdir -p $(BUILD)
	@echo "building $(PROGRAMS) (log: $(BUILD)/make-run.log) ..."
	@{ { [ -f $(BUILD)/CMakeCache.txt ] || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS); } && \
	   cmake --build $(BUILD) -j$(JOBS) --target $(PROGRAMS); } >$(BUILD)/make-run.log 2>&1 || \
	  { tail -n 40 $(BUILD)/make-run.log; echo "make run: build failed, see $(BUILD)/make-run.log" >&2; exit 1; }
	@$(MAKE) --no-print-directory demo-config
	@echo "mailprocd is starting on $(DEMO_LISTEN) (Ctrl-C stops it). In another terminal,"
	@echo "  now send: swaks --server $(DEMO_LISTEN) --from you@example.com --to someone@example.org"
	@echo "  then read: ls $(RUN_DIR)/Maildir/new/  (mail for example.org lands there)"
	@echo "  queue:     $(BUILD)/bin/mpqueue -c $(CONF) -p"
	@# The resolved path: a reload re-reads it as the unprivileged user.
	@exec $(BUILD)/bin/mailprocd -c "$$(readlink -f $(CONF))"

demo-config:
	@run="$(RUN_DIR)"; \
	if [ "$$(id -u)" -eq 0 ] && ! runuser -u $(DEMO_USER) -- test -x "$$(dirname "$$run")"; then \
	  if [ -d "$$run" ] && [ ! -L "$$run" ]; then \
	    echo "make run: $$run is not reachable by $(DEMO_USER); move it away first" >&2; exit 1; fi; \
	  install -d -m 0755 $(DEMO_FALLBACK); ln -sfn $(DEMO_FALLBACK) "$$run"; \
	  echo "($(DEMO_USER) cannot reach $$(dirname "$$run"): the demo lives in $(DEMO_FALLBACK), run/ links to it)"; \
	  run=$(DEMO_FALLBACK); \
	fi; \
	mkdir -p "$$run"; \
	for f in etc/demo/*; do \
	  sed -e "s|@RUN@|$$run|g" -e 's|@USER@|$(DEMO_USER)|g' -e 's|@LISTEN@|$(DEMO_LISTEN)|g' $$f > "$$run/$$(basename $$f)"; \
	done; \
	if [ "$$(id -u)" -eq 0 ]; then install -d -o $(DEMO_USER) -g $(DEMO_USER) -m 0700 "$$run/Maildir"; fi

# Programs (stripped), the sendmail and mailq symlinks, man pages, the systemd unit, and the samples in $(SYSCONFDIR) only
# where no file of that name exists (an operator's files are never replaced).
install: build
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(SYSCONFDIR) $(addprefix $(DESTDIR)$(PREFIX)/share/man/man,1 5 8)
	install -s -m 0755 $(BUILD)/bin/mailprocd $(DESTDIR)$(PREFIX)/sbin/mailprocd
	install -s -m 0755 $(BUILD)/bin/mpqueue $(BUILD)/bin/mpsendmail $(DESTDIR)$(PREFIX)/bin/
	@# sendmail where Debian has it (sbin), mailq beside mpqueue: both run mpsendmail,
	@# which acts on the name it was run under (mailq: the queue listing).
	ln -sfn ../bin/mpsendmail $(DESTDIR)$(PREFIX)/sbin/sendmail
	ln -sfn mpsendmail $(DESTDIR)$(PREFIX)/bin/mailq
	for f in doc/man/*.[158]; do install -m 0644 $$f $(DESTDIR)$(PREFIX)/share/man/man$${f##*.}/; done
	sed -e 's|@SBINDIR@|$(PREFIX)/sbin|g' -e 's|@BINDIR@|$(PREFIX)/bin|g' \
	  -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' etc/mailprocd.service \
	  > $(DESTDIR)$(UNITDIR)/mailprocd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/mailprocd.service
	@for f in mailprocd.conf transport variables rewrite users; do \
	  if [ -e $(DESTDIR)$(SYSCONFDIR)/$$f ]; then echo "kept $(DESTDIR)$(SYSCONFDIR)/$$f (exists)"; \
	  else install -m 0644 etc/$$f $(DESTDIR)$(SYSCONFDIR)/$$f && echo "installed $(DESTDIR)$(SYSCONFDIR)/$$f"; fi; \
	done

CTEST_ARGS ?=
test: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS) $(CTEST_ARGS)

# Under AddressSanitizer + UndefinedBehaviorSanitizer: the unit tests and the
# integration tests of parsers and protocols (label `protocol`, see
# tests/integration/CMakeLists.txt), not every end-to-end scenario twice.
# `make asan CTEST_ARGS=` runs them all.
asan:
	$(MAKE) test BUILD=build-asan BUILD_TYPE=Debug CMAKE_FLAGS=-DMP_SANITIZE=ON CTEST_ARGS="$(ASAN_CTEST_ARGS)"
ASAN_CTEST_ARGS ?= -L 'unit|protocol'

# libFuzzer targets (clang), each run for FUZZ_SECONDS on its stored corpus.
fuzz: deps
	CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMP_FUZZ=ON >/dev/null
	cmake --build build-fuzz -j$(JOBS) --target fuzz_targets
	tests/fuzz/run-all build-fuzz/bin $(FUZZ_SECONDS)

# smtp-source -> mailprocd -> smtp-sink beside Postfix (as root); prints the ratio.
bench: build
	bench/vs_postfix.py

format:
	find common smtpd queue rewrite transports tools tests bench \( -name '*.cpp' -o -name '*.hpp' \) | xargs clang-format -i

clean:
	rm -rf build build-asan build-fuzz
