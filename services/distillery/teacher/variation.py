"""Verified problem variation: new numbers for a solved problem, the same dataflow, a new gold.

For a problem whose dataflow verified (GSM8K's annotations, or an LLM teacher's verified PoT), a
variant changes the question's *givens*, rewrites the question (and the worked rationale, when
there is one) with the new numbers, and re-derives everything from the same steps. The variant's
gold answer is what the program computes; nothing is asked of a model.

Decisions (the traps, and what we do about them):

* **What varies.** Only givens (numbers the question states that a step uses); every place the
  question states a given changes together; numbers no step uses stay as written. The dataflow
  lifts *every* literal equal to a stated number into that given, so a given is *frozen* when the
  same value may mean something else to the program:
  - a word of the question implies it as a constant ("half"/"twice" -> 2, "dozen" -> 12,
    "percent"/"%" -> 100, "hour" -> 60, "week" -> 7, "wheels" -> 2/3/4, ... ``CONSTANT_WORDS``):
    changing "$2 each" would silently change "half";
  - a constant of a step is derived from it (0.2 or 80 for "20%", x10, x1000, x a unit of the
    question), or the question also writes it where ``question_numbers`` does not look ("4/5",
    "5:30", "5th");
  - a small value (< 13) that steps use more often than the question states it (the "2 packages"
    that is also the 2 slices a sandwich takes);
  - 0 and 1, years (1900-2100), clock times ("6 P.M."), number words in compounds
    ("twenty-five", "two-thirds") or after "the" ("the three have": who, not how many), a
    percent of 100.
  A problem is not varied at all ("unexplained constant") when a step uses a number that neither
  the question, its words nor a stated number explains (the author worked it out in their head,
  e.g. 30 = 3 + 6 + 9 + 12: it would not follow the new numbers); nor when the rationale's
  written results disagree with its arithmetic ("rationale inconsistent") or its last calculation
  is not the answer ("answer not the last step": "$50 because 50 < 52" is a choice, not arithmetic).
* **New values** are of the same kind: an integer stays an integer of the same roundness (the
  roundest step of 25/10/5/2/1 x 10^i dividing it that leaves >= 4 choices; a multiple of 10
  stays one) in [v/2, 2v], else [v/3, 3v] (small counts: [2, max(2v, 6)], else [2, 3v]); a
  decimal keeps a step that fits its written places ($2.50 -> multiples of 0.5 or 0.25) and its
  places; a percent stays <= 100, "days a week" <= 7, "hours a day" <= 24 (``_BOUNDS``); a
  number word stays a word up to twenty. Never the original value, nor equal to another number
  of the question, a constant of a step, a word's constant or another given's new value (the
  dataflow would become ambiguous). The first half of an index's tries vary a random non-empty
  subset of the givens, the second half one given. The RNG is
  ``random.Random(f"{seed}:{problem id}:{index}:{try}")``: deterministic and prefix-stable (the
  first K variants are the same whatever K). Each index gets ``TRIES`` tries; when one runs out
  we stop (fewer than K variants).
* **Natural.** Every step (with a rationale: every annotation, also those the answer does not
  need) is evaluated with exact fractions and keeps the sign and integrality of the original
  value; a non-integer that terminated keeps <= max(2, its places) decimal places; nothing grows
  beyond ``GROWTH`` x the original (or overflows); no division by zero.
* **The rationale** (GSM8K's, ``#### N`` already stripped by ``registry.benchmarks``; a ``####``
  line, if any, is rewritten to the new answer) is rewritten token by token, mirroring how
  ``annotations.gsm8k_steps`` reads it: in an annotation's (or an un-annotated equation's)
  expression a number the question states in digits is that given, else the latest earlier step
  with that value, else a given stated in words, else a constant; an annotation's result (and the
  result written after ``>>``) is its step. A number in the prose maps to the given/step/constant
  it can mean; when those disagree, the meanings in the same line decide; still ambiguous ->
  dropped ("ambiguous number"). A step result that a later step uses must not equal a number the
  new question states ("a result equals a given": it would be read back as that given). Then
  ``from_annotations(new question, new rationale, new answer)`` must rebuild the same computation
  (same steps, operations, constants and values; givens at the same places), else "re-derivation
  differs". A flow from :func:`~distillery.teacher.dataflow.from_program` (no rationale) is checked
  the same way through a rendered program; its variant carries no rationale and is a problem for
  an LLM teacher.
* **Duplicates** (normalised question text equal to the parent's or an earlier variant's) are
  dropped.

Pure: no I/O. Names are never compared (dataflow naming may change): structure and values are.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from fractions import Fraction

from distillery.registry.benchmarks import normalise_question
from distillery.teacher.annotations import ANNOTATION, NUMBER, PLAIN_EQUATION, gsm8k_steps
from distillery.teacher.dataflow import (
    ANSWER, NUMBER_WORDS, BinOp, Dataflow, DataflowError, Given, Neg, Num, QuestionNumber, Ref, evaluate,
    from_annotations, from_program, leaves, number_text, parse_expression, question_numbers, refs, render)

TRIES = 20  # per variant index
GROWTH = 20  # a value may not grow beyond this factor of the original (or of 1)

_W = {}
for _words, _values in [
    ("half halves halved twice double doubled doubles doubling pair pairs couple couples twins both "
     "second bicycle bicycles bike bikes", (2, Fraction(1, 2))),
    ("triple tripled triples thrice third thirds triplets triangle triangles tricycle tricycles", (3,)),
    ("quarter quarters fourth fourths quadruple quadrupled quadruplets square squares rectangle",
     (4, 25, Fraction(1, 4), 3)),
    ("fifth fifths nickel nickels pentagon", (5,)), ("sixth sixths hexagon hexagons", (6,)),
    ("tenth tenths dime dimes decade decades", (10,)), ("dozen dozens", (12,)),
    ("percent percentage percentages cent cents century centuries penny pennies", (100,)),
    ("hour hours hourly", (60, 24)), ("minute minutes", (60,)), ("seconds", (60,)),
    ("day days daily", (24, 7, 30, 365)), ("week weeks weekly", (7, 52, 4)),
    ("month months monthly", (12, 30, 4, 31)), ("year years yearly annual annually", (12, 52, 365)),
    ("foot feet inch inches", (12,)), ("yard yards", (3, 36)), ("mile miles", (5280,)),
    ("gallon gallons quart quarts pint pints", (4, 2, 128, 8)), ("cup cups ounce ounces pound pounds", (8, 16)),
    ("kilogram kilograms kg kilometer kilometers km liter liters litre litres meter meters gram grams", (1000, 100)),
    ("centimeter centimeters cm", (100,)), ("ton tons", (2000,)),
    ("wheel wheels", (2, 3, 4)), ("legs leg", (2, 4, 6, 8)), ("eyes ears hands arms feet shoes socks", (2,)),
    ("spider spiders octopus octopuses", (8,)), ("sides side", (3, 4, 6)),
]:
    for _word in _words.split():
        _W.setdefault(_word, set()).update(Fraction(v) for v in _values)
CONSTANT_WORDS: dict[str, frozenset[Fraction]] = {w: frozenset(v) for w, v in _W.items()}
_WORDS_BY_VALUE = {v: w for w, v in NUMBER_WORDS.items()}
_FRACTION_WORDS = r"(?:half|halves|thirds?|quarters?|fourths?|fifths?|sixths?|sevenths?|eighths?|ninths?|tenths?)"
_NUMBER_WORD = "|".join(NUMBER_WORDS)
_TIME_AFTER = re.compile(r"\s*(?:a\.?m\.?|p\.?m\.?|o'?clock)(?![A-Za-z])", re.IGNORECASE)
_TEXT_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+")
# A number in prose: not inside a word, a time ("3:30") or an ordinal ("1st").
_PROSE_NUMBER = re.compile(r"(?<![A-Za-z\d.,:])(?:" + _TEXT_NUMBER.pattern + r")(?![\d:]|st\b|nd\b|rd\b|th\b)"
                           r"|(?<![-\w])(?:" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")(?![-\w])",
                           re.IGNORECASE)


@dataclass(frozen=True)
class Variant:
    problem: dict  # a `problems` row (see the module docstring and make_variants)
    flow: Dataflow  # question rewritten, givens with new values, same steps with new values


class _Drop(Exception):
    """This try fails; the message is the drop reason."""


# -- which givens vary, and to what -------------------------------------------------------
@dataclass(frozen=True)
class _Plan:
    given: Given
    places: tuple[QuestionNumber, ...]
    candidates: tuple[Fraction, ...]
    is_percent: bool
    numbers: tuple[QuestionNumber, ...]  # question_numbers(question), once


def _implied_constants(question: str) -> set[Fraction]:
    found: set[Fraction] = set()
    for word in re.findall(r"[a-z]+", question.lower()):
        found |= CONSTANT_WORDS.get(word, frozenset())
    if "%" in question:
        found.add(Fraction(100))
    return found


def _frozen(question: str, given: Given, places: list[QuestionNumber], implied: set[Fraction], uses: int) -> bool:
    v = given.value
    if v in (0, 1) or v < 0 or v in implied or (v.denominator == 1 and 1900 <= v <= 2100):
        return True
    if v < 13 and uses > len(places):  # "2 packages" used also as the 2 slices a sandwich takes?
        return True
    for place in places:
        after, before = question[place.end:], question[:place.start]
        if _TIME_AFTER.match(after):
            return True
        if place.is_word and re.search(r"\bthe $", before, re.IGNORECASE):  # "the three have": who, not how many
            return True
        if place.is_word and (re.match(rf"-(?:{_NUMBER_WORD}|{_FRACTION_WORDS})\b", after, re.IGNORECASE)
                              or re.search(rf"\b(?:{_NUMBER_WORD})-$", before, re.IGNORECASE)):
            return True
    return False


def _decimal_places(value: Fraction) -> int | None:
    """Places of a terminating decimal, None if it repeats."""
    d = value.denominator
    for prime in (2, 5):
        while d % prime == 0:
            d //= prime
    if d != 1:
        return None
    places = 0
    while (value * 10 ** places).denominator != 1:
        places += 1
    return places


def _candidates(value: Fraction, written_places: int, is_percent: bool) -> tuple[Fraction, ...]:
    if value.denominator == 1 and written_places == 0:
        v = value.numerator
        steps = sorted({m * 10 ** i for i in range(0, 8) for m in (1, 2, 5, 10, 25) if v % (m * 10 ** i) == 0},
                       reverse=True)
        if v % 10 == 0:  # a multiple of 10 stays one (50 -> 70, not 75)
            steps = [step for step in steps if step % 10 == 0]
        ranges = ([(max(2, math.ceil(v / 2)), max(2 * v, 6)), (2, max(3 * v, 6))] if v <= 10
                  else [(math.ceil(v / 2), 2 * v), (math.ceil(v / 3), 3 * v)])
    else:
        steps = [Fraction(s) for s in ("0.5", "0.25", "0.2", "0.1", "0.05", "0.01", "0.005", "0.001")
                 if len(s) - 2 <= max(written_places, 1) and (value / Fraction(s)).denominator == 1]
        ranges = [(value / 2, value * 2), (value / 3, value * 3)]
    best: tuple[Fraction, ...] = ()
    for step in steps:
        for lo, hi in ranges:
            if is_percent:
                hi = min(hi, 100)
            first = math.ceil(Fraction(lo) / step)
            found = tuple(Fraction(step) * m for m in range(max(first, 1), math.floor(Fraction(hi) / step) + 1)
                          if Fraction(step) * m != value)
            if written_places == 1:  # "2.5 hours" stays a decimal ("3.0" reads oddly)
                found = tuple(c for c in found if c.denominator != 1)
            if len(found) >= 4:
                return found
            if len(found) > len(best):
                best = found
    return best


_LINKS = (lambda x: x / 100, lambda x: 1 - x / 100, lambda x: 1 + x / 100, lambda x: 100 - x,
          lambda x: x / 10, lambda x: x * 10, lambda x: x / 1000, lambda x: x * 1000)


def _explain(question: str, constants: set[Fraction]) -> tuple[set[Fraction], set[Fraction]]:
    """Which stated numbers must stay (a constant of a step is derived from them: 0.2 for "20%",
    80 for "20% are boys", 90 minutes for "1.5 hours"; or the question also writes them where
    question_numbers does not look: "4/5", "5:30", "5th") and which constants nothing explains
    (a step's number worked out in the author's head, e.g. 30 = 3 + 6 + 9 + 12)."""
    numbers = question_numbers(question)
    spans = [(n.start, n.end) for n in numbers]
    hidden = {Fraction(m.group(0)) for m in NUMBER.finditer(question)
              if not any(a <= m.start() < b for a, b in spans) and "," not in question[max(0, m.start() - 1):m.start()]}
    stated = {n.value for n in numbers} | hidden
    fractions = {Fraction(int(a), int(b)) for a, b in re.findall(r"(\d+)\s*/\s*(\d+)", question) if int(b)}
    implied = _implied_constants(question)
    explained = implied | stated | fractions | {Fraction(v) for v in (1, 2, "1/2", 100, "1/100")}
    units = [u for u in implied if u > 2 and u.denominator == 1]
    frozen, unexplained = set(hidden), set()
    for c in constants - explained:
        linked = {x for x in stated
                  if x and (any(f(x) == c for f in _LINKS) or any(c in (x * u, x / u) for u in units))}
        if linked:
            frozen |= linked
        else:
            unexplained.add(c)
    return frozen, unexplained


_PER = r"\s+(?:a|an|per|each|every|of\s+the|in\s+a|in\s+the)\s+"
_BOUNDS = [(re.compile(rf"\s*(?:{unit}){_PER}(?:{per})\b", re.IGNORECASE), bound) for unit, per, bound in [
    (r"days?", r"week", 7), (r"hours?", r"day", 24), (r"months?", r"year", 12), (r"days?", r"month", 31),
    (r"minutes?", r"hour", 60), (r"seconds?", r"minute", 60), (r"weeks?", r"year", 52), (r"days?", r"year", 366),
    (r"hours?", r"week", 168), (r"weeks?", r"month", 5)]]


def _bound(after: str) -> int | None:
    """The most a number can be where the text after it reads "days a week" (7), "hours a day" (24) ..."""
    return next((bound for pattern, bound in _BOUNDS if pattern.match(after)), None)


def _uses(expr, name: str) -> int:
    if isinstance(expr, Ref):
        return int(expr.name == name)
    if isinstance(expr, Neg):
        return _uses(expr.operand, name)
    if isinstance(expr, BinOp):
        return _uses(expr.left, name) + _uses(expr.right, name)
    return 0


def _plans(flow: Dataflow, constants: set[Fraction], frozen: set[Fraction]) -> list[_Plan]:
    question = flow.question
    numbers = question_numbers(question)
    implied = _implied_constants(question)
    plans = []
    for given in flow.givens:
        uses = sum(_uses(s.expression, given.name) for s in flow.steps)
        places = [numbers[i] for i in given.at if i < len(numbers)]
        if not places or len(places) != len(given.at) or any(p.value != given.value for p in places):
            continue
        if given.value in frozen or _frozen(question, given, places, implied, uses):
            continue
        written = max((len(p.text.split(".")[1]) if "." in p.text else 0) for p in places)
        is_percent = any(re.match(r"\s*(?:%|percent\b)", question[p.end:]) for p in places)
        if is_percent and given.value >= 100:
            continue
        cap = min((b for p in places if (b := _bound(question[p.end:])) is not None), default=None)
        candidates = tuple(c for c in _candidates(given.value, written, is_percent)
                           if c not in constants and (cap is None or c <= cap))
        if candidates:
            plans.append(_Plan(given, tuple(places), candidates, is_percent, tuple(numbers)))
    return plans


# -- writing numbers ------------------------------------------------------------------------
def _write_like(value: Fraction, old_text: str) -> str:
    """``value`` written as ``old_text`` was: commas, decimal places, a number word."""
    if old_text.isalpha():
        if value.denominator == 1 and value.numerator in _WORDS_BY_VALUE:
            word = _WORDS_BY_VALUE[value.numerator]
            return word.capitalize() if old_text[0].isupper() else word
        return number_text(value)
    places = len(old_text.split(".")[1]) if "." in old_text else 0
    exact = _decimal_places(value)
    if places and exact is not None and exact <= places:
        text = f"{float(value):.{places}f}"
    elif places and exact is None:
        text = f"{float(value):.{max(places, 2)}f}"
    else:
        text = number_text(value)
    if "," in old_text and "." not in text and value >= 1000:
        text = f"{value.numerator:,}"
    elif "," in old_text and value >= 1000:
        whole, _, fraction = text.partition(".")
        text = f"{int(whole):,}.{fraction}"
    if old_text.startswith(".") and text.startswith("0."):
        text = text[1:]
    return text


def _an(text_before: str, new_text: str) -> str:
    """Fix "a"/"an" before a replaced number ("an eight-hour" -> "a nine-hour")."""
    match = re.search(r"\b([Aa]n?) $", text_before)
    if not match:
        return text_before
    vowel = bool(re.match(r"(?:8|11|18|eight|eleven)", new_text, re.IGNORECASE))
    article = ("an" if vowel else "a")
    if match.group(1)[0] == "A":
        article = article.capitalize()
    return text_before[: match.start(1)] + article + " "


def _rewrite_question(question: str, changes: dict[int, str]) -> str:
    """Replace question_numbers ``changes`` (index -> new text), right to left."""
    numbers = question_numbers(question)
    text = question
    for index in sorted(changes, reverse=True):
        place = numbers[index]
        before = _an(text[: place.start], changes[index])
        text = before + changes[index] + text[place.end:]
    return text


# -- naturalness ------------------------------------------------------------------------------
def _check_natural(old: Fraction, new: Fraction) -> None:
    if (old > 0) != (new > 0) or (old < 0) != (new < 0):
        raise _Drop("not positive" if old > 0 else "sign changed")
    if old.denominator == 1 and new.denominator != 1:
        raise _Drop("not an integer")
    if old.denominator != 1:
        places = _decimal_places(old)
        if places is not None and (_decimal_places(new) is None or _decimal_places(new) > max(places, 2)):
            raise _Drop("not a short decimal")
    if abs(new) > GROWTH * max(abs(old), 1):
        raise _Drop("too large")


def _evaluate(compute) -> dict[str, Fraction]:
    try:
        return compute()
    except ZeroDivisionError:
        raise _Drop("division by zero") from None
    except OverflowError:
        raise _Drop("too large") from None
    except DataflowError:
        raise _Drop("re-derivation differs") from None


# -- structure, for the re-derivation check ------------------------------------------------------
def _shape(flow: Dataflow) -> tuple:
    givens = {g.name: g.value for g in flow.givens}
    index = {s.name: i for i, s in enumerate(flow.steps)}

    def canon(expr):
        if isinstance(expr, Num):
            return ("num", expr.value)
        if isinstance(expr, Ref):
            return ("given", givens[expr.name]) if expr.name in givens else ("step", index.get(expr.name, expr.name))
        if isinstance(expr, Neg):
            return ("neg", canon(expr.operand))
        return (expr.op, canon(expr.left), canon(expr.right))

    values = flow.values()
    answer = ("step", index[flow.answer]) if flow.answer in index else ("given", givens.get(flow.answer))
    return (tuple((canon(s.expression), values[s.name]) for s in flow.steps), answer,
            tuple(sorted((g.value, g.at) for g in flow.givens)))


def _constants(expr) -> set[Fraction]:
    return {leaf.value for leaf in leaves(expr) if isinstance(leaf, Num)}


# -- the rationale -------------------------------------------------------------------------------
class _Rationale:
    """The parent's rationale read like annotations.gsm8k_steps reads it, ready to rewrite."""

    def __init__(self, question: str, rationale: str):
        self.rationale = rationale
        # gsm8k_steps keeps a literal the question states in digits; one it states only in words
        # ("four") becomes an earlier step of that value if there is one, else a literal.
        self.stated = {Fraction(n) for n in NUMBER.findall(question.replace(",", ""))}
        self.word_stated = {n.value for n in question_numbers(question) if n.is_word} - self.stated
        self.raw = gsm8k_steps(rationale, question)
        # as from_annotations reads them ("560//10": a division that came out even)
        self.exprs = [parse_expression(re.sub(r"/\s*/", "/", s.expression)) for s in self.raw]
        self.old_values = [Fraction(s.value.replace(",", "")) if _TEXT_NUMBER.fullmatch(s.value.replace(",", ""))
                           else None for s in self.raw]
        self.index = {s.name: i for i, s in enumerate(self.raw)}
        self.constants = set().union(*(_constants(e) for e in self.exprs)) if self.exprs else set()

    def consistent(self) -> bool:
        """Every calculation's written result is what it computes (up to rounding)."""
        try:
            exact = self.values({})
        except (ZeroDivisionError, OverflowError, DataflowError):
            return False
        return all(old is not None and abs(old - new) <= Fraction(1, 100) * max(abs(new), 1)
                   for old, new in zip(self.old_values, exact))

    def collides(self, new_values: list[Fraction], new_stated: set[Fraction]) -> bool:
        """Would the new rationale read differently? A step's result that a later step uses must
        not equal a number the new question states (it would be read as that given), and must be
        the latest result of its value (else the later step would be read as using another)."""
        for k, expr in enumerate(self.exprs):
            for name in refs(expr):
                j = self.index[name]
                if new_values[j] in new_stated or any(new_values[i] == new_values[j] for i in range(j + 1, k)):
                    return True
        return False

    def values(self, new_givens: Mapping[Fraction, Fraction]) -> list[Fraction]:
        """Every annotation's value with the givens (by old value) replaced."""
        def swap(expr):
            if isinstance(expr, Num):
                return Num(new_givens.get(expr.value, expr.value))
            if isinstance(expr, Neg):
                return Neg(swap(expr.operand))
            if isinstance(expr, BinOp):
                return BinOp(expr.op, swap(expr.left), swap(expr.right))
            return expr

        scope: dict[str, Fraction] = {}
        out = []
        for step, expr in zip(self.raw, self.exprs):
            scope[step.name] = evaluate(swap(expr), scope)
            out.append(scope[step.name])
        return out

    def rewrite(self, new_givens: Mapping[Fraction, Fraction], new_values: list[Fraction], answer: str) -> str:
        old_values = self.old_values

        def step_text(k: int, old_text: str) -> str:
            return _write_like(new_values[k], old_text)

        def in_expression(old_text: str, k: int) -> str:
            v = Fraction(old_text.replace(",", ""))
            if v in self.stated:
                return _write_like(new_givens[v], old_text) if v in new_givens else old_text
            for j in range(k - 1, -1, -1):
                if old_values[j] == v:
                    return step_text(j, old_text)
            if v in new_givens:  # stated in words
                return _write_like(new_givens[v], old_text)
            return old_text

        def expression(text: str, k: int) -> str:
            return _TEXT_NUMBER.sub(lambda m: in_expression(m.group(0), k), text)

        lines, k = [], 0
        for line in self.rationale.splitlines():
            if line.startswith("####"):
                lines.append(f"#### {answer}")
                continue
            pieces: list[tuple[int, int, str]] = []  # spans rewritten structurally
            local: dict[Fraction, set[Fraction]] = {}  # meanings of numbers in this line's calculations
            matches = list(ANNOTATION.finditer(line))
            if matches:
                for match in matches:
                    new_expr = expression(match.group(1), k)
                    for a, b in zip(_TEXT_NUMBER.findall(match.group(1)), _TEXT_NUMBER.findall(new_expr)):
                        local.setdefault(Fraction(a.replace(",", "")), set()).add(Fraction(b.replace(",", "")))
                    result = step_text(k, match.group(2).strip())
                    pieces.append((match.start(), match.end(), f"<<{new_expr}={result}>>"))
                    after = re.match(r"\s*\$?([\d.,]*\d)", line[match.end():])
                    if after:
                        start = match.end() + after.start(1)
                        pieces.append((start, match.end() + after.end(1), step_text(k, after.group(1))))
                    if old_values[k] is not None:
                        local.setdefault(old_values[k], set()).add(new_values[k])
                    k += 1
            else:
                for match in PLAIN_EQUATION.finditer(line):
                    new_expr = expression(match.group(1), k)
                    for a, b in zip(_TEXT_NUMBER.findall(match.group(1)), _TEXT_NUMBER.findall(new_expr)):
                        local.setdefault(Fraction(a.replace(",", "")), set()).add(Fraction(b.replace(",", "")))
                    pieces.append((match.start(1), match.end(1), new_expr))
                    pieces.append((match.start(2), match.end(2), step_text(k, match.group(2))))
                    if old_values[k] is not None:
                        local.setdefault(old_values[k], set()).add(new_values[k])
                    k += 1
            lines.append(self._prose(line, pieces, local, new_givens, new_values))
        if k != len(self.raw):
            raise _Drop("re-derivation differs")
        return "\n".join(lines)

    def _prose(self, line, pieces, local, new_givens, new_values) -> str:
        out, position = [], 0
        for start, end, text in sorted(pieces):
            out.append(self._prose_numbers(line[position:start], local, new_givens, new_values))
            out.append(text)
            position = end
        out.append(self._prose_numbers(line[position:], local, new_givens, new_values))
        return "".join(out)

    def _prose_numbers(self, text, local, new_givens, new_values) -> str:
        def one(match: re.Match) -> str:
            old_text = match.group(0)
            if old_text.isalpha():  # "three times as old": only a varied given's word changes
                v = Fraction(NUMBER_WORDS[old_text.lower()])
                return _write_like(new_givens[v], old_text) if v in new_givens else old_text
            v = Fraction(old_text.replace(",", ""))
            meanings: set[Fraction] = set()
            if v in self.stated or v in self.word_stated:
                meanings.add(new_givens.get(v, v))
            meanings |= {new for old, new in zip(self.old_values, new_values) if old == v}
            if v in self.constants and v not in new_givens:
                meanings.add(v)
            if not meanings:
                return old_text  # a number no calculation uses ("7 days in a week")
            if len(meanings) > 1:
                meanings = local.get(v, meanings)
            if len(meanings) > 1:
                raise _Drop("ambiguous number")
            return _write_like(next(iter(meanings)), old_text)

        return _PROSE_NUMBER.sub(one, text)


