# Earshot: the two commands of the README, and their parts.
SWIFT ?= swift

.PHONY: demo test deps build release release-static man deb install check-package

## The main job: install, build, start the daemon on a demo source and show a live client view.
demo: deps release
	scripts/demo.sh

## Seconds of libFuzzer per fuzz target in `make test`.
FUZZ_SECONDS ?= 45

## Every test (the command CI runs): every target's imports against Package.swift, the test suite, the Python
## client's suite (and its wheel and sdist), the live view in headless Chromium (Gemma 4, then Echo), a downstream package on
## EarshotClient by version, the deployment manifests' checks, then a bounded fuzzing run of every target in Fuzz/.
test: deps
	SWIFT=$(SWIFT) scripts/check-imports.sh
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	scripts/check-python-client.sh
	scripts/check-live-view.sh
	MODEL=Tests/Fixtures/echo/base SCREENSHOT=.build/live-view-echo.png scripts/check-live-view.sh
	SWIFT=$(SWIFT) scripts/check-swift-client.sh
	scripts/check-manifests.sh
	scripts/fuzz.sh all $(FUZZ_SECONDS)
	packaging/check-package.sh

deps:
	scripts/install-deps.sh

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release

## What the Debian package and `make install` ship: a release build with the Swift runtime and Foundation linked in
## statically, so the binaries run without the toolchain. Built once; `make deb` and `make install` reuse it.
STATIC_RELEASE = -c release --static-swift-stdlib
release-static:
	$(SWIFT) build $(STATIC_RELEASE)

## Man pages from the commands' own help (packaging/man-pages.sh: swift-argument-parser's generate-manual), into
## dist/man. Dated by the commit built, so the same tree gives the same pages.
MAN_DATE = $(shell git log -1 --format=%cs 2>/dev/null || date -u +%F)
BIN_DIR = $$($(SWIFT) build $(STATIC_RELEASE) --show-bin-path)
man: release-static
	$(SWIFT) build $(STATIC_RELEASE) --target generate-manual
	packaging/man-pages.sh "$(BIN_DIR)" dist/man $(MAN_DATE)

## dist/earshot_<version>_<arch>.deb (packaging/README.md).
deb: man
	packaging/build-deb.sh "$(BIN_DIR)" dist/man

## Installs under $(DESTDIR)$(PREFIX) with the package's layout (packaging/install.sh): binaries, VAD weights, man
## pages, config (kept if present), systemd units with ExecStart in $(PREFIX)/bin, sysusers.d.
PREFIX ?= /usr/local
install: man
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" packaging/install.sh "$(BIN_DIR)" dist/man

## Builds the package, installs it, runs the installed daemon and tools, verifies the units, lints, purges.
check-package:
	packaging/check-package.sh
