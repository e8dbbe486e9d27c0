# Every target runs inside .venv, which `install` creates (idempotently) on first use. `install` puts
# in what the application runs (TensorFlow's CPU build, or with GPU=1 the CUDA builds of TensorFlow
# and JAX instead, never both kinds); `install-test` adds the test tools (pytest, JAX, ruff) for
# `test`, `lint` and `bench`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The TensorFlow build chosen last stays chosen: GPU=1 switches to CUDA, GPU=0 back to the CPU build.
GPU ?= $(if $(wildcard $(VENV)/.installed-gpu),1,0)
BUILD := $(if $(filter 1,$(GPU)),gpu,cpu)
OTHER_BUILD := $(if $(filter 1,$(GPU)),cpu,gpu)
STAMP := $(VENV)/.installed-$(BUILD)
TEST_STAMP := $(VENV)/.installed-test
CONFIG ?= configs/default.yaml
RUNS ?= runs
HOST ?= 127.0.0.1
PORT ?= 6006
SETS ?= Set5 Set14 BSD100 Urban100 Set12 BSD68 CBSD68 Kodak24 McMaster T91 Train400
export TF_CPP_MIN_LOG_LEVEL ?= 2
# setuptools warns on every editable install that local folders shadow the package: here they are it.
PIP := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet

.PHONY: install install-test test test-fast test-tensorflow test-jax bench lint train evaluate restore report export \
	tensorboard data clean gpu-smoke

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	@# The two builds both own the `tensorflow` package: the other one leaves before this one comes.
	@if [ -e $(VENV)/.installed-$(OTHER_BUILD) ]; then \
		$(BIN)/python -m pip uninstall --quiet --yes tensorflow tensorflow-cpu jax-cuda12-plugin \
			jax-cuda12-pjrt; \
		rm -f $(VENV)/.installed-$(OTHER_BUILD) $(TEST_STAMP); fi
	$(PIP) -e '.[$(BUILD)]'
	touch $(STAMP)

install-test: $(TEST_STAMP)

$(TEST_STAMP): $(STAMP)
	$(PIP) -e '.[$(BUILD),test]'
	$(PIP) --no-deps $(TF2ONNX)
	touch $(TEST_STAMP)

# ONNX export: Keras' exporter runs tf2onnx, whose pin of protobuf 3 TensorFlow outgrew; it works on
# the newer protobuf (tested), so it comes without its dependencies.
TF2ONNX := tf2onnx==1.16.1
EXPORT_STAMP := $(VENV)/.installed-export

$(EXPORT_STAMP): $(STAMP)
	$(PIP) -e '.[$(BUILD),export]'
	$(PIP) --no-deps $(TF2ONNX)
	touch $(EXPORT_STAMP)

# make export RUN=runs/<experiment>/<arm>/seed<N> [FORMAT="savedmodel onnx litert"] [ARGS=...]
FORMAT ?= savedmodel onnx litert
export: $(EXPORT_STAMP)
	$(BIN)/python export.py $(RUN) --format $(FORMAT) $(ARGS)

# The whole suite on TensorFlow, then the backend-agnostic tests (dropblock, training) on JAX.
test: test-tensorflow test-jax

test-tensorflow: install-test
	KERAS_BACKEND=tensorflow $(BIN)/python -m pytest tests -q -p no:cacheprovider --durations=25

# The inner loop: everything but the slow tests (training end to end, processes, distribution,
# benchmarks, published-size networks), on TensorFlow.
test-fast: install-test
	KERAS_BACKEND=tensorflow $(BIN)/python -m pytest tests -m "not slow" -q -p no:cacheprovider

test-jax: install-test
	KERAS_BACKEND=jax $(BIN)/python -m pytest tests -m backend_agnostic -q -p no:cacheprovider

bench: install-test
	$(BIN)/python -m benchmarks.gpu_ledger
	$(BIN)/python -m benchmarks.data_scale
	$(BIN)/python -m benchmarks.blind_chain
	$(BIN)/python -m benchmarks.dropblock_speed
	$(BIN)/python -m benchmarks.bicubic_baseline --ssim
	$(BIN)/python -m benchmarks.training_loop
	$(BIN)/python -m benchmarks.recipe_cost
	$(BIN)/python -m benchmarks.self_ensemble_cost
	$(BIN)/python -m benchmarks.step_speed
	$(BIN)/python -m benchmarks.distribution_speed

# The one-command check of a GPU machine, on JAX unless KERAS_BACKEND says otherwise. It installs
# nothing: numpy, scipy, keras and one backend in the Python that runs it are enough (.venv's if
# there is one), so it runs on a bare GPU machine too (`make gpu-smoke PYTHON=python3`).
SMOKE_PYTHON := $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))

gpu-smoke:
	KERAS_BACKEND=$${KERAS_BACKEND:-jax} $(SMOKE_PYTHON) -m benchmarks.gpu_smoke $(ARGS)

lint: install-test
	$(BIN)/ruff check .

train: install
	$(BIN)/python train.py --config $(CONFIG) $(ARGS)

evaluate: install
	$(BIN)/python evaluate.py $(ARGS)

restore: install
	$(BIN)/python restore.py $(ARGS)

report: install
	$(BIN)/python report.py $(RUN)

tensorboard: install
	@echo "The experiment view (verdict first): http://$(HOST):$(PORT)/#custom_scalars"
	$(BIN)/tensorboard --logdir $(RUNS) --host $(HOST) --port $(PORT)

data: install
	$(BIN)/python -m data.download --sets $(SETS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
