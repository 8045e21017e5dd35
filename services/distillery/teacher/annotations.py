"""The annotations teacher: CoT, PoT and EoT thoughts derived from gold rationales, no LLM.

GSM8K rationales carry calculator annotations, ``48/2 = <<48/2=24>>24 clips in May``. Each
annotation is one step; a number in a later step that equals an earlier step's result is
that step's variable, so the steps become a real dataflow program:

    % Natalia sold 48/2 = 24 clips in May.            (EoT)     # ... (PoT, same lines)
    clips_in_may = 48 / 2                                       clips_in_may = 48 / 2
    % Natalia sold 48+24 = 72 clips altogether ...
    clips_altogether = 48 + clips_in_may
    ans = clips_altogether

Variable names come from the words after the step's result ("24 clips in May" →
``clips_in_may``). A final step written without an annotation (``$18.50 − $6.50 = $12``) is
recovered from the text. SVAMP, ASDiv and MultiArith give one equation per problem.

That is format ``gold-annotations-v1``: one text three ways (PoT and EoT are the same lines).
``gold-annotations-v2`` (the default) builds a :class:`~distillery.teacher.dataflow.Dataflow` from
the same steps and renders three different texts (:mod:`distillery.teacher.formats`): PoT with the
question's givens as named variables, EoT as a system with the asked quantity as unknown ``x`` and
equations to solve, CoT in words. :func:`derive` takes the version.

Everything here is pure string work; the thoughts are checked by the verifier like any
teacher's (:func:`derive` never claims a thought is right).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from fractions import Fraction

from distillery.teacher.config import ANNOTATION_VERSIONS, DEFAULT_ANNOTATION_VERSION, annotation_version_error

ANNOTATION = re.compile(r"<<([^<>=]*)=([^<>]*)>>")
# An un-annotated "a op b [op c ...] = c" in prose, e.g. "$18.50 − $6.50 = $12".
PLAIN_EQUATION = re.compile(
    r"((?:\$?\d[\d,]*(?:\.\d+)?\s*[-+*/x×÷−]\s*)+\$?\d[\d,]*(?:\.\d+)?)\s*=\s*\$?(\d[\d,]*(?:\.\d+)?)")
NUMBER = re.compile(r"\d+(?:\.\d+)?|\.\d+")
STOP_WORDS = {"a", "an", "the", "of", "and", "so", "is", "are", "was", "were", "in", "on", "at", "to", "for",
              "he", "she", "they", "it", "his", "her", "their", "each", "this", "that", "which", "than", "then",
              "there", "with", "by", "from", "as", "will", "be", "has", "have", "had", "all", "means",
              "we", "you", "thus", "therefore", "total", "x"}


@dataclass
class Step:
    name: str
    expression: str  # Python/EoT syntax, earlier results replaced by their names
    value: str
    sentence: str


@dataclass
class Derivation:
    """The thoughts for one problem, or why none could be derived."""

    thoughts: dict[str, str] = field(default_factory=dict)  # thought_type -> text
    failure: str | None = None  # a short class: "no annotations", "answer not derived", ...


def _number_text(value: str) -> str:
    """A literal as a program writes it: "48.0" -> "48", "0.50" -> "0.5", "1,200" -> "1200"."""
    value = value.replace(",", "")
    if "." in value:
        value = value.rstrip("0").rstrip(".")
    return value or "0"


def _same_number(a: str, b: str) -> bool:
    try:
        return Fraction(_number_text(a)) == Fraction(_number_text(b))
    except (ValueError, ZeroDivisionError):
        return False


def _content_words(text: str) -> list[str]:
    return [w.lower() for w in re.findall(r"[A-Za-z]+", text) if w.lower() not in STOP_WORDS]


def _name_from(words_after: str, words_before: str, taken: set[str], index: int) -> str:
    """Name a result by what follows it ("24 clips in May"), else by what precedes it."""
    after = _content_words(" ".join(re.findall(r"[A-Za-z]+", words_after)[:6]))[:3]
    return unique_name("_".join(after or _content_words(words_before)[-3:]) or f"step_{index}", taken)


def unique_name(name: str, taken: set[str], reserved: frozenset[str] | set[str] = frozenset()) -> str:
    """``name`` made a usable variable: never a keyword, `ans`, `x` or a reserved word, and not one
    already ``taken`` (then ``_2``, ``_3`` ...); the result is added to ``taken``."""
    if keyword.iskeyword(name) or name in ("ans", "x") or name in reserved:
        name = f"{name}_value"
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _normalise_operators(expression: str) -> str:
    return (expression.replace("×", "*").replace("÷", "/").replace("−", "-").replace("x", "*")
            .replace("$", "").replace(",", ""))


def _substitute(expression: str, steps: list[Step], given: set[str]) -> str:
    """Replace literals equal to earlier results (latest first) by the steps' names.

    A literal the question itself states (``given``) stays a literal: it is an input, not
    a coincidence with an intermediate result.
    """
    def replace(match: re.Match) -> str:
        literal = match.group(0)
        if _number_text(literal) in given:
            return _number_text(literal)
        for step in reversed(steps):
            if _same_number(literal, step.value):
                return step.name
        return _number_text(literal)

    return NUMBER.sub(replace, expression)


def _pretty(expression: str) -> str:
    spaced = re.sub(r"\s*([-+*/])\s*", r" \1 ", expression)
    return re.sub(r"\(\s+", "(", re.sub(r"\s+\)", ")", spaced)).strip()


def gsm8k_steps(rationale: str, question: str = "") -> list[Step]:
    steps: list[Step] = []
    taken: set[str] = set()
    given = {_number_text(n) for n in NUMBER.findall(question.replace(",", ""))}
    for sentence in rationale.splitlines():
        if sentence.startswith("####"):
            continue
        annotations = list(ANNOTATION.finditer(sentence))
        if annotations:
            for match in annotations:
                expression, value = match.group(1), match.group(2).strip()
                after = sentence[match.end():]
                after = after[len(re.match(r"\s*\$?[\d.,]*%?", after).group(0)):]
                name = _name_from(after, sentence[:match.start()].split("=")[0], taken, len(steps) + 1)
                steps.append(Step(name, _pretty(_substitute(_normalise_operators(expression), steps, given)),
                                  value, ANNOTATION.sub("", sentence).strip()))
        else:
            for match in PLAIN_EQUATION.finditer(sentence):
                expression, value = match.group(1), match.group(2)
                name = _name_from(sentence[match.end():], sentence[:match.start()], taken, len(steps) + 1)
                steps.append(Step(name, _pretty(_substitute(_normalise_operators(expression), steps, given)),
                                  value, sentence.strip()))
    return steps


def _answer_step(steps: list[Step], gold: float) -> Step | None:
    for step in reversed(steps):
        try:
            if abs(float(_number_text(step.value)) - gold) < 1e-6:
                return step
        except ValueError:
            continue
    return None


def derive_gsm8k(rationale: str, gold: float, question: str = "") -> Derivation:
    steps = gsm8k_steps(rationale, question)
    if not steps:
        return Derivation(failure="no calculations in the rationale")
    final = _answer_step(steps, gold)
    if final is None:
        return Derivation(failure="answer not computed by any step")
    used = steps[: steps.index(final) + 1]
    pot = [line for s in used for line in (f"# {s.sentence}", f"{s.name} = {s.expression}")]
    eot = [line for s in used for line in (f"% {s.sentence}", f"{s.name} = {s.expression}")]
    cot_lines = [ANNOTATION.sub("", line).strip() for line in rationale.splitlines() if not line.startswith("####")]
    return Derivation(thoughts={
        "pot": "\n".join(pot + [f"ans = {final.name}"]),
        "eot": "\n".join(eot + [f"ans = {final.name}"]),
        "cot": " ".join(line for line in cot_lines if line) + f" The answer is {_number_text(str(gold))}.",
    })


def derive_equation(equation: str, gold: float) -> Derivation:
    """SVAMP ``( 76.0 - 25.0 )``, MultiArith ``X=((32.0+42.0)-35.0)``, ASDiv ``7+2=9``."""
    expression = equation.split(";")[0].strip()
    if re.match(r"^[Xx]\s*=", expression):
        expression = expression.split("=", 1)[1]
    elif "=" in expression:
        expression = expression.split("=", 1)[0]
    expression = _normalise_operators(expression)
    if not expression or re.search(r"[A-Za-z_]", expression):
        return Derivation(failure="equation is not plain arithmetic")
    expression = _pretty(NUMBER.sub(lambda m: _number_text(m.group(0)), expression))
    answer = _number_text(str(gold))
    return Derivation(thoughts={
        "pot": f"ans = {expression}",
        "eot": f"% the answer follows from the quantities in the question\nans = {expression}",
        "cot": f"We compute {expression} = {answer}. The answer is {answer}.",
    })


def _cot_text(rationale: str, gold: float) -> str:
    lines = [ANNOTATION.sub("", line).strip() for line in rationale.splitlines() if not line.startswith("####")]
    return " ".join(line for line in lines if line) + f" The answer is {_number_text(str(gold))}."


def derive_gsm8k_v2(rationale: str, gold: float, question: str) -> Derivation:
    """v2: the rationale's dataflow rendered as three different texts (:mod:`.formats`)."""
    from distillery.teacher import dataflow, formats  # they import this module

    try:
        flow = dataflow.from_annotations(question, rationale, gold)
    except dataflow.DataflowError as exc:
        return Derivation(failure=str(exc))
    return Derivation(thoughts=formats.render_v2(flow, _cot_text(rationale, gold)))


