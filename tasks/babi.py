"""Loader for the public bAbI QA tasks v1.2 (Weston et al. 2015, arXiv:1502.05698).

File format: each line is ``ID text``. IDs restart at 1 when a new story begins.
A question line is ``ID question<TAB>answer<TAB>supporting ids``; every earlier
statement of its story (not earlier questions) is its context, and a statement's
ID is its logical time. List answers (task 8) are comma-joined in the file's order.

The user gives the directory that holds ``qa*_train.txt`` and ``qa*_test.txt``, or
a folder above it holding ``en``/``en-10k`` (for example the official archive's
``tasks_1-20_v1-2``). bAbI ships train and test only, so a validation split of 10%
of the training stories is carved out reproducibly from the seed.
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass
from pathlib import Path

from neurosym.errors import DataError, TaskError
from neurosym.tasks.babi_programs import question_query, story_facts
from neurosym.tasks.example import Example, Fact, Sentence
from neurosym.tasks.programs import fact_form
from neurosym.tasks.registry import Task, register_factory, resolve_data_dir

logger = logging.getLogger(__name__)

TASK_FILE_STEMS: dict[int, str] = {
    1: "qa1_single-supporting-fact",
    2: "qa2_two-supporting-facts",
    3: "qa3_three-supporting-facts",
    4: "qa4_two-arg-relations",
    5: "qa5_three-arg-relations",
    6: "qa6_yes-no-questions",
    7: "qa7_counting",
    8: "qa8_lists-sets",
    9: "qa9_simple-negation",
    10: "qa10_indefinite-knowledge",
    11: "qa11_basic-coreference",
    12: "qa12_conjunction",
    13: "qa13_compound-coreference",
    14: "qa14_time-reasoning",
    15: "qa15_basic-deduction",
    16: "qa16_basic-induction",
    17: "qa17_positional-reasoning",
    18: "qa18_size-reasoning",
    19: "qa19_path-finding",
    20: "qa20_agents-motivations",
}
VARIANTS = ("en-10k", "en")
VALID_FRACTION = 0.1

_LINE = re.compile(r"^(\d+) (.*)$")
_MOVE = re.compile(
    r"^(\w+) (?:moved|went|journeyed|travelled|went back) to the (\w+)\.$"
)
_NOT_ENTITY = {"The", "Where", "What", "Who", "Is", "How", "Why", "Afterwards", "Then",
               "Following", "After", "Before", "Yesterday", "This", "In", "If", "Each", "Does",
               "He", "She", "They", "Sheep", "Mice", "Wolves", "Cats"}


@dataclass
class BabiStory:
    """One story of a bAbI file and the questions asked about it."""

    examples: list[Example]


def parse_babi_file(path: Path, task_name: str = "babi") -> list[BabiStory]:
    """Parse one bAbI file into stories; a malformed line raises DataError naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read bAbI file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"bAbI file {path} is not UTF-8 text: {exc}") from exc

    stories: list[BabiStory] = []
    statements: list[Sentence] = []
    previous_id = 0
    for line_number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        match = _LINE.match(raw.strip("\n"))
        if match is None:
            raise DataError(f"{path}:{line_number}: expected 'ID text', got {raw[:60]!r}")
        line_id = int(match.group(1))
        body = match.group(2)
        if line_id <= previous_id or not stories:
            if line_id != 1:
                raise DataError(f"{path}:{line_number}: a new story must start at ID 1, got {line_id}")
            stories.append(BabiStory(examples=[]))
            statements = []
        previous_id = line_id
        if "\t" in body:
            fields = body.split("\t")
            if len(fields) < 2:
                raise DataError(f"{path}:{line_number}: question line lacks a tab-separated answer")
            question = fields[0].strip()
            answer = fields[1].strip()
            supporting = [int(tok) for tok in fields[2].split()] if len(fields) > 2 else []
            example = _make_example(statements, question, answer, supporting, task_name)
            example.meta["story"] = len(stories) - 1
            stories[-1].examples.append(example)
        else:
            statements.append(Sentence(body.strip(), line_id))
    return stories


def _make_example(
    statements: list[Sentence], question: str, answer: str, supporting: list[int], task_name: str
) -> Example:
    context = list(statements)
    entities: list[str] = []
    for sentence in [*context, Sentence(question, 0)]:
        for word in re.findall(r"\b[A-Z][a-z]+\b", sentence.text):
            if word not in _NOT_ENTITY and word not in entities:
                entities.append(word)
    # qa15 and qa20 write names in lower case in their questions ("Where will sumit go?").
    question = " ".join(word.capitalize() if word.capitalize() in entities else word for word in question.split(" "))
    facts, program = _gold_program(context, question, entities)
    return Example(
        context=context,
        question=question,
        answer=answer,
        facts=facts,
        entities=entities,
        program=program,
        meta={"task": task_name, "supporting": supporting},
    )


