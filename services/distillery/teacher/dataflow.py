"""The dataflow behind a worked solution: the numbers a question gives, the steps computed from
them, and which step is the answer.

One structure serves every format and problem variation:

    question  "Janet's ducks lay 16 eggs per day. She eats three for breakfast ..."
    givens    eggs_per_day = 16 (at "16"), breakfast = 3 (at "three"), ...
    steps     eggs_left = eggs_per_day - breakfast - muffins      (value 9)
              dollars = eggs_left * price                         (value 18)
    answer    dollars

It is built from GSM8K's calculator annotations (:func:`from_annotations`) or from a teacher's
straight-line program (:func:`from_program`, e.g. a verified PoT thought of an LLM teacher).
Programs are untrusted text: they are *parsed* (``ast.parse`` builds a tree and runs nothing)
into the small arithmetic grammar below and evaluated here with exact fractions; anything
outside that grammar is refused, never executed.

A number is a *given* only when the question states it and a step uses it. A number a step uses
that the question does not state (2 for "half", 100 for a percent, 60 minutes) stays a constant.
"""

from __future__ import annotations

import ast
import keyword
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction

from distillery.teacher.annotations import NUMBER, STOP_WORDS, gsm8k_steps, unique_name

MAX_LINES = 200
MAX_LINE_CHARS = 400
MAX_BITS = 128  # numerators/denominators beyond this are not grade-school numbers
ANSWER = "ans"

NUMBER_WORDS = {w: n for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
NUMBER_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90})
# A number in a question: "$1,200.50", "20%", ".5", "three" (not part of "3:30", "1st", "2/3" or a word).
QUESTION_NUMBER = re.compile(
    r"(?<![\w.:/])(\$?)(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?![\w:/]|\.\d)(%?)"
    r"|\b(" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")\b", re.IGNORECASE)


class DataflowError(ValueError):
    """The text is not a dataflow we can use (the message says why, for a failure count)."""


# -- expressions ------------------------------------------------------------------------
@dataclass(frozen=True)
class Num:
    value: Fraction


@dataclass(frozen=True)
class Ref:
    name: str


@dataclass(frozen=True)
class BinOp:
    op: str  # + - * /
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True)
class Neg:
    operand: "Expr"


Expr = Num | Ref | BinOp | Neg
PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}
_AST_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


def parse_expression(text: str) -> Expr:
    """``48 / 2 + clips_may`` -> tree. Only numbers, names, + - * /, unary minus and brackets."""
    if len(text) > MAX_LINE_CHARS:
        raise DataflowError("expression too long")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise DataflowError(f"not arithmetic: {text[:60]!r}") from None
    return _from_ast(tree)


