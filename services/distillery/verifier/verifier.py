"""The verifier: thought text -> answer (parse, execute or solve) -> graded verdict.

    with Verifier() as verifier:
        verdict = verifier.verify(ThoughtRecord(id=1, thought_type="pot", text="ans = 6 * 7", gold=42))

CoT answers are read in-process (regular expressions over bounded text). PoT programs
run in the sandbox. EoT systems are parsed and solved by our own code -- nothing reaches
``sympify`` or ``eval`` -- but solving can still explode in time or memory, so it runs in
a sandbox child too, with its own limits. Both pools start on first use.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from distillery.core.outcome import Outcome, Status
from distillery.sandbox import IsolationReport, Sandbox, SandboxConfig
from distillery.verifier.config import VerifierConfig
from distillery.verifier.cot import extract_cot_answer
from distillery.verifier.grade import GradingConfig, is_correct
from distillery.verifier.records import ThoughtRecord, ThoughtType, Verdict

log = logging.getLogger(__name__)

EOT_SOLVER = "distillery.verifier.eot.solve:solve_eot"


class Verifier:
    def __init__(self, config: VerifierConfig | None = None, *, pot_sandbox: SandboxConfig | None = None) -> None:
        """``pot_sandbox`` replaces the PoT pool's settings (tests of the OS layers run
        programs with ``ast_policy=False`` through the whole verifier this way)."""
        self.config = config or VerifierConfig()
        self._pot = Sandbox(pot_sandbox or SandboxConfig(
            workers=self.config.workers, limits=self.config.pot_limits,
            allowed_imports=self.config.allowed_imports, require=self.config.enforced_isolation,
        ))
        self._eot = Sandbox(SandboxConfig(
            workers=self.config.workers, limits=self.config.eot_limits, allowed_imports=(),
            preload=("sympy", EOT_SOLVER.split(":")[0]), require=self.config.enforced_isolation,
            # Our own solver on untrusted data: no fork per system (a SymPy-sized fork costs
            # more than most solves); a solve past its limit costs the worker a restart.
            fork_per_task=False,
        ))
        # Threads only wait on sandbox workers; two per worker keeps every worker busy.
        self._threads = ThreadPoolExecutor(max_workers=4 * self.config.workers, thread_name_prefix="verify")

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> "Verifier":
        """Start both sandbox pools now (otherwise they start on first use)."""
        self._pot.start()
        self._eot.start()
        return self

    def close(self) -> None:
        self._threads.shutdown(wait=True, cancel_futures=True)
        self._pot.close()
        self._eot.close()

    def __enter__(self) -> "Verifier":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def isolation(self) -> IsolationReport:
        """Which isolation layers are in force (starts the PoT pool if needed)."""
        self._pot.start()
        return self._pot.isolation

    # -- the two verbs -----------------------------------------------------------------
    def answer(self, thought_type: ThoughtType | str, text: str) -> Outcome:
        """The answer a thought arrives at, or why it arrives at none."""
        thought_type = ThoughtType(thought_type)
        if thought_type is ThoughtType.COT:
            return extract_cot_answer(text)
        if thought_type is ThoughtType.POT:
            return self._pot.run_python(text).outcome
        return self._eot.call(EOT_SOLVER, text).outcome

    def verify(self, record: ThoughtRecord, grading: GradingConfig | None = None) -> Verdict:
        outcome = self.answer(record.thought_type, record.text)
        try:
            correct = is_correct(outcome.answer, record.gold, grading or self.config.grading)
            return Verdict(answer=outcome.answer, status=outcome.status, correct=correct, error=outcome.error)
        except (TypeError, ValueError) as exc:
            # The sandbox checks every result, so this is a last line: an answer that cannot be
            # graded is this thought's exec_error, never the failure of the batch it came in.
            log.warning("thought %r: ungradable outcome %r (%s)", record.id, outcome, exc)
            return Verdict(answer=None, status=Status.EXEC_ERROR, correct=False if record.gold is not None else None,
                           error=f"malformed result: {type(exc).__name__}")

    # -- many at once ------------------------------------------------------------------
    def submit(self, record: ThoughtRecord, grading: GradingConfig | None = None) -> "Future[Verdict]":
        return self._threads.submit(self.verify, record, grading)

    def verify_many(self, records: Iterable[ThoughtRecord], grading: GradingConfig | None = None,
                    window: int | None = None) -> Iterator[Verdict]:
        """Verdicts in input order, verifying up to ``window`` records concurrently.

        Reads ``records`` lazily, so millions of records stream through in bounded memory.
        """
        window = window or 8 * self.config.workers
        pending: collections.deque[Future[Verdict]] = collections.deque()
        for record in records:
            pending.append(self.submit(record, grading))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