def derive_equation_v2(equation: str, gold: float, question: str) -> Derivation:
    """v2 of a one-equation benchmark: the numbers the question states become named givens."""
    from distillery.teacher import dataflow, formats

    v1 = derive_equation(equation, gold)
    if v1.failure:
        return v1
    expression = v1.thoughts["pot"].removeprefix("ans = ")
    try:
        flow = dataflow.from_program(question, f"ans = {expression}")
    except (dataflow.DataflowError, ZeroDivisionError, OverflowError):
        return v1  # outside the dataflow grammar (a power, a ratio "2:3"): the one-liner, for the verifier to judge
    return Derivation(thoughts=formats.render_v2(flow, v1.thoughts["cot"]))


def derive(problem: dict, version: str = DEFAULT_ANNOTATION_VERSION) -> Derivation:
    """Thoughts for a registry ``problems`` row (see registry.benchmarks for the schema), in the
    format ``version``: ``gold-annotations-v1`` (one text three ways, the first derivation) or
    ``gold-annotations-v2`` (:mod:`distillery.teacher.formats`)."""
    if version not in ANNOTATION_VERSIONS:
        raise ValueError(f"unknown annotations version {version!r}; {annotation_version_error()}")
    v2 = version == "gold-annotations-v2"
    question = problem.get("question", "")
    if problem.get("rationale"):
        if v2:
            return derive_gsm8k_v2(problem["rationale"], float(problem["answer"]), question)
        return derive_gsm8k(problem["rationale"], float(problem["answer"]), question)
    if problem.get("equation"):
        if v2:
            return derive_equation_v2(problem["equation"], float(problem["answer"]), question)
        return derive_equation(problem["equation"], float(problem["answer"]))
    return Derivation(failure="problem has neither a rationale nor an equation")
