"""docs/job-spec.md is generated from the spec's models: it must be current, and say what they do."""

from __future__ import annotations

import re

from distillery.jobs import spec_reference
from distillery.jobs.spec import JobSpec


def test_the_committed_reference_is_current():
    assert spec_reference.main(["--check"]) == 0, "run `python -m distillery.jobs.spec_reference`"


def test_every_field_of_every_section_is_documented_with_its_default():
    text = spec_reference.render()
    for path, model in spec_reference._sections(JobSpec, ""):
        heading = f"## `{path}`" if path else "## Top level"
        section = text.split(heading + "\n", 1)[1].split("\n## ", 1)[0]
        rows = re.findall(r"^\| `(\w+)`", section, re.M)
        assert rows == list(model.model_fields), path
    # Defaults are the models' own: change one and the page changes.
    assert "| `max_steps` | integer or null | `null` |" in text
    assert '| `thought_types` (also `recipe`) | list of string | `["cot", "pot", "eot"]` |' in text
    assert "| `attempts` | integer | `3` |" in text and "**required**" in text.split("## `problems`")[0]
