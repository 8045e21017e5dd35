"""Thought formats of the annotations teacher, rendered from one :class:`~distillery.teacher.dataflow.Dataflow`.

Format v2 (``gold-annotations-v2``) gives the student three different texts of one solution:

* **PoT** -- PAL / XoT style Python: the question's givens as named variables, in question
  order, then one line per computation, then ``ans = ...``. No prose, no precomputed numbers.
* **EoT** -- a system of equations the solver has to *solve*: ``%`` comments quote the
  question's sentences, each followed by the givens it states; the asked-for quantity is
  introduced as the unknown (``dollars = x``) under the question's ask; a subtraction step
  is stated as its parts summing to the total (``breakfast + muffins + eggs_left = eggs_per_day``)
  and the final step is stated inverted (``dollars / price = eggs_left``), so the solver
  must eliminate, not just substitute; then ``ans = dollars``.
* **CoT** -- the worked solution in words, ending ``The answer is N.`` (given by the caller).

Everything here is pure string work on the dataflow; whether a thought is right is the
verifier's call, as for any teacher.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import replace
from fractions import Fraction

from distillery.teacher.dataflow import (ANSWER, BinOp, Dataflow, Expr, Given, evaluate,
                                         NAME_STOP_WORDS, NUMBER_WORDS, RESERVED_NAMES, number_text,
                                         question_numbers, render, snake_name)

UNKNOWN = "x"
# "a.  B", "?  B": a sentence ends at . ? ! followed by space (decimals like 1.25 have none).
_SENTENCE_END = re.compile(r"(?<=[.?!])[\"'”’)]*\s+")
_ASSIGNMENT = re.compile(r"^\s*[A-Za-z_]\w*\s*=(?!=)")


# -- the question's sentences ---------------------------------------------------------------
def sentences(question: str) -> list[tuple[int, int, str]]:
    """``(start, end, text)`` of each sentence of the question, whitespace collapsed."""
    found, start = [], 0
    for match in _SENTENCE_END.finditer(question):
        found.append((start, match.start(), question[start:match.start()]))
        start = match.end()
    if start < len(question):
        found.append((start, len(question), question[start:]))
    return [(s, e, " ".join(text.split())) for s, e, text in found if text.strip()]


def ask_index(parts: list[tuple[int, int, str]]) -> int:
    """The sentence that asks (the last one with a question mark, else the last one)."""
    asking = [i for i, (_, _, text) in enumerate(parts) if "?" in text]
    return asking[-1] if asking else len(parts) - 1


# -- equations ------------------------------------------------------------------------------
def _sum_terms(expr: Expr) -> tuple[list[Expr], list[Expr]]:
    """``a + b - c - d`` -> ([a, b], [c, d]): the added and the subtracted terms of a chain."""
    if isinstance(expr, BinOp) and expr.op in "+-":
        plus, minus = _sum_terms(expr.left)
        if expr.op == "+":
            plus.append(expr.right)
        else:
            minus.append(expr.right)
        return plus, minus
    return [expr], []


def _join_sum(terms: list[str | Expr]) -> str:
    """``a + b + (c - d)``: terms of a sum, bracketed where a term needs it."""
    out = []
    for i, term in enumerate(terms):
        out.append(term if isinstance(term, str) else render(term, 1, right_side=i > 0))
    return " + ".join(out)


def inverted(name: str, expr: Expr, values: dict[str, Fraction]) -> str | None:
    """``name = expr`` restated with ``name`` among the operands, linear in ``name``; None where
    the step has no operator to invert (a copy or a constant) or inverting would divide by zero.

    * ``L = T - a - b``  ->  ``a + b + L = T``   (the parts sum to the total)
    * ``L = a + b``      ->  ``L - b = a``
    * ``L = A * B``      ->  ``L / B = A``       (B must not be 0)
    * ``L = A / B``      ->  ``L * B = A``
    """
    if not isinstance(expr, BinOp):
        return None
    if expr.op == "-":
        plus, minus = _sum_terms(expr)
        return f"{_join_sum([*minus, name])} = {_join_sum(plus)}"
    if expr.op == "+":
        return f"{name} - {render(expr.right, 1, right_side=True)} = {render(expr.left, 1)}"
    if expr.op == "*":
        for divisor, rest in ((expr.right, expr.left), (expr.left, expr.right)):
            try:
                if evaluate(divisor, values) != 0:
                    return f"{name} / {render(divisor, 2, right_side=True)} = {render(rest)}"
            except (ZeroDivisionError, OverflowError, ValueError):
                continue
        return None
    if expr.op == "/":
        return f"{name} * {render(expr.right, 2, right_side=True)} = {render(expr.left)}"
    return None


def is_equation(line: str) -> bool:
    """A line of an EoT system that is an equation to solve, not a definition: ``a + b = 10``,
    ``L / 4 = n``. Comments, ``name = ...`` definitions and lines without ``=`` are not."""
    line = line.strip()
    if not line or line[0] in "%#" or "=" not in line:
        return False
    return not _ASSIGNMENT.match(line)


def has_equation(text: str) -> bool:
    """Does an EoT system state at least one relation as an equation (the README's statistic;
    the same definition is applied to XoT's recorded outputs)?"""
    return any(is_equation(line) for line in text.splitlines())


# -- v2 -------------------------------------------------------------------------------------
def _given_line(given: Given) -> str:
    return f"{given.name} = {number_text(given.value)}"


def render_pot(flow: Dataflow) -> str:
    lines = [_given_line(g) for g in flow.givens]
    lines += [f"{step.name} = {render(step.expression)}" for step in flow.steps]
    lines.append(f"{ANSWER} = {flow.answer}")
    return "\n".join(lines)


def render_eot(flow: Dataflow) -> str:
    """Givens under the sentences that state them, the unknown under the ask, inverted steps."""
    numbers = question_numbers(flow.question)
    parts = sentences(flow.question)
    ask = ask_index(parts) if parts else -1

    def sentence_of(given: Given) -> int:
        start = numbers[given.at[0]].start if given.at and given.at[0] < len(numbers) else -1
        return next((i for i, (s, e, _) in enumerate(parts) if s <= start < e), ask)

    grouped: dict[int, list[Given]] = {}
    for given in flow.givens:
        grouped.setdefault(sentence_of(given), []).append(given)
    lines: list[str] = []
    for index, (_, _, text) in enumerate(parts):
        if index in grouped or index == ask:
            lines.append(f"% {text}")
            lines += [_given_line(g) for g in grouped.get(index, [])]
        if index == ask:
            lines.append(f"{flow.answer} = {UNKNOWN}")
    if ask < 0:  # no sentences at all (an empty question): still a well-formed system
        lines += [_given_line(g) for g in flow.givens] + [f"{flow.answer} = {UNKNOWN}"]
    values = flow.values()
    final = flow.steps[-1].name if flow.steps else None
    for step in flow.steps:
        line = None
        if step.name == final or (isinstance(step.expression, BinOp) and step.expression.op == "-"):
            line = inverted(step.name, step.expression, values)
        lines.append(line or f"{step.name} = {render(step.expression)}")
    lines.append(f"{ANSWER} = {flow.answer}")
    return "\n".join(lines)


_ASK = re.compile(r"\bhow\s+(?:many|much)\s+(.*)", re.IGNORECASE)
_WHAT = re.compile(r"\bwhat\s+(?:is|was|are|were|will\s+be)\s+(?:the\s+)?(.*)", re.IGNORECASE)
# "How much did she earn?" asks for her earnings.
_HOW_MUCH_VERB = {"earn": "earnings", "make": "earnings", "spend": "spending", "pay": "payment", "cost": "cost",
                  "save": "savings", "charge": "charge", "owe": "debt", "weigh": "weight", "get": "money",
                  "receive": "money", "raise": "money", "lose": "loss", "need": "money_needed", "spent": "spending"}
_AUXILIARY = {"do", "does", "did", "is", "are", "was", "were", "will", "would", "can", "could", "should", "has",
              "have", "had", "must", "may", "might", "shall"}


def ask_words(question: str) -> list[str]:
    """What the question asks for, in its own words: "How many clips did she sell?" -> [clips],
    "How much money does he have left?" -> [money, left], "What is the total cost?" -> [cost]."""
    parts = sentences(question)
    text = parts[ask_index(parts)][2] if parts else question
    words: list[str] = []
    if match := _ASK.search(text):
        for word in re.findall(r"[A-Za-z]+", match.group(1)):
            if word.lower() in _AUXILIARY:
                break
            words.append(word.lower())
        if re.search(r"\bleft\s*\?", text) and words:
            words.append("left")
        if not words and (verb := re.search(r"\bhow\s+much\s+\w+\s+\w+\s+(\w+)", text, re.IGNORECASE)):
            words = [_HOW_MUCH_VERB[verb.group(1).lower()]] if verb.group(1).lower() in _HOW_MUCH_VERB else []
    elif match := _WHAT.search(text):
        words = [w.lower() for w in re.findall(r"[A-Za-z]+", match.group(1).split(",")[0])][:6]
        words = [w for w in words if w not in ("number", "amount", "value")]
    content = [w for w in words if (w not in NAME_STOP_WORDS or w in ("more", "less")) and w not in NUMBER_WORDS]
    return content[:2] + content[-1:] if len(content) > 3 and content[-1] == "left" else content[:3]


def _named_answer(flow: Dataflow) -> Dataflow:
    """The answer step named after what the question asks (``dollars``, ``money_left``), so that the
    EoT introduces it as the unknown in the question's words; a program's ``ans = a - b`` always
    gets a name of its own (the EoT ends with ``ans = <name>``)."""
    step = next((s for s in flow.steps if s.name == flow.answer), None)
    if step is None:
        return flow
    taken = {g.name for g in flow.givens} | {s.name for s in flow.steps if s is not step}
    words = ask_words(flow.question)
    name = None
    for candidate in (words, ["total", *words[:2]]):
        text = "_".join(candidate)
        if words and text not in taken and text.isidentifier() and not keyword.iskeyword(text) \
                and text not in RESERVED_NAMES and text not in (ANSWER, UNKNOWN):
            name = text
            break
    if name is None:
        if flow.answer != ANSWER:
            return flow
        name = snake_name(["answer", "value"], taken, "answer_value")
    steps = tuple(replace(s, name=name) if s is step else s for s in flow.steps)
    return replace(flow, steps=steps, answer=name)


def render_v2(flow: Dataflow, cot: str) -> dict[str, str]:
    """The three v2 thoughts of one solution: {"pot", "eot", "cot"}."""
    flow = _named_answer(flow)
    return {"pot": render_pot(flow), "eot": render_eot(flow), "cot": cot}


__all__ = ["UNKNOWN", "ask_index", "ask_words", "has_equation", "inverted", "is_equation", "render_eot", "render_pot",
           "render_v2", "sentences"]
