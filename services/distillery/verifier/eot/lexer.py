"""Tokenizer for one line of an Equation-of-Thought system.

The grammar is our own (never Python's or SymPy's): numbers, ASCII identifiers,
arithmetic operators, ``=``-like signs, parentheses and commas. Teacher quirks are
normalised here so the parser sees one spelling: unicode operators, ``**`` for
``^``, currency signs, ``%`` as a percent sign or as the start of a comment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

MAX_LITERAL_DIGITS = 300  # a longer literal is not a word-problem number; refuse it
MAX_LITERAL_EXPONENT = 300  # for scientific notation like 1.5e3


class EotSyntaxError(Exception):
    """A line that cannot be read as an equation."""


class EotLimitError(Exception):
    """Input or arithmetic beyond the sizes we agree to handle (a resource guard)."""


@dataclass(frozen=True)
class Token:
    kind: str  # NUM, NAME, OP, EQ, AUG, REL, LPAREN, RPAREN, COMMA, SEMI, QMARK
    text: str  # the operator/name/raw number text, after normalisation
    space_before: bool  # whitespace right before it (decides implicit products and unit tails)
    value: Fraction | None = None  # for NUM


# Normalised spellings: anything left of the arrow becomes the right side.
_CHAR_ALIASES = {
    "×": "*", "·": "*", "⋅": "*", "∗": "*", "÷": "/", "∕": "/",
    "−": "-", "–": "-", "—": "-", "≤": "<=", "≥": ">=", "≠": "!=",
}
_CURRENCY = set("$€£¥₹")
_SUPERSCRIPT_POWERS = {"²": "2", "³": "3"}
_PERCENT_WORDS = {"percent", "pct"}

_NUMBER = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_NAME = re.compile(r"(?:math\.)?([A-Za-z_][A-Za-z0-9_]*)")
_TWO_CHAR_OPS = {
    "**": ("OP", "^"), "==": ("EQ", "="), ":=": ("EQ", "="),
    "+=": ("AUG", "+"), "-=": ("AUG", "-"), "*=": ("AUG", "*"), "/=": ("AUG", "/"),
    "<=": ("REL", "<="), ">=": ("REL", ">="), "!=": ("REL", "!="),
}
_ONE_CHAR_OPS = {
    "+": ("OP", "+"), "-": ("OP", "-"), "*": ("OP", "*"), "/": ("OP", "/"),
    "^": ("OP", "^"), "=": ("EQ", "="), "<": ("REL", "<"), ">": ("REL", ">"),
    "(": ("LPAREN", "("), ")": ("RPAREN", ")"), "[": ("LBRACK", "["), "]": ("RBRACK", "]"),
    ",": ("COMMA", ","), ";": ("SEMI", ";"), "?": ("QMARK", "?"),
}
# After one of these a `%` is a percent sign (20%); elsewhere `%` opens a comment.
_PERCENT_FOLLOWERS = set("+-*/^)=,;<>%") | set("×÷−")


def normalise(line: str) -> str:
    for src, dst in _CHAR_ALIASES.items():
        line = line.replace(src, dst)
    return line


def exact_number(raw: str) -> Fraction:
    """Exact value of a decimal literal; Fraction('0.1') is 1/10, never a float. EotLimitError when too long."""
    mantissa, _, exponent = raw.lower().partition("e")
    if len(mantissa.replace(".", "")) > MAX_LITERAL_DIGITS:
        raise EotLimitError(f"number literal longer than {MAX_LITERAL_DIGITS} digits")
    if exponent and abs(int(exponent)) > MAX_LITERAL_EXPONENT:
        raise EotLimitError(f"number literal exponent beyond {MAX_LITERAL_EXPONENT}")
    value = Fraction(mantissa if not mantissa.endswith(".") else mantissa[:-1])
    if exponent:
        value *= Fraction(10) ** int(exponent)
    return value


def _percent_here(line: str, pos: int, tokens: list[Token]) -> bool:
    """Is the `%` at `pos` a percent sign? Only right after a value and before an operator/end."""
    if not tokens or tokens[-1].kind not in ("NUM", "NAME", "RPAREN"):
        return False
    rest = line[pos + 1:].lstrip()
    return rest == "" or rest[0] in _PERCENT_FOLLOWERS


def tokenize(line: str) -> list[Token]:
    """Tokens of one line; a `%`/`#` comment ends the line. Raises EotSyntaxError."""
    line = normalise(line)
    tokens: list[Token] = []
    pos, space = 0, False
    while pos < len(line):
        ch = line[pos]
        if ch.isspace() or ch in _CURRENCY:
            space = space or ch.isspace()
            pos += 1
            continue
        if ch == "#" or (ch == "%" and not _percent_here(line, pos, tokens)):
            break  # inline comment
        if ch == "%":
            tokens.append(Token("PERCENT", "%", space))
        elif ch in _SUPERSCRIPT_POWERS:
            tokens.append(Token("OP", "^", False))
            digit = _SUPERSCRIPT_POWERS[ch]
            tokens.append(Token("NUM", digit, False, Fraction(int(digit))))
        elif m := _NUMBER.match(line, pos):
            tokens.append(Token("NUM", m.group(0), space, exact_number(m.group(0))))
            pos, space = m.end(), False
            continue
        elif m := _NAME.match(line, pos):
            if m.group(1) in _PERCENT_WORDS and tokens and tokens[-1].kind in ("NUM", "NAME", "RPAREN"):
                tokens.append(Token("PERCENT", "%", space))  # "20 percent" is 20%, not a unit to drop
            else:
                tokens.append(Token("NAME", m.group(1), space))
            pos, space = m.end(), False
            continue
        elif line[pos:pos + 2] in _TWO_CHAR_OPS:
            kind, text = _TWO_CHAR_OPS[line[pos:pos + 2]]
            tokens.append(Token(kind, text, space))
            pos += 1
        elif ch in _ONE_CHAR_OPS:
            kind, text = _ONE_CHAR_OPS[ch]
            tokens.append(Token(kind, text, space))
        elif ch in ".:" and line[pos + 1:].strip() in ("", ";"):
            pass  # sentence-ending period or a trailing colon
        else:
            raise EotSyntaxError(f"unexpected character {ch!r}")
        pos, space = pos + 1, False
    return tokens
