# Thin wrappers over dev.sh, which needs nothing but bash on a fresh machine.
.PHONY: setup build test demo bench
setup:
	./dev.sh setup
build:
	./dev.sh build
test:
	./dev.sh test
demo:
	./dev.sh demo
bench:
	./dev.sh bench
