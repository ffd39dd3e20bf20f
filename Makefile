# The two commands a new user needs: `make demo` (the main job) and `make test`.
# Both install missing Debian packages first.

PACKAGES := libopenblas-dev zlib1g-dev libpng-dev dataset-fashion-mnist
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
ISP := .build/release/isp

.PHONY: deps build demo test bench clean

deps:
	@missing=$$(for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

build: deps
	swift build -c release

demo: build
	bash scripts/demo.sh

test: deps
	swift build -c release --build-tests
	swift test -c release --skip-build
	bash scripts/check-dependent.sh

clean:
	rm -rf .build
