# pipelines/demo.mk - `make demo`, the README's first command.  Included by
# the top-level Makefile.  Installs missing Debian packages (as root) or
# prints the apt-get line, builds, and runs a small end-to-end pipeline.
DEMO_OUT ?= out/demo

.PHONY: demo
demo:
	@sh scripts/deps.sh
	@$(MAKE) --no-print-directory -j2 all
	@mkdir -p $(DEMO_OUT)
	@sh pipelines/demo.sh $(BUILD)/bin $(DEMO_OUT)
