# Earshot: the two commands of the README, and their parts.
SWIFT ?= swift

.PHONY: demo test deps build release

## The main job: install, build, start the daemon on a demo source and show a live client view.
demo: deps release
	scripts/demo.sh

## Seconds of libFuzzer per fuzz target in `make test`.
FUZZ_SECONDS ?= 45

## Every test (the command CI runs): the test suite, the Python client's suite (and its wheel and sdist), a downstream
## package on EarshotClient by version, the deployment manifests' checks, then a bounded fuzzing run of every target in
## Fuzz/.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	scripts/check-python-client.sh
	SWIFT=$(SWIFT) scripts/check-swift-client.sh
	scripts/check-manifests.sh
	scripts/fuzz.sh all $(FUZZ_SECONDS)

deps:
	scripts/install-deps.sh

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release
