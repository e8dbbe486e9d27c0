# Every target runs inside .venv, which `install` creates (idempotently) on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONFIG ?= configs/default.yaml
RUNS ?= runs
HOST ?= 127.0.0.1
PORT ?= 6006
SETS ?= Set5 Set14 BSD100 Urban100 Set12 BSD68 CBSD68 Kodak24 McMaster T91 Train400
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install test test-tensorflow test-jax bench lint train evaluate report tensorboard data clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The whole suite on TensorFlow, then the backend-agnostic tests (dropblock, training) on JAX.
test: test-tensorflow test-jax

test-tensorflow: install
	KERAS_BACKEND=tensorflow $(BIN)/python -m pytest tests -q -p no:cacheprovider

test-jax: install
	KERAS_BACKEND=jax $(BIN)/python -m pytest tests -m backend_agnostic -q -p no:cacheprovider

bench: install
	$(BIN)/python -m benchmarks.dropblock_speed
	$(BIN)/python -m benchmarks.bicubic_baseline --ssim
	$(BIN)/python -m benchmarks.training_loop
	$(BIN)/python -m benchmarks.step_speed
	$(BIN)/python -m benchmarks.distribution_speed

lint: install
	$(BIN)/ruff check .

train: install
	$(BIN)/python train.py --config $(CONFIG) $(ARGS)

evaluate: install
	$(BIN)/python evaluate.py $(ARGS)

report: install
	$(BIN)/python report.py $(RUN)

tensorboard: install
	$(BIN)/tensorboard --logdir $(RUNS) --host $(HOST) --port $(PORT)

data: install
	$(BIN)/python -m data.download --sets $(SETS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