# -- variants --------------------------------------------------------------------------------------
def _program_text(flow: Dataflow, givens: Mapping[str, Fraction]) -> str:
    lines = [f"{g.name} = {number_text(givens.get(g.name, g.value))}" for g in flow.givens]
    lines += [f"{s.name} = {render(s.expression)}" for s in flow.steps]
    if flow.answer != ANSWER:
        lines.append(f"{ANSWER} = {flow.answer}")
    return "\n".join(lines)


def make_variants(problem: dict, flow: Dataflow, k: int, seed: int) -> tuple[list[Variant], Counter]:
    """Up to ``k`` variants of ``problem`` (fewer when tries run out), and a count of drop reasons.

    Per problem, once (nothing is varied): "no givens", "unexplained constant", "rationale
    inconsistent", "answer not the last step". Per try: "not an integer", "not positive", "sign
    changed", "not a short decimal", "too large", "division by zero", "no new value", "a result
    equals a given", "ambiguous number", "re-derivation differs", "duplicate".

    ``problem`` is a ``problems`` row (id, question, answer, source, split, rationale?) and ``flow``
    its verified dataflow. Each variant's ``problem`` is a new row: id ``{parent id}-v{index}``,
    question, answer (float), source, split, rationale (when ``flow`` came from the parent's
    rationale), parent_id and ``variation = {"seed", "index", "numbers": {old text: new text}}``.
    """
    drops: Counter = Counter()
    if k <= 0:
        return [], drops
    with_rationale = bool(problem.get("rationale")) and all(s.sentence for s in flow.steps)
    try:
        reader = _Rationale(flow.question, problem["rationale"]) if with_rationale else None
    except DataflowError:
        drops["re-derivation differs"] += 1
        return [], drops
    constants = set().union(*(_constants(s.expression) for s in flow.steps)) if flow.steps else set()
    if reader:
        constants |= reader.constants
    expected_old = flow.values()
    frozen, unexplained = _explain(flow.question, constants)
    if unexplained:
        drops["unexplained constant"] += 1
        return [], drops
    if reader and not reader.consistent():
        drops["rationale inconsistent"] += 1
        return [], drops
    if reader and reader.values({})[-1] != expected_old[flow.answer]:  # "... because 50 < 52": a choice
        drops["answer not the last step"] += 1
        return [], drops
    plans = _plans(flow, constants, frozen)
    if not plans:
        drops["no givens"] += 1
        return [], drops
    stated = {n.value for n in question_numbers(flow.question)}
    seen = {normalise_question(flow.question)}
    variants: list[Variant] = []
    pid = problem.get("id", "")
    for index in range(k):
        for attempt in range(TRIES):
            rng = random.Random(f"{seed}:{pid}:{index}:{attempt}")
            try:
                variant = _one(problem, flow, reader, plans, rng, stated, constants, expected_old, seed, index, attempt)
            except _Drop as drop:
                drops[str(drop)] += 1
                continue
            key = normalise_question(variant.problem["question"])
            if key in seen:
                drops["duplicate"] += 1
                continue
            seen.add(key)
            variants.append(variant)
            break
        else:
            break  # this index ran out of tries: later ones would too
    return variants, drops


