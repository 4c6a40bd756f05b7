# mailproc — the two set-up commands are `make run` and `make test` (see README.md).
BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc)
CONF ?= run/mailprocd.conf
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

# The demo of README.md: etc/demo/* copied into run/ with @RUN@ = the absolute
# path of run/ and @USER@ = who deliveries run as (you; `mailproc` as root).
# Mail for anyone@example.org lands in run/Maildir/new/.
RUN_DIR := $(CURDIR)/run
DEMO_USER = $(shell if [ "$$(id -u)" -eq 0 ]; then echo mailproc; else id -un; fi)

run: build demo-config
	$(BUILD)/bin/mailprocd -c $(CONF)

demo-config:
	@mkdir -p run
	@for f in etc/demo/*; do \
	  sed -e 's|@RUN@|$(RUN_DIR)|g' -e 's|@USER@|$(DEMO_USER)|g' $$f > run/$$(basename $$f); \
	done
	@if [ "$$(id -u)" -eq 0 ]; then install -d -o $(DEMO_USER) -g $(DEMO_USER) -m 0700 run/Maildir; fi

# Programs, man pages, the systemd unit, and the samples in $(SYSCONFDIR) only
# where no file of that name exists (an operator's files are never replaced).
install: build
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(SYSCONFDIR) $(addprefix $(DESTDIR)$(PREFIX)/share/man/man,1 5 8)
	install -m 0755 $(BUILD)/bin/mailprocd $(DESTDIR)$(PREFIX)/sbin/mailprocd
	install -m 0755 $(BUILD)/bin/mpqueue $(BUILD)/bin/mpsendmail $(DESTDIR)$(PREFIX)/bin/
	for f in doc/man/*.[158]; do install -m 0644 $$f $(DESTDIR)$(PREFIX)/share/man/man$${f##*.}/; done
	sed -e 's|@SBINDIR@|$(PREFIX)/sbin|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' etc/mailprocd.service \
	  > $(DESTDIR)$(UNITDIR)/mailprocd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/mailprocd.service
	@for f in mailprocd.conf transport variables rewrite users; do \
	  if [ -e $(DESTDIR)$(SYSCONFDIR)/$$f ]; then echo "kept $(DESTDIR)$(SYSCONFDIR)/$$f (exists)"; \
	  else install -m 0644 etc/$$f $(DESTDIR)$(SYSCONFDIR)/$$f && echo "installed $(DESTDIR)$(SYSCONFDIR)/$$f"; fi; \
	done

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer.
asan:
	$(MAKE) test BUILD=build-asan BUILD_TYPE=Debug CMAKE_FLAGS=-DMP_SANITIZE=ON

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
