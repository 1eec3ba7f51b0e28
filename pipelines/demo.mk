# pipelines/demo.mk - `make demo`, the README's first command, and the
# top-level targets of the experiments in pipelines/.  Included by the
# top-level Makefile.
#
#   make demo            install what is missing (or print the apt-get line),
#                        build, train mlp-2d on the swiss roll and write
#                        out/demo/denoise.gif and denoise.mp4 (a few minutes)
#   make toy2d           pipelines/toy2d.mk: every toy set, GIFs and scores
#   make forward         pipelines/forward.mk: the forward process per schedule
#   make fashion-mnist   pipelines/fashion-mnist.mk (long: STEPS=... to change)
#   make docs            every picture under docs/ that README.md shows, made
#                        again from the current code: the demo, toy2d, forward,
#                        then pipelines/docs.mk (a few minutes; the
#                        Fashion-MNIST pictures: make docs-fmnist, hours)
DEMO_OUT ?= out/demo

.PHONY: demo toy2d forward fashion-mnist docs docs-fmnist

demo:
	@sh scripts/deps.sh
	@$(MAKE) --no-print-directory -j2 BUILD=$(BUILD) all
	@mkdir -p $(DEMO_OUT)
	@sh pipelines/demo.sh $(BUILD)/bin $(DEMO_OUT)

toy2d forward fashion-mnist: all
	@$(MAKE) --no-print-directory -j2 -f pipelines/$@.mk BUILD=$(BUILD)

docs: all
	@mkdir -p $(DEMO_OUT)
	@sh pipelines/demo.sh $(BUILD)/bin $(DEMO_OUT)
	@$(MAKE) --no-print-directory -j2 -f pipelines/toy2d.mk BUILD=$(BUILD) MAXRATIO=2
	@$(MAKE) --no-print-directory -j2 -f pipelines/forward.mk BUILD=$(BUILD)
	@$(MAKE) --no-print-directory -f pipelines/docs.mk BUILD=$(BUILD)

docs-fmnist: all
	@$(MAKE) --no-print-directory -j2 -f pipelines/fashion-mnist.mk BUILD=$(BUILD)
	@$(MAKE) --no-print-directory -f pipelines/docs.mk BUILD=$(BUILD) fmnist