def _gold_program(context: list[Sentence], question: str, entities: list[str]) -> tuple[list[Fact], str | None]:
    """Return the story's facts and its gold program (see :mod:`neurosym.tasks.babi_programs`).

    A story or question that the patterns do not cover keeps only the facts of its
    moves ("Mary went to the kitchen.") and no program.
    """
    grouped = story_facts([sentence.text for sentence in context], entities)
    query = question_query(question)
    if grouped is None or query is None:
        facts = []
        for sentence in context:
            move = _MOVE.match(sentence.text)
            if move:
                facts.append(Fact(move.group(1), "location", move.group(2), sentence.time))
        return facts, None
    facts = [Fact(*triple, sentence.time) for sentence, triples in zip(context, grouped, strict=True)
             for triple in triples]
    if not facts:
        return facts, None
    return facts, f"(with-facts {' '.join(fact_form(fact, with_time=True) for fact in facts)} {query})"


class BabiTask(Task):
    """One of the 20 bAbI QA tasks, loaded from the public files."""

    needs_data = True
    reads_by_sentence = True  # program mode: see neurosym.tasks.babi_programs
    difficulty = {"variant": "en-10k"}

    def __init__(self, number: int) -> None:
        super().__init__()
        self.number = number
        self.name = f"babi.qa{number}"
        self.description = f"bAbI task {number}: {TASK_FILE_STEMS[number].split('_', 1)[1]} (public data)"

    def _examples(self, split, n, seed, data_dir, knobs):  # noqa: ANN001 - see Task
        variant = knobs["variant"]
        if variant not in VARIANTS:
            raise TaskError(f"unknown bAbI variant {variant!r}; valid: {', '.join(VARIANTS)}")
        file_split = "test" if split == "test" else "train"
        path = self.find_file(resolve_data_dir(data_dir, self.name), variant, file_split)
        stories = parse_babi_file(path, self.name)
        if not any(story.examples for story in stories):
            raise DataError(f"bAbI file {path} holds no questions (lines 'ID question<TAB>answer<TAB>ids'); "
                            "is it a complete bAbI v1.2 file?")
        if split != "test":
            stories = self._carve(stories, split, seed)
        examples = [example for story in stories for example in story.examples]
        for example in examples:
            example.meta["variant"] = variant
        unmatched = sum(example.program is None for example in examples)
        if unmatched:
            logger.info("%s %s: %d of %d questions have no gold program (no pattern matched)",
                        self.name, split, unmatched, len(examples))
        return examples

    def find_file(self, root: Path, variant: str, file_split: str) -> Path:
        """Locate the task file under ``root``; fall back to the 1k train file if 10k lacks it."""
        name = f"{TASK_FILE_STEMS[self.number]}_{file_split}.txt"
        candidates = _candidate_dirs(root, variant)
        for folder in candidates:
            if (folder / name).is_file():
                return folder / name
        if variant == "en-10k" and file_split == "train":
            for folder in _candidate_dirs(root, "en"):
                if (folder / name).is_file():
                    note = f"{self.name}: en-10k has no {name}; trained on the 1k file {folder / name}"
                    if note not in self.notes:
                        self.notes.append(note)
                        logger.warning(note)
                    return folder / name
        searched = ", ".join(str(folder) for folder in candidates)
        raise DataError(
            f"bAbI file {name} not found (searched {searched}); point --data-dir at the folder "
            "holding the qa*_train.txt files, or run `neurosym data fetch babi`"
        )

    @staticmethod
    def _carve(stories: list[BabiStory], split: str, seed: int) -> list[BabiStory]:
        order = list(range(len(stories)))
        random.Random(seed).shuffle(order)
        n_valid = max(1, int(len(stories) * VALID_FRACTION))
        chosen = set(order[:n_valid]) if split == "valid" else set(order[n_valid:])
        return [story for index, story in enumerate(stories) if index in chosen]


def _candidate_dirs(root: Path, variant: str) -> list[Path]:
    dirs = [root, root / variant, root / "babi" / variant, root / "tasks_1-20_v1-2" / variant,
            root / "babi" / "tasks_1-20_v1-2" / variant]
    return [folder for folder in dirs if folder.is_dir()]


def _factory(number: int):  # noqa: ANN202 - a closure per task number
    return lambda: BabiTask(number)


for _number in TASK_FILE_STEMS:
    register_factory(f"babi.qa{_number}", _factory(_number))

