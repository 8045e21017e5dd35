"""Few-shot prompts for the three thought types: 8 worked GSM8K-*train* examples each.

Versioned: ``PROMPT_VERSION`` names the set and :func:`prompt_hash` fingerprints the exact
text, both recorded in every teacher dataset's lineage. Change an example -> bump the
version. Two variants of each: ``chat`` (system + alternating user/assistant turns) and
``completion`` (one plain-text prompt for base models and /v1/completions).

The triggers are the ones of the authors' released ETD checkpoint (DESIGN.md); students are
trained on ``Question: {question}\\n{trigger}\\n`` -> thought, and the teacher's prompts use the
same framing so that its outputs need no reformatting.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from distillery.student.thought_text import STOP, TRIGGERS, student_input

PROMPT_VERSION = "gsm8k-train-8shot-v1"


INSTRUCTIONS = {
    "cot": "Solve the math word problem step by step in plain language. End with 'The answer is N.'",
    "pot": "Write straight-line Python that solves the math word problem and stores the result in `ans`. "
           "No input(), no printing, no imports beyond math.",
    "eot": "Write a system of equations that solves the math word problem: one `name = expression` per line, "
           "'%' comment lines, unknowns introduced as `x`, and the answer in `ans`. Do not simplify.",
}


@dataclass(frozen=True)
class Example:
    question: str
    cot: str
    pot: str
    eot: str


EXAMPLES: tuple[Example, ...] = (
    Example(
        "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
        "How many clips did Natalia sell altogether in April and May?",
        "In May she sold half of 48, which is 48 / 2 = 24 clips. Altogether she sold 48 + 24 = 72 clips. "
        "The answer is 72.",
        "clips_april = 48\nclips_may = clips_april / 2\nans = clips_april + clips_may",
        "% Natalia sold 48 clips in April\nclips_april = 48\n% and half as many in May\n"
        "clips_may = clips_april / 2\n% clips sold altogether\nans = clips_april + clips_may",
    ),
    Example(
        "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. "
        "How much did she earn?",
        "Weng earns 12 / 60 = $0.2 per minute. For 50 minutes she earned 0.2 * 50 = $10. The answer is 10.",
        "hourly_wage = 12\nper_minute = hourly_wage / 60\nminutes_worked = 50\nans = per_minute * minutes_worked",
        "% Weng earns $12 an hour, that is per minute\nper_minute = 12 / 60\n% she worked 50 minutes\n"
        "ans = per_minute * 50",
    ),
    Example(
        "Betty is saving money for a new wallet which costs $100. Betty has only half of the money she needs. "
        "Her parents decided to give her $15 for that purpose, and her grandparents twice as much as her parents. "
        "How much more money does Betty need to buy the wallet?",
        "Betty has 100 / 2 = $50. Her grandparents give her 15 * 2 = $30. So she still needs "
        "100 - 50 - 15 - 30 = $5. The answer is 5.",
        "wallet_cost = 100\nsavings = wallet_cost / 2\nfrom_parents = 15\nfrom_grandparents = 2 * from_parents\n"
        "ans = wallet_cost - savings - from_parents - from_grandparents",
        "% Let x be the money Betty still needs\nneeded = x\n% the wallet costs $100 and she has half of it\n"
        "savings = 100 / 2\n% her parents give $15 and her grandparents twice as much\nparents = 15\n"
        "grandparents = 2 * parents\n% everything together pays for the wallet\n"
        "savings + parents + grandparents + needed = 100\nans = needed",
    ),
    Example(
        "Julie is reading a 120-page book. Yesterday, she was able to read 12 pages and today, she read twice "
        "as many pages as yesterday. If she wants to read half of the remaining pages tomorrow, how many pages "
        "should she read?",
        "Today she read 12 * 2 = 24 pages, so she has read 12 + 24 = 36 pages. There are 120 - 36 = 84 pages "
        "left, and half of them is 84 / 2 = 42. The answer is 42.",
        "book_pages = 120\nyesterday = 12\ntoday = 2 * yesterday\nremaining = book_pages - yesterday - today\n"
        "ans = remaining / 2",
        "% she read 12 pages yesterday and twice as many today\nyesterday = 12\ntoday = 2 * yesterday\n"
        "% pages left of the 120-page book\nremaining = 120 - yesterday - today\n% half of them tomorrow\n"
        "ans = remaining / 2",
    ),
    Example(
        "James writes a 3-page letter to 2 different friends twice a week. How many pages does he write a year?",
        "Each time he writes 3 * 2 = 6 pages. Twice a week makes 6 * 2 = 12 pages a week, and a year has 52 "
        "weeks, so 12 * 52 = 624 pages. The answer is 624.",
        "pages_per_letter = 3\nfriends = 2\ntimes_per_week = 2\nweeks_per_year = 52\n"
        "ans = pages_per_letter * friends * times_per_week * weeks_per_year",
        "% pages each time he writes\npages_each_time = 3 * 2\n% twice a week\npages_per_week = pages_each_time * 2\n"
        "% 52 weeks in a year\nans = pages_per_week * 52",
    ),
    Example(
        "Mark has a garden with flowers. He planted plants of three different colors in it. Ten of them are "
        "yellow, and there are 80% more of those in purple. There are only 25% as many green flowers as there "
        "are yellow and purple flowers. How many flowers does Mark have in his garden?",
        "There are 10 * 80 / 100 = 8 more purple flowers than yellow, so 10 + 8 = 18 purple. Yellow and purple "
        "make 10 + 18 = 28, and green is 28 * 25 / 100 = 7. In total 28 + 7 = 35. The answer is 35.",
        "yellow = 10\npurple = yellow + yellow * 80 / 100\ngreen = (yellow + purple) * 25 / 100\n"
        "ans = yellow + purple + green",
        "% ten yellow flowers\nyellow = 10\n% 80% more purple than yellow\npurple = yellow * (1 + 80 / 100)\n"
        "% green is 25% of yellow and purple together\ngreen = 25 / 100 * (yellow + purple)\n"
        "ans = yellow + purple + green",
    ),
    Example(
        "Albert is wondering how much pizza he can eat in one day. He buys 2 large pizzas and 2 small pizzas. "
        "A large pizza has 16 slices and a small pizza has 8 slices. If he eats it all, how many pieces does "
        "he eat that day?",
        "The large pizzas have 2 * 16 = 32 slices and the small ones 2 * 8 = 16 slices, so he eats "
        "32 + 16 = 48 pieces. The answer is 48.",
        "large_slices = 2 * 16\nsmall_slices = 2 * 8\nans = large_slices + small_slices",
        "% two large pizzas of 16 slices\nlarge = 2 * 16\n% two small pizzas of 8 slices\nsmall = 2 * 8\n"
        "ans = large + small",
    ),
    Example(
        "Ken created a care package to send to his brother, who was away at boarding school. Ken placed a box "
        "on a scale, and then he poured into the box enough jelly beans to bring the weight to 2 pounds. Then, "
        "he added enough brownies to cause the weight to triple. Next, he added another 2 pounds of jelly "
        "beans. And finally, he added enough gummy worms to double the weight once again. What was the final "
        "weight of the box of goodies, in pounds?",
        "The brownies triple 2 pounds to 2 * 3 = 6 pounds. Two more pounds of jelly beans make 6 + 2 = 8 "
        "pounds, and the gummy worms double it to 8 * 2 = 16 pounds. The answer is 16.",
        "weight = 2\nweight = weight * 3\nweight = weight + 2\nweight = weight * 2\nans = weight",
        "% jelly beans bring the box to 2 pounds\nstart = 2\n% brownies triple the weight\n"
        "with_brownies = start * 3\n% 2 more pounds of jelly beans\nwith_beans = with_brownies + 2\n"
        "% gummy worms double it\nans = with_beans * 2",
    ),
)


def completion_prompt(question: str, thought_type: str) -> str:
    shots = "".join(f"{student_input(e.question, thought_type)}{getattr(e, thought_type)}\n\n" for e in EXAMPLES)
    return f"{INSTRUCTIONS[thought_type]}\n\n{shots}{student_input(question, thought_type)}"


def chat_prompt(question: str, thought_type: str) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": INSTRUCTIONS[thought_type]}]
    for example in EXAMPLES:
        messages.append({"role": "user", "content": student_input(example.question, thought_type)})
        messages.append({"role": "assistant", "content": getattr(example, thought_type)})
    messages.append({"role": "user", "content": student_input(question, thought_type)})
    return messages


def prompt_hash() -> str:
    """SHA-256 over everything that shapes the prompts."""
    material = {"version": PROMPT_VERSION, "triggers": TRIGGERS, "instructions": INSTRUCTIONS,
                "examples": [e.__dict__ for e in EXAMPLES], "stop": list(STOP)}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