def _one(problem, flow, reader, plans, rng, stated, constants, expected_old, seed, index, attempt) -> Variant:
    if attempt < TRIES // 2:
        chosen = [p for p in plans if rng.random() < 0.75] or [rng.choice(plans)]
    else:  # later tries change one given: fewer ways for a division to stop coming out even
        chosen = [rng.choice(plans)]
    taken = set(stated) | constants | _implied_constants(flow.question)
    new_by_name: dict[str, Fraction] = {}
    for plan in chosen:
        options = [c for c in plan.candidates if c not in taken]
        if not options:
            continue
        new_by_name[plan.given.name] = value = rng.choice(options)
        taken.add(value)
    if not new_by_name:
        raise _Drop("no new value")
    values = _evaluate(lambda: flow.values(new_by_name))
    for name, old in expected_old.items():
        _check_natural(old, values[name])
    new_answer = values[flow.answer]

    numbers = plans[0].numbers
    changes: dict[int, str] = {}
    lineage: dict[str, str] = {}
    for given in flow.givens:
        if given.name in new_by_name:
            for i in given.at:
                changes[i] = _write_like(new_by_name[given.name], numbers[i].text)
                lineage[numbers[i].text] = changes[i]
    question = _rewrite_question(flow.question, changes)

    new_givens = [replace(g, value=new_by_name.get(g.name, g.value)) for g in flow.givens]
    after = question_numbers(question)
    for g in new_givens:
        if tuple(i for i, n in enumerate(after) if n.value == g.value) != g.at:
            raise _Drop("re-derivation differs")
    answer_text = number_text(new_answer)
    rationale = None
    by_old = {g.value: new_by_name[g.name] for g in flow.givens if g.name in new_by_name}
    if reader:
        raw_values = _evaluate(lambda: reader.values(by_old))
        for old, new in zip(reader.old_values, raw_values):
            if old is not None:
                _check_natural(old, new)
        if reader.collides(raw_values, {n.value for n in after}):
            raise _Drop("a result equals a given")
        rationale = reader.rewrite(by_old, raw_values, answer_text)
        try:
            rederived = from_annotations(question, rationale, float(new_answer))
        except DataflowError:
            raise _Drop("re-derivation differs") from None
    else:
        try:
            rederived = from_program(question, _program_text(flow, new_by_name))
        except DataflowError:
            raise _Drop("re-derivation differs") from None
    variant_flow = Dataflow(question, tuple(new_givens), tuple(
        replace(s, value=values[s.name]) for s in flow.steps), flow.answer)
    if _shape(rederived) != _shape(variant_flow):
        raise _Drop("re-derivation differs")
    if reader:  # the sentences as the new rationale words them
        variant_flow = replace(variant_flow, steps=tuple(
            replace(s, sentence=r.sentence) for s, r in zip(variant_flow.steps, rederived.steps)))

    row = {"id": f"{problem.get('id', '')}-v{index}", "question": question, "answer": float(new_answer),
           "source": problem.get("source", ""), "split": problem.get("split", "")}
    if rationale is not None:
        row["rationale"] = rationale
    row["parent_id"] = problem.get("id", "")
    row["variation"] = {"seed": seed, "index": index, "numbers": lineage}
    return Variant(problem=row, flow=variant_flow)


__all__ = ["CONSTANT_WORDS", "Variant", "make_variants"]
