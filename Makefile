# Earshot: the two commands of the README, and their parts.
SWIFT ?= swift

.PHONY: demo test deps build release

## The main job: install, build, start the daemon on a demo source and show a live client view.
demo: deps release
	scripts/demo.sh

## Every test (the command CI runs).
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

deps:
	scripts/install-deps.sh

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release
