# The two commands a new user needs: `make demo` (the main job) and `make test`.
# Both install missing Debian packages first.

PACKAGES := libopenblas-dev zlib1g-dev libpng-dev libjpeg62-turbo-dev libmicrohttpd-dev libopenmpi-dev openmpi-bin dataset-fashion-mnist
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
ISP := .build/release/isp
PREFIX ?= /usr/local

.PHONY: deps build demo test bench clean install

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

# isp finds the shipped models relative to itself: PREFIX/bin/isp reads PREFIX/share/isp/models.
install: build
	install -D -m 755 $(ISP) $(PREFIX)/bin/isp
	install -d $(PREFIX)/share/isp/models
	install -m 644 models/*.safetensors $(PREFIX)/share/isp/models/

clean:
	rm -rf .build
