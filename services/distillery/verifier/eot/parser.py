"""Recursive-descent parser: EoT text -> a list of equations over a tiny expression AST.

Pure Python, no SymPy: the text is untrusted, so it is only ever turned into the
frozen dataclasses below, which the solvers then interpret themselves.

Grammar of one statement (lines may hold several, separated by ``;``)::

    statement := side ('=' side)+ [tail]      a = b = 5 gives a = 5 and b = 5
               | NAME AUG side [tail]         a -= 4 gives a = a - 4
               | side REL side                an inequality: read, then ignored
    side      := term (('+' | '-') term)*
    term      := unary (('*' | '/') unary | implicit unary)*    3x, 2(5+1), (a)(b);
                 an implicit product binds like '*', so 1/2x is (1/2)*x
    unary     := ('-' | '+') unary | power
    power     := postfix ['^' unary]           right-associative
    postfix   := primary [SCALE] '%'*          20% is 20/100, "3 dozen" is 36
    primary   := NUM [',' NUM]* | FUNC '(' args ')' | NAME | '(' side ')'
    tail      := NAME (NAME | NUM | ',' | '/')*     trailing units/prose: "5 * 3 dollars"
               | '(' (NAME | NUM | ',')+ ')'       "12 (in dollars)": spaced off, 2+ words, at the end
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Union

from .lexer import EotLimitError, EotSyntaxError, Token, tokenize

MAX_TEXT_CHARS = 100_000
MAX_EQUATIONS = 500
MAX_DEPTH = 60  # nesting of parentheses/unary signs; deeper input is refused, never a RecursionError
MAX_TREE_DEPTH = 200  # e.g. a 200-term sum; the (recursive) solvers walk trees at most this deep

# Functions a teacher may call; aliases map to one canonical name.
FUNCTIONS = {
    "ceil": "ceil", "ceiling": "ceil", "floor": "floor", "round": "round", "abs": "abs",
    "min": "min", "max": "max", "sqrt": "sqrt", "mod": "mod", "int": "int", "trunc": "int",
}
SCALE_WORDS = {
    "dozen": Fraction(12), "hundred": Fraction(100), "thousand": Fraction(1000),
    "million": Fraction(10**6), "billion": Fraction(10**9),
}
FUNCTION_ARITY = {
    "ceil": (1, 1), "floor": (1, 1), "round": (1, 2), "abs": (1, 1), "min": (1, 50),
    "max": (1, 50), "sqrt": (1, 1), "mod": (2, 2), "int": (1, 1),
}


@dataclass(frozen=True)
class Num:
    value: Fraction


@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class Neg:
    operand: "Expr"


@dataclass(frozen=True)
class BinOp:
    op: str  # one of + - * / ^
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True)
class Call:
    func: str  # a canonical name from FUNCTIONS
    args: tuple["Expr", ...]


Expr = Union[Num, Var, Neg, BinOp, Call]


@dataclass(frozen=True)
class Equation:
    lhs: Expr
    rhs: Expr
    line_no: int  # 1-based line in the original text
    tail_words: tuple[str, ...] = ()  # dropped trailing words; the solver checks they are not variables


class ControlFlowError(EotSyntaxError):
    """The text is a program (if/else/for blocks), not a system of equations."""


def tree_depth(expr: Expr) -> int:
    """Depth of an expression tree, computed without recursion."""
    deepest = 0
    stack: list[tuple[Expr, int]] = [(expr, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, Neg):
            stack.append((node.operand, depth + 1))
        elif isinstance(node, BinOp):
            stack.extend(((node.left, depth + 1), (node.right, depth + 1)))
        elif isinstance(node, Call):
            stack.extend((arg, depth + 1) for arg in node.args)
    return deepest


def names_in(expr: Expr) -> set[str]:
    """Every variable name used in an expression (iteratively: ASTs may be deep)."""
    found: set[str] = set()
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Var):
            found.add(node.name)
        elif isinstance(node, Neg):
            stack.append(node.operand)
        elif isinstance(node, BinOp):
            stack.extend((node.left, node.right))
        elif isinstance(node, Call):
            stack.extend(node.args)
    return found


class _StatementParser:
    """Parses the tokens of one statement."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.call_depth = 0  # inside f(...) a comma separates arguments, never thousands

    # -- token helpers -------------------------------------------------------------
    def peek(self, offset: int = 0) -> Token | None:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else None

    def take(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise EotSyntaxError("unexpected end of line")
        self.pos += 1
        return tok

    def expect(self, kind: str) -> Token:
        tok = self.peek()
        if tok is None or tok.kind != kind:
            wanted = {"RPAREN": "')'", "LPAREN": "'('"}.get(kind, kind)
            raise EotSyntaxError(f"expected {wanted}, found {tok.text if tok else 'end of line'!r}")
        return self.take()

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise EotSyntaxError(f"expression nested deeper than {MAX_DEPTH}")

    # -- statements ----------------------------------------------------------------
    def statement(self) -> tuple[list[tuple[Expr, Expr]], tuple[str, ...]]:
        """(lhs, rhs) pairs and the dropped tail words; no pairs for an inequality or `a = ?`."""
        first, second = self.peek(), self.peek(1)
        if first and second and first.kind == "NAME" and second.kind == "AUG":
            self.pos += 2
            rhs = self.side()
            tail = self.tail()
            return [(Var(first.text), BinOp(second.text, Var(first.text), rhs))], tail
        sides: list[Expr | None] = [self.side_or_question()]
        while (tok := self.peek()) is not None and tok.kind in ("EQ", "REL"):
            self.take()
            sides.append(self.side_or_question())
            if tok.kind == "REL":
                self.tail()
                return [], ()  # an inequality cannot pin a value down; ignore the line
        if len(sides) == 1:
            raise EotSyntaxError("no '=' in statement")
        tail = self.tail()
        if any(side is None for side in sides):
            return [], ()  # "a - b = ?": a question, not an equation
        # a = b = 5 means every part equals the last one
        last = sides[-1]
        return [(side, last) for side in sides[:-1]], tail  # type: ignore[misc]

    def side_or_question(self) -> Expr | None:
        tok = self.peek()
        if tok is not None and tok.kind == "QMARK":
            self.take()
            return None
        return self.side()

    def tail(self) -> tuple[str, ...]:
        """Trailing words after a complete expression ("= 20 per hour", "= 5 miles/hour",
        "= 12 (in dollars)"), or a syntax error."""
        tok = self.peek()
        if tok is None:
            return ()
        prose_parenthetical = self.prose_parenthetical_here()
        if not prose_parenthetical and (tok.kind != "NAME" or not tok.space_before):
            raise EotSyntaxError(f"unexpected {tok.text!r}")
        allowed = ("NAME", "NUM", "COMMA", "LPAREN", "RPAREN") if prose_parenthetical else ("NAME", "NUM", "COMMA", "OP")
        words: list[str] = []
        while (tok := self.peek()) is not None:
            if tok.kind not in allowed or (tok.kind == "OP" and tok.text != "/"):
                raise EotSyntaxError(f"unexpected {tok.text!r} after {' '.join(words) or 'expression'}")
            if tok.kind == "NAME":
                words.append(tok.text)
            self.take()
        return tuple(words)

    def prose_parenthetical_here(self) -> bool:
        """Is the rest of the statement a spaced-off "(in dollars)"? Two or more words, no
        operators; a lone "(a)" stays a factor, as in "2 (a)"."""
        tok = self.peek()
        inside = self.tokens[self.pos + 1:-1]
        return (tok is not None and tok.kind == "LPAREN" and tok.space_before
                and self.tokens[-1].kind == "RPAREN" and len(inside) > 0
                and all(t.kind in ("NAME", "NUM", "COMMA") for t in inside)
                and sum(t.kind == "NAME" for t in inside) >= 2)

    # -- expressions -----------------------------------------------------------------
    def side(self) -> Expr:
        self.enter()
        node = self.term()
        while (tok := self.peek()) is not None and tok.kind == "OP" and tok.text in "+-":
            self.take()
            node = BinOp(tok.text, node, self.term())
        self.depth -= 1
        return node

    def term(self) -> Expr:
        node = self.unary()
        while (tok := self.peek()) is not None:
            if tok.kind == "OP" and tok.text in "*/":
                self.take()
                node = BinOp(tok.text, node, self.unary())
            elif self.implicit_product_follows():
                node = BinOp("*", node, self.unary())
            else:
                break
        return node

    def implicit_product_follows(self) -> bool:
        """3x, 3price, 2(5+1), (a+b)(c+d), x(1+0.2): a factor right after a factor."""
        prev, tok = self.tokens[self.pos - 1], self.peek()
        if tok is None:
            return False
        if tok.kind == "LPAREN":
            return prev.kind in ("NUM", "NAME", "RPAREN", "PERCENT") and not self.prose_parenthetical_here()
        if tok.kind in ("NAME", "NUM") and not tok.space_before:
            return prev.kind in ("NUM", "RPAREN", "PERCENT")
        return False

    def unary(self) -> Expr:
        tok = self.peek()
        if tok is not None and tok.kind == "OP" and tok.text in "+-":
            self.take()
            self.enter()
            operand = self.unary()
            self.depth -= 1
            return Neg(operand) if tok.text == "-" else operand
        return self.power()

    def power(self) -> Expr:
        base = self.postfix()
        tok = self.peek()
        if tok is not None and tok.kind == "OP" and tok.text == "^":
            self.take()
            self.enter()
            exponent = self.unary()
            self.depth -= 1
            return BinOp("^", base, exponent)
        return base

    def postfix(self) -> Expr:
        node = self.primary()
        tok = self.peek()
        if isinstance(node, Num) and tok is not None and tok.kind == "NAME" and tok.text in SCALE_WORDS:
            self.take()  # "1.5 million", "3 dozen": a number word, not a unit to drop
            node = Num(node.value * SCALE_WORDS[tok.text])
        while (tok := self.peek()) is not None and tok.kind == "PERCENT":
            self.take()
            node = Num(node.value / 100) if isinstance(node, Num) else BinOp("/", node, Num(Fraction(100)))
        return node

    def primary(self) -> Expr:
        tok = self.take()
        if tok.kind == "NUM":
            return Num(self.thousands(tok))
        if tok.kind == "NAME":
            nxt = self.peek()
            if tok.text in FUNCTIONS and nxt is not None and nxt.kind == "LPAREN":
                return self.call(FUNCTIONS[tok.text])
            return Var(tok.text)
        if tok.kind == "LPAREN":
            saved_call_depth, self.call_depth = self.call_depth, 0
            node = self.side()
            self.call_depth = saved_call_depth
            self.expect("RPAREN")
            return node
        raise EotSyntaxError(f"unexpected {tok.text!r}")

    def thousands(self, first: Token) -> Fraction:
        """1,200,000 -> 1200000 (a comma right before exactly three digits, no spaces)."""
        value, raw = first.value, first.text
        assert value is not None
        if self.call_depth or not re.fullmatch(r"\d{1,3}", raw):
            return value
        while True:
            comma, group = self.peek(), self.peek(1)
            if not (comma and group and comma.kind == "COMMA" and not comma.space_before
                    and group.kind == "NUM" and not group.space_before
                    and re.fullmatch(r"\d{3}(\.\d*)?", group.text)):
                return value
            self.pos += 2
            raw = raw + group.text
            value = Fraction(raw)
            if "." in group.text:
                return value

    def call(self, func: str) -> Expr:
        self.expect("LPAREN")
        self.enter()
        self.call_depth += 1
        args = [self.side()]
        while (tok := self.peek()) is not None and tok.kind == "COMMA":
            self.take()
            args.append(self.side())
        self.call_depth -= 1
        self.depth -= 1
        self.expect("RPAREN")
        low, high = FUNCTION_ARITY[func]
        if not low <= len(args) <= high:
            raise EotSyntaxError(f"{func}() takes {low}..{high} arguments, got {len(args)}")
        return Call(func, tuple(args))


# -- lines -------------------------------------------------------------------------
_COMMENT_LINE = re.compile(r"^\s*(%|#|//)")
_LABEL_PREFIX = re.compile(r"^[A-Za-z][\w ]{0,40}:\s*(?=[^=]*[^<>!=]=)")  # "Total: t = 5"
_HAS_EQUALS = re.compile(r"(?<![<>!=])=(?!=)|==")
_INEQUALITY = re.compile(r"<=|>=|!=|=<|=>")
_RELATIONS = re.compile(r"==|<=|>=|!=|=<|=>")
_BLOCK_START = re.compile(r"^(if|elif|elseif|while|for)\b.*")
_BLOCK_END = re.compile(r"^(else|end|endif|endfor|endwhile|end\s+if|end\s+for|fi|done)\s*:?;?$")


def _is_control_flow(line: str) -> bool:
    # Lowercase keywords only: a prose line "If she buys..." is not code.
    return bool(_BLOCK_END.match(line) or (_BLOCK_START.match(line) and (
        line.endswith(":") or line.endswith("then") or not _HAS_EQUALS.search(_RELATIONS.sub("", line))
        or re.match(r"^for\s+\w+\s*(=|in\b)", line))))


def parse_system(text: str) -> list[Equation]:
    """All equations of an EoT text, in order. Raises EotSyntaxError (with the line
    number and a snippet), ControlFlowError or EotLimitError."""
    if len(text) > MAX_TEXT_CHARS:
        raise EotLimitError(f"text longer than {MAX_TEXT_CHARS} characters")
    equations: list[Equation] = []
    for line_no, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or _COMMENT_LINE.match(line):
            continue
        if _is_control_flow(line):
            raise ControlFlowError(f"line {line_no}: control flow is not an equation system: {line[:60]!r}")
        line = _LABEL_PREFIX.sub("", line)
        if not _HAS_EQUALS.search(_INEQUALITY.sub("", line.split("%", 1)[0].split("#", 1)[0])):
            continue  # prose ("The answer is ans") or a bare inequality
        try:
            tokens = tokenize(line)
            for statement in _split_statements(tokens):
                pairs, tail = _StatementParser(statement).statement()
                for lhs, rhs in pairs:
                    if max(tree_depth(lhs), tree_depth(rhs)) > MAX_TREE_DEPTH:
                        raise EotLimitError(f"line {line_no}: expression deeper than {MAX_TREE_DEPTH}")
                    equations.append(Equation(lhs, rhs, line_no, tail))
        except EotSyntaxError as exc:
            raise EotSyntaxError(f"line {line_no}: {exc} in {line[:60]!r}") from None
        if len(equations) > MAX_EQUATIONS:
            raise EotLimitError(f"more than {MAX_EQUATIONS} equations")
    return equations


def _split_statements(tokens: list[Token]) -> list[list[Token]]:
    statements: list[list[Token]] = [[]]
    for tok in tokens:
        if tok.kind == "SEMI":
            statements.append([])
        else:
            statements[-1].append(tok)
    return [s for s in statements if s]
