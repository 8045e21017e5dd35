"""Contamination guard: refuse teacher problems whose question matches an evaluation benchmark.

Questions are compared as *normalised* tokens: Unicode folded (NFKD, accents and case dropped,
apostrophes removed so "John's" = "Johns"), punctuation dropped, every number -- ``1,200``,
``3.5``, ``$5``, ``20%``, ``1/2`` and the words one..twenty, thirty..ninety, hundred, thousand,
million, half, twice, dozen -- masked to ``#``, every name to ``@`` (see ``_Vocabulary``),
he/him/his to she/her/her, a run of ``#`` or ``@`` to one. Masking is the point: a variant of a
benchmark problem with new numbers or names normalises to the same text and is caught.

Each question becomes a set of *shingles*, built per sentence so that reordering sentences
changes nothing: a sentence of ``NGRAM`` or more tokens gives its word ``NGRAM``-grams, a shorter
one gives itself. The *coverage* of one side of a pair is the share of its tokens inside shingles
the other side has too; the score is the mean of both coverages. A match needs score >=
``THRESHOLD`` and ``MIN_SHARED`` shared shingles; an exact normalised match is always one (1.0).
A question of fewer than ``NGRAM`` tokens is matched on exact normalised text only: a few words
are too little evidence. An inverted index (shingle -> questions) limits ``match`` to questions
that share a shingle: ~5,600 questions/s on one core against the 5,003 evaluation questions.

Calibration (``benchmarks/contamination_scan.py``: all 7,473 GSM8K-train questions against
GSM8K test, SVAMP, ASDiv, MultiArith): THRESHOLD 0.6 refuses 28 -- 23 ASDiv, 5 GSM8K test, 0
SVAMP, 0 MultiArith -- and by eye every one is the same problem with other names and numbers
(bicycles-and-cars wheels, cat/dog food cans, a train's "additional hours"; lowest 0.60). Of the
8 pairs in [0.5, 0.6), 6 share only stock phrasing ("In # years, @ will be # times as old as @")
and 2 are real copies (0.58, 0.54); lower scores are phrasing. Every evaluation question, verbatim
or with new numbers, scores 1.0.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

NGRAM = 8
THRESHOLD = 0.6
MIN_SHARED = 2

# Digits with thousands separators and decimals ("1,200", "3.5", ".5"); "$", "%" and "/" are
# dropped as punctuation around them, and "1/2" or "3 1/2" collapse to one "#".
_DIGITS = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?|\.\d+")
_SENTENCE_END = re.compile(r"[.!?;]+")  # decimals are masked first, so "." here ends a sentence
_WORD = re.compile(r"#|[^\W_]+")
_APOSTROPHES = re.compile(r"['\u2018\u2019\u02bc`\u00b4]")
_NUMBER_WORDS = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
    " sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety"
    " hundred thousand million billion half twice dozen dozens".split())
# Sentence openers that are never names, for guards over too few questions to know them.
_NOT_NAMES = frozenset(
    "a after all also an and any as at because before both but by calculate each every find for"
    " from he her his how however i if in it its last let many my next now of on once our she so"
    " some that the their then there these they this those to today we what when where which while"
    " who why with you your".split())
_PRONOUNS = {"he": "she", "him": "her", "his": "her", "himself": "herself"}


@dataclass(frozen=True)
class Match:
    benchmark: str  # e.g. "gsm8k-test"
    problem_id: str  # the benchmark row's id
    score: float  # the overlap that triggered the refusal, 0..1 (1.0: exact normalised match)

    def describe(self) -> str:
        """One line for logs and lineage."""
        return f"matches {self.benchmark}/{self.problem_id} ({self.score:.2f} {NGRAM}-gram overlap)"


def _words(question: str) -> list[list[str]]:
    """The words of each sentence, case kept, numbers already ``#``."""
    text = unicodedata.normalize("NFKD", question)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _DIGITS.sub(" # ", _APOSTROPHES.sub("", text))
    return [words for sentence in _SENTENCE_END.split(text) if (words := _WORD.findall(sentence))]


class _Vocabulary:
    """Which words are names. A capitalised word is a name unless it is a known opener or the
    benchmarks also use it in lower case ("Tickets cost" vs "the tickets"); and a word the
    benchmarks only ever capitalise ("Jessica") is a name in any case, so a question typed in
    lower or upper case normalises like the original."""

    def __init__(self, questions: Iterable[list[list[str]]]) -> None:
        lower: set[str] = set()
        capitalised: set[str] = set()
        for sentences in questions:
            for words in sentences:
                for word in words:
                    (lower if word.islower() else capitalised).add(word.casefold())
        self.lower = frozenset(lower)
        self.names = frozenset(capitalised - lower - _NOT_NAMES - _NUMBER_WORDS)

    def tokens(self, sentences: list[list[str]]) -> list[list[str]]:
        result = []
        for words in sentences:
            tokens: list[str] = []
            for word in words:
                token = word.casefold()
                if token in _NUMBER_WORDS:
                    token = "#"
                elif token in self.names or (word != "#" and not word.islower() and token not in self.lower
                                             and token not in _NOT_NAMES):
                    token = "@"
                else:
                    token = _PRONOUNS.get(token, token)
                if not (token in "#@" and tokens and tokens[-1] == token):
                    tokens.append(token)
            result.append(tokens)
        return result


