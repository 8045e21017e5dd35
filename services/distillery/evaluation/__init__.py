"""Evaluation: a student on GSM8K, SVAMP, ASDiv and MultiArith -- per thought type and ETD-combined.

* :mod:`.generation` -- the student writes thoughts (vLLM or batched HF ``generate``)
* :mod:`.scoring` -- verified thoughts -> accuracy per benchmark x method (pure)
* :mod:`.models` -- a model reference -> a local HF checkpoint (directory, alias, registry model)
* :mod:`.harness` -- ``run_eval``: the whole evaluation, results stored in the registry
"""