def _from_ast(node: ast.AST) -> Expr:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return Num(Fraction(str(node.value)))
    if isinstance(node, ast.Name):
        return Ref(node.id)
    if isinstance(node, ast.BinOp) and type(node.op) in _AST_OPS:
        return BinOp(_AST_OPS[type(node.op)], _from_ast(node.left), _from_ast(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _from_ast(node.operand)
        return Neg(operand) if isinstance(node.op, ast.USub) else operand
    raise DataflowError(f"outside the arithmetic grammar: {type(node).__name__}")


def evaluate(expr: Expr, values: Mapping[str, Fraction]) -> Fraction:
    if isinstance(expr, Num):
        return expr.value
    if isinstance(expr, Ref):
        if expr.name not in values:
            raise DataflowError(f"{expr.name} is used before it is defined")
        return values[expr.name]
    if isinstance(expr, Neg):
        return -evaluate(expr.operand, values)
    left, right = evaluate(expr.left, values), evaluate(expr.right, values)
    if expr.op == "/" and right == 0:
        raise ZeroDivisionError("division by zero")
    result = {"+": left + right, "-": left - right, "*": left * right}.get(expr.op) if expr.op != "/" else left / right
    if max(result.numerator.bit_length(), result.denominator.bit_length()) > MAX_BITS:
        raise OverflowError("number too large")
    return result


def leaves(expr: Expr) -> Iterator[Num | Ref]:
    """The numbers and names of an expression, left to right."""
    if isinstance(expr, Neg):
        yield from leaves(expr.operand)
    elif isinstance(expr, BinOp):
        yield from leaves(expr.left)
        yield from leaves(expr.right)
    else:
        yield expr


def refs(expr: Expr) -> set[str]:
    return {leaf.name for leaf in leaves(expr) if isinstance(leaf, Ref)}


def number_text(value: Fraction) -> str:
    """A value as a program writes it: 24, 0.5, 12.75; a repeating decimal to 6 places."""
    if value.denominator == 1:
        return str(value.numerator)
    text = f"{float(value):.6f}".rstrip("0").rstrip(".")
    return text


def render(expr: Expr, parent: int = 0, right_side: bool = False) -> str:
    """Python / EoT syntax with only the brackets the precedence needs."""
    if isinstance(expr, Num):
        return number_text(expr.value)
    if isinstance(expr, Ref):
        return expr.name
    if isinstance(expr, Neg):
        return f"-{render(expr.operand, 3)}"
    mine = PRECEDENCE[expr.op]
    text = f"{render(expr.left, mine)} {expr.op} {render(expr.right, mine, right_side=True)}"
    # a - (b - c), a / (b * c): the right operand of - and / needs brackets at equal precedence
    needs = mine < parent or (mine == parent and right_side)
    return f"({text})" if needs else text


# -- the question's numbers ---------------------------------------------------------------
@dataclass(frozen=True)
class QuestionNumber:
    value: Fraction
    start: int
    end: int
    text: str
    is_word: bool


def question_numbers(question: str) -> list[QuestionNumber]:
    found = []
    for match in QUESTION_NUMBER.finditer(question):
        if match.group(4):
            value, start, end = Fraction(NUMBER_WORDS[match.group(4).lower()]), match.start(4), match.end(4)
            found.append(QuestionNumber(value, start, end, match.group(4), True))
        else:
            digits = match.group(2)
            found.append(QuestionNumber(Fraction(digits.replace(",", "")), match.start(2), match.end(2), digits, False))
    return found


# -- the dataflow -----------------------------------------------------------------------
@dataclass(frozen=True)
class Given:
    name: str
    value: Fraction
    at: tuple[int, ...]  # indexes into question_numbers(question): every place the question states it


@dataclass(frozen=True)
class Step:
    name: str
    expression: Expr
    value: Fraction
    sentence: str = ""  # the worked solution's sentence it came from, if any


@dataclass(frozen=True)
class Dataflow:
    question: str
    givens: tuple[Given, ...]
    steps: tuple[Step, ...]
    answer: str  # the step (or given) whose value is the answer

    def values(self, given_values: Mapping[str, Fraction] | None = None) -> dict[str, Fraction]:
        """Every name's value; ``given_values`` overrides givens. Raises ZeroDivisionError,
        OverflowError or DataflowError."""
        values = {g.name: g.value for g in self.givens}
        values.update(given_values or {})
        for step in self.steps:
            values[step.name] = evaluate(step.expression, values)
        return values

    @property
    def answer_value(self) -> Fraction:
        return self.values()[self.answer]

    def numbers(self) -> list[QuestionNumber]:
        return question_numbers(self.question)


# Words a name is never made of, beyond the annotations teacher's STOP_WORDS.
NAME_STOP_WORDS = STOP_WORDS | {
    "if", "how", "many", "much", "what", "who", "when", "where", "why", "up", "only", "just", "already", "another",
    "some", "also", "him", "them", "us", "me", "my", "your", "our", "its", "into", "out", "about", "after",
    "before", "does", "do", "did", "can", "could", "would", "should", "must", "may", "more", "less", "every",
    "time", "times", "s", "ll", "d", "re", "ve", "t", "not", "no", "same", "as", "many", "one", "or", "but",
    "if", "would", "while", "during", "over", "under", "i", "she", "he", "his", "her"}
# Verbs that say what happens to a quantity, not what it is: dropped from names made of the
# words before a number ("He buys a hat for $10" -> hat_cost).
NAME_VERBS = {
    "buy", "buys", "bought", "has", "have", "had", "get", "gets", "got", "pay", "pays", "paid", "spend", "spends",
    "spent", "sell", "sells", "sold", "use", "uses", "used", "save", "saves", "saved", "earn", "earns", "earned",
    "make", "makes", "made", "take", "takes", "took", "need", "needs", "needed", "want", "wants", "wanted", "give",
    "gives", "gave", "decide", "decides", "decided", "receive", "receives", "received", "charge", "charges",
    "charged", "put", "puts", "add", "adds", "added", "eat", "eats", "ate", "read", "reads", "run", "runs", "ran",
    "found", "find", "finds", "collect", "collects", "collected", "bake", "bakes", "baked", "pick", "picks",
    "picked", "plant", "plants", "planted", "is", "are", "was", "were", "be", "been", "being", "goes", "go", "went",
    "wants", "plans", "planning", "costs", "cost", "worth", "weighs", "weigh", "contains", "contain", "holds",
    "hold", "there"}
PAY_VERBS = {"earn", "earns", "earned", "pay", "pays", "paid", "make", "makes", "made", "charge", "charges",
             "charged", "get", "gets", "got", "receive", "receives", "received", "wage", "salary"}
SELL_VERBS = {"sell", "sells", "sold", "sale", "charges", "charge", "charged", "rent", "rents"}
RATE_UNITS = {"second", "minute", "hour", "day", "week", "month", "year", "night", "shift", "session", "pound",
              "kilogram", "kg", "ounce", "gallon", "liter", "litre", "mile", "kilometer", "km", "foot", "feet", "yard",
              "meter", "inch", "page", "person", "item", "piece", "box", "bag", "pack", "dozen", "ticket", "visit",
              "class", "lesson", "game", "episode", "cup", "slice", "square", "unit", "student", "child", "kid", "pair",
              "bottle", "can", "jar", "book", "card", "bar", "roll", "sheet", "load", "car", "trip", "ride", "night"}
# Names the EoT grammar reads otherwise (functions, scale and percent words) or a program may not use.
RESERVED_NAMES = {"ceil", "ceiling", "floor", "round", "abs", "min", "max", "sqrt", "mod", "int", "trunc", "dozen",
                  "hundred", "thousand", "million", "billion", "percent", "pct", "math", "print", "sum", "len",
                  "range", "list", "dict", "set", "str", "float", "type", "input", "open", "id", "pow", "e", "pi",
                  # builtins the PoT sandbox refuses (distillery.sandbox.policy.DENIED_NAMES) or programs call
                  "eval", "exec", "compile", "globals", "locals", "vars", "getattr", "setattr", "delattr", "breakpoint",
                  "help", "exit", "quit", "memoryview", "dir", "copyright", "credits", "license", "all", "any", "map",
                  "filter", "zip", "next", "iter", "hash", "object", "format", "bytes", "bool", "divmod", "sorted",
                  "reversed", "enumerate", "tuple", "complex", "slice", "super", "property", "chr", "ord", "bin",
                  "hex", "oct", "repr", "ascii", "callable", "isinstance", "issubclass", "frozenset"}
_NUMBER_WORD = r"\b(?:" + "|".join(NUMBER_WORDS) + r")\b"
_CONTRACTION = re.compile(r"[\'\u2019](?:s|ll|d|re|ve|t|m)\b", re.IGNORECASE)


def _words(text: str) -> list[str]:
    """Lower-case words, possessives and contractions cut off ("Janet's" -> janet, "he'll" -> he)."""
    return [w.lower() for w in re.findall(r"[A-Za-z]+", _CONTRACTION.sub("", text))]


def snake_name(words: list[str], taken: set[str], fallback: str) -> str:
    """Up to three content words, snake_case; never a keyword, `ans`, `x`, a word the EoT grammar
    reads otherwise, or a name taken (then ``_2``, ``_3`` ...)."""
    content = [w.lower() for w in words if w.lower() not in STOP_WORDS and w.lower() not in NUMBER_WORDS][:3]
    return unique_name("_".join(content) or fallback, taken, RESERVED_NAMES)


def _singular(word: str) -> str:
    if word in ("feet",):
        return "foot"
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("es") and word[:-2] in RATE_UNITS:
        return word[:-2]
    return word[:-1] if word.endswith("s") and word[:-1] in RATE_UNITS else word


def _given_words(question: str, number: QuestionNumber, taken: set[str]) -> list[list[str]]:
    """Candidate names (word lists, best first) for the number at ``number`` in ``question``."""
    # The clause around the number: from the last punctuation / "and" / number before it to the next.
    tail = question[number.end:]
    cut = re.search(r"[.,;:?!()]|\band\b|\bor\b|\bbut\b|\$?\d|" + _NUMBER_WORD, tail)
    after_text = tail[:cut.start()] if cut else tail
    after = _words(after_text)
    after = [w for w in after if w not in NUMBER_WORDS] if after else after
    head = question[:number.start]
    start = max((m.end() for m in re.finditer(r"[.,;:?!()]|\band\b|\bor\b|\bbut\b|\d", head)), default=0)
    before_all = _words(head[start:])
    money = head.rstrip().endswith("$") or bool(re.match(r"\s*(?:dollars?|cents?)\b", tail))
    before = [w for w in before_all if w not in NAME_STOP_WORDS and w not in NAME_VERBS and w not in NUMBER_WORDS]
    content_after = [w for w in after if w not in NAME_STOP_WORDS and w != "per"]
    candidates: list[list[str]] = []
    # A rate: "16 eggs per day", "$12 an hour", "$7 per hour to babysit", "$3 a pound".
    rate = (re.match(r"\s*((?:[A-Za-z]+\s+){0,2}?)per\s+(?:[A-Za-z]+\s+){0,2}?([A-Za-z]+)\s*$", after_text)
            or re.match(r"\s*((?:[A-Za-z]+\s+){0,2}?)(?:an|a|each|every)\s+([A-Za-z]+)", after_text))
    if rate and (" per " in f" {after_text} " or _singular(rate.group(2).lower()) in RATE_UNITS):
        unit = _singular(rate.group(2).lower())
        nouns = [w for w in _words(rate.group(1)) if w not in NAME_STOP_WORDS and w not in ("dollars", "dollar")]
        if nouns:
            noun = nouns[-1]
        elif money:
            noun = ("pay" if any(w in PAY_VERBS for w in before_all)
                    else "price" if any(w in SELL_VERBS for w in before_all) else "cost")
        else:
            noun = before[-1] if before else "amount"
        candidates.append([noun, "per", unit])
    if content_after and content_after[0] not in ("dollars", "dollar", "cents"):
        candidates.append(content_after[:2])
        if re.match(r"\s*[A-Za-z]+\s+each\b", after_text):  # "7 stickers each" when `stickers` is taken
            candidates.append([content_after[0], "each"])
        if before:  # "Kangaroos have two legs" -> kangaroos_legs when `legs` is taken
            candidates.append([before[-1], content_after[0]])
    if before:
        words = before[-2:]
        if money and head.rstrip().rstrip("$").rstrip().lower().endswith(" for") and words[-1] not in ("cost", "price"):
            words = [words[-1], "cost"]
        elif money and any(w in ("costs", "cost", "price", "priced") for w in before_all) and "cost" not in words:
            words = [words[-1], "cost"]
        elif money and len(words) == 1 and re.search(rf"\b{words[0].capitalize()}\b", head):
            # "Penny has $20" -> penny_money (a person's money, not "goal")
            words = [words[0], "money"]
        candidates.append(words)
    if content_after:
        candidates.append(content_after[:2])
    verbs = [w for w in before_all if w in NAME_VERBS and w not in ("is", "are", "was", "were", "be", "there")]
    if verbs:
        candidates.append([verbs[-1], "amount"] if not money else [verbs[-1], "money"])
    context = [w for w in _words(head)[-6:] if w not in NAME_STOP_WORDS and w not in NUMBER_WORDS]
    if context:
        candidates.append(context[-2:])
    return [c for c in candidates if c]


def _given_name(question: str, number: QuestionNumber, taken: set[str]) -> str:
    """Named by the words after the number in its clause ("16 eggs per day" -> eggs_per_day), by
    the words before it ("a hat for $10" -> hat_cost), or as a rate ("$12 an hour" -> pay_per_hour);
    the first candidate not taken wins, else the best one gets a ``_2`` suffix."""
    candidates = _given_words(question, number, taken)
    for words in candidates:
        name = "_".join(words)
        if name not in taken and name not in (ANSWER, "x") and not keyword.iskeyword(name) \
                and name not in RESERVED_NAMES:
            taken.add(name)
            return name
    return snake_name(candidates[0] if candidates else [], taken, "number")


def _with_givens(question: str, steps: list[Step], answer: str) -> Dataflow:
    """Lift the literals that the question states out of the steps into named givens."""
    numbers = question_numbers(question)
    taken = {s.name for s in steps}
    givens: dict[Fraction, Given] = {}
    for step in list(steps):  # a program's `eggs_per_day = 16` already names a given
        if isinstance(step.expression, Num) and step.expression.value not in givens:
            places = tuple(i for i, n in enumerate(numbers) if n.value == step.expression.value)
            if places:
                givens[step.value] = Given(step.name, step.value, places)
                steps.remove(step)

    def literals(expr: Expr) -> list[Fraction]:
        if isinstance(expr, Num):
            return [expr.value]
        if isinstance(expr, Neg):
            return literals(expr.operand)
        if isinstance(expr, BinOp):
            return literals(expr.left) + literals(expr.right)
        return []

    # Name the stated numbers in the order the question states them (the first gets the plain name).
    first_place = {}
    for step in steps:
        for value in literals(step.expression):
            places = [i for i, n in enumerate(numbers) if n.value == value]
            if places and value not in givens:
                first_place[value] = places[0]
    for value, place in sorted(first_place.items(), key=lambda item: item[1]):
        places = tuple(i for i, n in enumerate(numbers) if n.value == value)
        givens[value] = Given(_given_name(question, numbers[place], taken), value, places)

    def lift(expr: Expr) -> Expr:
        if isinstance(expr, Num):
            places = tuple(i for i, n in enumerate(numbers) if n.value == expr.value)
            if not places:
                return expr
            if expr.value not in givens:
                givens[expr.value] = Given(_given_name(question, numbers[places[0]], taken), expr.value, places)
            return Ref(givens[expr.value].name)
        if isinstance(expr, Neg):
            return Neg(lift(expr.operand))
        if isinstance(expr, BinOp):
            return BinOp(expr.op, lift(expr.left), lift(expr.right))
        return expr

    lifted = [replace(s, expression=lift(s.expression)) for s in steps]
    ordered = sorted(givens.values(), key=lambda g: g.at[0])  # in the order the question states them
    return Dataflow(question, tuple(ordered), tuple(lifted), answer)


def _live(steps: list[Step], answer: str) -> list[Step]:
    """Only the steps the answer depends on (a worked solution sometimes computes a side fact)."""
    needed, kept = {answer}, []
    for step in reversed(steps):
        if step.name in needed:
            kept.append(step)
            needed |= refs(step.expression)
    return kept[::-1]


def _step_name(name: str, taken: set[str]) -> str:
    """A rationale step's name without the annotations teacher's leftovers: the ``s`` of a
    possessive ("Betty's grandparents" -> betty_s_grandparents), filler words, digit suffixes."""
    words = [w for w in name.split("_") if w and not w.isdigit()]
    kept = [w for w in words if w not in NAME_STOP_WORDS] or words
    return snake_name(kept[:3], taken, "step")


def from_annotations(question: str, rationale: str, gold: float) -> Dataflow:
    """GSM8K's ``<<48/2=24>>`` steps as a dataflow whose answer is ``gold``."""
    raw = gsm8k_steps(rationale, question)
    if not raw:
        raise DataflowError("no calculations in the rationale")
    steps: list[Step] = []
    values: dict[str, Fraction] = {}
    names: dict[str, str] = {}
    taken: set[str] = set()
    for step in raw:
        # "560//10" in a rationale: a division that came out even (else the gold check below fails)
        # and "0130": a leading zero Python refuses
        text = re.sub(r"(?<![\d.])0+(\d)", r"\1", re.sub(r"/\s*/", "/", step.expression))
        text = re.sub(r"\b[A-Za-z_]\w*\b", lambda m: names.get(m.group(0), m.group(0)), text)
        expression = parse_expression(text)
        try:
            value = evaluate(expression, values)
        except (ZeroDivisionError, OverflowError):
            raise DataflowError("a step does not compute") from None
        names[step.name] = name = _step_name(step.name, taken)
        values[name] = value
        steps.append(Step(name, expression, value, step.sentence))
    target = Fraction(str(gold))
    final = next((s for s in reversed(steps) if abs(s.value - target) < Fraction(1, 10**6)), None)
    if final is None:
        raise DataflowError("answer not computed by any step")
    return _with_givens(question, _live(steps[: steps.index(final) + 1], final.name), final.name)


ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+)$")


def from_program(question: str, program: str) -> Dataflow:
    """A straight-line program (``name = expression`` lines, ``#`` comments, ``ans = ...``)."""
    lines = [line.split("#", 1)[0].strip() for line in program.splitlines()]
    lines = [line for line in lines if line]
    if not lines or len(lines) > MAX_LINES:
        raise DataflowError("no statements" if not lines else "program too long")
    steps: list[Step] = []
    values: dict[str, Fraction] = {}
    for number, line in enumerate(lines, 1):
        match = ASSIGNMENT.match(line)
        if not match or keyword.iskeyword(match.group(1)):
            raise DataflowError(f"line {number}: not a straight-line assignment")
        name = match.group(1)
        if name in values:
            raise DataflowError(f"line {number}: {name} is assigned twice")
        expression = parse_expression(match.group(2))
        try:
            values[name] = evaluate(expression, values)
        except (ZeroDivisionError, OverflowError) as exc:
            raise DataflowError(f"line {number}: {exc}") from None
        steps.append(Step(name, expression, values[name]))
    if ANSWER not in values:
        raise DataflowError("no `ans =` line")
    answer_step = steps[-1] if steps[-1].name == ANSWER else next(s for s in steps if s.name == ANSWER)
    # `ans = total` names the answer's step; keep `ans` itself only when it computes something.
    if isinstance(answer_step.expression, Ref):
        steps = [s for s in steps if s.name != ANSWER]
        answer = answer_step.expression.name
    else:
        answer = ANSWER
    return _with_givens(question, _live(steps, answer), answer)


__all__ = ["BinOp", "Dataflow", "DataflowError", "Given", "Neg", "Num", "QuestionNumber", "Ref", "Step",
           "evaluate", "leaves", "from_annotations", "from_program", "number_text", "parse_expression", "question_numbers",
           "refs", "render"]