def _shingles(tokenised: list[list[str]]) -> dict[str, tuple[int, int]]:
    """Shingle -> the token span (start, end) it covers, over all sentences in order: each
    sentence's word ``NGRAM``-grams, or a sentence shorter than that by itself."""
    result: dict[str, tuple[int, int]] = {}
    offset = 0
    for tokens in tokenised:
        width = min(NGRAM, len(tokens))
        for i in range(len(tokens) - width + 1):
            # A repeated shingle keeps its first span: coverage is a little lower, never higher.
            result.setdefault(" ".join(tokens[i:i + width]), (offset + i, offset + i + width))
        offset += len(tokens)
    return result


def _coverage(spans: Iterable[tuple[int, int]], length: int) -> float:
    """The share of ``length`` tokens inside the union of ``spans``."""
    covered, reach = 0, 0
    for start, end in sorted(spans):
        start = max(start, reach)
        if end > start:
            covered += end - start
            reach = end
    return covered / length


class ContaminationGuard:
    """An index of benchmark questions; :meth:`match` says which one a question copies, if any."""

    def __init__(self, names: tuple[str, ...], vocabulary: _Vocabulary, entries: list[tuple[str, str]],
                 exact: dict[str, int], postings: dict[str, list[int]],
                 grams: list[dict[str, tuple[int, int]]], lengths: list[int], threshold: float) -> None:
        self._names = names
        self._vocabulary = vocabulary
        self._entries = entries  # (benchmark, problem_id) per indexed question
        self._exact = exact  # normalised text -> first entry with it
        self._postings = postings  # shingle -> entries that have it (each once, ascending)
        self._grams = grams  # per entry: shingle -> span
        self._lengths = lengths  # per entry: token count
        self._threshold = threshold

    @classmethod
    def build(cls, benchmarks: Mapping[str, Iterable[tuple[str, str]]], *,
              threshold: float = THRESHOLD) -> ContaminationGuard:
        """Index ``benchmark name -> (problem_id, question)`` pairs."""
        names = tuple(sorted(benchmarks))  # sorted: ties go to the same benchmark every time
        rows = [(name, str(pid), _words(question)) for name in names for pid, question in benchmarks[name]]
        vocabulary = _Vocabulary(words for _, _, words in rows)
        entries, exact, postings, grams, lengths = [], {}, {}, [], []
        for index, (name, problem_id, words) in enumerate(rows):
            tokenised = vocabulary.tokens(words)
            entries.append((name, problem_id))
            if tokenised:  # an empty question must not make every empty query a match
                exact.setdefault(" ".join(t for s in tokenised for t in s), index)
            grams.append(_shingles(tokenised))
            lengths.append(sum(map(len, tokenised)))
            for gram in grams[-1]:
                postings.setdefault(gram, []).append(index)
        return cls(names, vocabulary, entries, exact, postings, grams, lengths, threshold)

    def normalise(self, question: str) -> str:
        """The normalised text that an exact match compares (names as this index knows them)."""
        return " ".join(t for s in self._vocabulary.tokens(_words(question)) for t in s)

    def match(self, question: str) -> Match | None:
        """The benchmark question that ``question`` copies (best score), or None if none does."""
        tokenised = self._vocabulary.tokens(_words(question))
        text = " ".join(t for s in tokenised for t in s)
        if text in self._exact:
            return self._match(self._exact[text], 1.0)
        length = sum(map(len, tokenised))
        if length < NGRAM:
            return None  # too short for overlap to mean anything; exact text only
        grams = _shingles(tokenised)
        counts: Counter[int] = Counter()
        for gram in grams:
            counts.update(self._postings.get(gram, ()))
        best, best_score = -1, 0.0
        for index, shared in counts.items():
            if shared < MIN_SHARED:
                continue
            theirs = self._grams[index]
            common = [gram for gram in grams if gram in theirs]
            # The mean of both sides' coverage: a shared template scores high on both; a short
            # benchmark question whose one stock sentence ("If @ is #, how old is @?") recurs in a
            # longer problem scores high on one side only. Rounded, so ties and the threshold
            # do not hang on float noise.
            score = round((_coverage((grams[g] for g in common), length)
                           + _coverage((theirs[g] for g in common), self._lengths[index])) / 2, 4)
            if score > best_score or (score == best_score and index < best):
                best, best_score = index, score
        if best < 0 or best_score < self._threshold:
            return None
        return self._match(best, best_score)

    def _match(self, index: int, score: float) -> Match:
        benchmark, problem_id = self._entries[index]
        return Match(benchmark, problem_id, score)

    @property
    def benchmarks(self) -> tuple[str, ...]:
        """The benchmark names indexed, sorted."""
        return self._names

    def __len__(self) -> int:
        return len(self._entries)
