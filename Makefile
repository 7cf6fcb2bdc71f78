# ltcls developer commands. `make demo` and `make test` install what they need.
VENV ?= .venv
PY := $(VENV)/bin/python
NPROC ?= 2
QUICKSTART ?= configs/quickstart/resnet32_ce_digits-lt.py
WORK_DIR ?= work_dirs/quickstart
PYTEST_ARGS ?=

.PHONY: install test demo clean-venv

install:
	bash tools/install.sh

test: install
	$(PY) -m pytest tests $(PYTEST_ARGS)

# Train the quickstart on DigitsLT with NPROC CPU processes (gloo), then
# evaluate the last checkpoint with tools/test.py.
demo: install
	PYTHON=$(PY) bash tools/dist_train.sh $(QUICKSTART) $(NPROC) --work-dir $(WORK_DIR)
	PYTHON=$(PY) $(PY) tools/test.py $(QUICKSTART) $$(cat $(WORK_DIR)/last_checkpoint) --work-dir $(WORK_DIR)/test

clean-venv:
	rm -rf $(VENV)
