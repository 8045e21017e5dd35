"""Evaluation: a student on GSM8K, SVAMP, ASDiv and MultiArith -- per thought type and ETD-combined.

* :mod:`distillery.student.generation` -- the student writes thoughts (vLLM or batched HF ``generate``)
* :mod:`.scoring` -- verified thoughts -> accuracy per benchmark x method, with self-consistency (pure)
* :mod:`.thought_file` -- ``eval --score FILE``: thoughts generated elsewhere (its row schema), graded
* :mod:`distillery.student.model_refs` -- a model reference -> a local HF checkpoint (directory, alias, registry model)
* :mod:`.harness` -- ``run_eval``: the whole evaluation, results stored in the registry
"""
