"""Loader for the public CLUTRR kinship data (Sinha et al., EMNLP 2019, arXiv:1908.06177).

One task, ``clutrr``, reads one released data set: a folder such as
``data_db9b8f04`` that holds one ``*_train.csv`` and several ``<task>_test.csv``
files. CLUTRR names its tasks ``<noise>.<chain length>``: ``1.5`` is a clean story
whose query needs a chain of 5 relations. Knobs:

- ``dataset``: the folder name, ``data_db9b8f04`` by default (train on chains of
  2-4, test on 2-10);
- ``clutrr_task``: a task such as ``"1.5"``, or None for every task. The test split
  reads ``<clutrr_task>_test.csv`` (every test file when None). The train and valid
  splits read the train file and keep the rows whose ``task_name`` is
  ``task_<clutrr_task>``;
- ``drop_worded_against``: True by default. The train and valid splits leave out rows
  with a sentence that states a gold edge the other way round (see
  ``meta["worded_against"]`` below). Test splits always keep every row.

The eval splits ``test_2`` ... ``test_10`` read ``1.2_test.csv`` ... ``1.10_test.csv``.
CLUTRR ships no validation file, so ``valid`` is 10% of the training rows, drawn
reproducibly from the seed, and ``train`` is the rest.

Each CSV row becomes one example. Names lose their brackets, CLUTRR's ``''s`` becomes
``'s``, and the story is split into sentences whose times are their positions. The
question is "how is B related to A ?" for ``query`` ``('A', 'B')``, and the answer is
``target`` (B is A's target). ``facts`` are the row's gold edges: ``story_edges``
pairs of indices into the names of ``genders`` (in the column's order) with the
relations of ``edge_types``, each timed by the first sentence that names both people
(or that names one when the sentence before names the other). An edge is turned
around when its sentence words the inverse relation ("Wayne took his daughter
Lorraine" states (Wayne, daughter, Lorraine), not (Lorraine, father, Wayne)). The gold
program states those facts with ``with-facts``, then each person's gender from the
``genders`` column as ``(fact NAME gender male)``, and ends with the query ``(relation
A B)``, like ``relational.kinship``. CLUTRR's rule table reproduces most targets but not all,
because some stories contain cycles or compositions the rules resolve differently,
so ``program`` is None where running it does not give ``target``, and
``meta["program_agrees"]`` records which rows those are.

Some crowd-written templates swap their two people, mostly when both have the same
gender: a row whose edge states that Hugh's son is Brandon may read "Brandon took his
son Hugh out". ``meta["worded_against"]`` counts such facts
(:func:`neurosym.tasks.kinship.worded_against`), and ``meta["text_agrees"]`` says
whether the program still gives ``target`` with those facts read as the sentences
word them. A model that reads the text as written misses the rows where it does not.
The check finds swaps in two wordings ("X's son", "son (named) X"), so the share
of such rows is a lower estimate. The first row of
``1.2_test.csv``::

       0  Clarence's granddaughter, Emily, was busy helping her brother, Michael, move to college.
       Q  how is Michael related to Clarence ?
       A  grandson
       P  (with-facts (fact Clarence granddaughter Emily) (fact Emily brother Michael)
           (fact Clarence gender male) (fact Emily gender female) (fact Michael gender male)
           (relation Clarence Michael))
"""

from __future__ import annotations

import ast
import csv
import functools
import random
import re
from pathlib import Path
from typing import Any, NamedTuple

from neurosym.errors import DataError, TaskError
from neurosym.symbolic import ProgramError, execute
from neurosym.tasks.example import Example, Fact, Sentence
from neurosym.tasks.kinship import as_worded, kinship_question, worded_against
from neurosym.tasks.programs import atom, facts_program
from neurosym.tasks.registry import Task, register_task, resolve_data_dir

REQUIRED_COLUMNS = ("story", "query", "target", "story_edges", "edge_types", "genders", "task_name")
VALID_FRACTION = 0.1
DEFAULT_DATASET = "data_db9b8f04"
GENDERS = ("male", "female")

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
_DOUBLED_QUOTE = re.compile(r"\s*''s\b")
_CSV_FIELD_LIMIT = 1 << 24  # story fields exceed csv's default of 131,072 characters


def read_clutrr_csv(path: Path) -> list[Example]:
    """Parse one CLUTRR CSV file; a missing column or bad row raises DataError naming it.

    Parsed files are cached by path, size and modification time (the train file takes
    seconds to parse), and every call returns fresh copies of the examples.
    """
    try:
        status = path.stat()
    except OSError as exc:
        raise DataError(f"cannot read CLUTRR file {path}: {exc.strerror}") from exc
    parsed = _read_cached(str(path.resolve()), status.st_size, status.st_mtime_ns)
    return [_copy(example) for example in parsed]


def _copy(example: Example) -> Example:
    return Example(
        context=list(example.context),
        question=example.question,
        answer=example.answer,
        program=example.program,
        facts=list(example.facts),
        entities=list(example.entities),
        meta={**example.meta, "genders": dict(example.meta["genders"])},
    )


@functools.lru_cache(maxsize=16)
def _read_cached(path_text: str, size: int, mtime_ns: int) -> tuple[Example, ...]:
    # size and mtime_ns are part of the cache key, so an edited file is parsed again.
    return tuple(_read_file(Path(path_text)))


def _read_file(path: Path) -> list[Example]:
    csv.field_size_limit(max(csv.field_size_limit(), _CSV_FIELD_LIMIT))
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise DataError(f"cannot read CLUTRR file {path}: {exc.strerror}") from exc
    examples = []
    with handle:
        reader = csv.DictReader(handle)
        missing = [column for column in REQUIRED_COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise DataError(
                f"CLUTRR file {path} lacks column(s) {', '.join(missing)}; a CLUTRR CSV has the "
                f"columns {', '.join(REQUIRED_COLUMNS)} (among others). Point --data-dir at the "
                "unmodified CLUTRR release"
            )
        try:
            for row_number, row in enumerate(reader, start=1):
                try:
                    examples.append(_row_example(row))
                except (ValueError, SyntaxError, TypeError, KeyError, IndexError) as exc:
                    raise DataError(
                        f"CLUTRR file {path}, row {row_number} (line {reader.line_num}): {exc}. "
                        "Fix or delete that row, or restore the file from the CLUTRR release"
                    ) from exc
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataError(
                f"CLUTRR file {path} is not valid CSV near line {reader.line_num}: {exc}; "
                "restore the file from the CLUTRR release"
            ) from exc
    for index, example in enumerate(examples):
        example.meta["file"] = path.name
        example.meta["row"] = index + 1
    return examples


def _row_example(row: dict[str, str]) -> Example:
    genders = _parse_genders(row["genders"])
    names = list(genders)
    source, target = _parse_pair(row["query"], "query", str)
    for name in (source, target):
        if name not in genders:
            raise ValueError(f"query name {name!r} is not in genders ({', '.join(names)})")
    edges = ast.literal_eval(row["story_edges"])
    relations = ast.literal_eval(row["edge_types"])
    if not isinstance(edges, list) or not isinstance(relations, list) or not relations:
        raise ValueError("story_edges and edge_types must be non-empty lists")
    if len(edges) < len(relations):
        raise ValueError(f"story_edges has {len(edges)} edges but edge_types has {len(relations)} relations")

    sentences = [_clean(text) for text in _SENTENCE_END.split(row["story"].strip()) if text.strip()]
    context = [Sentence(text, time) for time, text in enumerate(sentences)]
    raw_sentences = _SENTENCE_END.split(row["story"].strip())

    facts = []
    # Some rows list more story edges than edge types; the extra edges carry no relation.
    for index, (edge, relation) in enumerate(zip(edges, relations, strict=False)):
        first, second = _parse_pair(edge, "story_edges", int)
        if not (0 <= first < len(names) and 0 <= second < len(names)):
            raise IndexError(f"story edge {edge} names person {max(first, second)}, but genders lists {len(names)}")
        if not isinstance(relation, str):
            raise ValueError(f"edge_types entry {relation!r} is not a relation name")
        subject, obj = names[first], names[second]
        time = _sentence_time(raw_sentences, subject, obj, index)
        # The sentence before may word the relation only when this one lacks one of the two
        # people ("Kim went out with her son. His name is Tom.").
        names_both = all(_mentions(context[time].text, name) for name in (subject, obj))
        previous = context[time - 1].text if time > 0 and not names_both else ""
        facts.append(as_worded(Fact(subject, relation, obj, time), context[time].text, genders, previous))
    facts.sort(key=lambda fact: fact.time)
    # The genders column states everyone's gender; a fact such as (Wayne, daughter,
    # Lorraine) genders only Lorraine, so the program states the rest.
    stated = [Fact(name, "gender", gender, 0) for name, gender in genders.items()]
    query = f"(relation {atom(source)} {atom(target)})"
    program = facts_program([*facts, *stated], query)
    agrees = _gives(program, row["target"])
    # Facts whose sentence states them the other way round (a template with swapped
    # placeholders), and whether reading those sentences as written still gives the target.
    against = [fact for fact in facts if worded_against(fact, context[fact.time].text, genders)]
    as_read = [Fact(f.object, f.relation, f.subject, f.time) if f in against else f for f in facts]
    text_agrees = _gives(facts_program([*as_read, *stated], query), row["target"]) if against else agrees
    return Example(
        context=context,
        question=kinship_question(source, target),
        answer=row["target"],
        program=program if agrees else None,
        facts=facts,
        entities=names,
        meta={
            "clutrr_task": row["task_name"].removeprefix("task_"),
            "chain_length": len(relations),
            "program_agrees": agrees,
            "worded_against": len(against),
            "text_agrees": text_agrees,
            "genders": genders,
            "id": row.get("id", ""),
        },
    )


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text) is not None


def _gives(program: str, target: str) -> bool:
    try:
        return execute(program, record_trace=False).answer == target
    except ProgramError:
        return False


def _parse_genders(text: str) -> dict[str, str]:
    genders: dict[str, str] = {}
    for item in text.split(","):
        name, _, gender = item.strip().partition(":")
        if not name or gender not in GENDERS:
            raise ValueError(f"genders entry {item!r} is not NAME:male or NAME:female")
        genders[name] = gender
    return genders


def _parse_pair(value: Any, column: str, kind: type) -> tuple[Any, Any]:
    pair = ast.literal_eval(value) if isinstance(value, str) else value
    if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(item, kind) for item in pair)):
        raise ValueError(f"{column} entry {value!r} is not a pair of {kind.__name__} values")
    return pair


def _clean(text: str) -> str:
    return " ".join(_DOUBLED_QUOTE.sub("'s", text.replace("[", "").replace("]", "")).split())


def _sentence_time(sentences: list[str], subject: str, obj: str, fallback: int) -> int:
    """Time a fact by the first sentence that names both people.

    Failing that, by the first sentence that names one of them while it and the
    sentence before it name both ("Ross went out with his brother. His name is
    Michael."), and failing that by the edge's position.
    """
    # CLUTRR brackets every name, so "[Bob]" cannot match inside "[Bobby]".
    names = (f"[{subject}]", f"[{obj}]")
    for time, text in enumerate(sentences):
        if all(name in text for name in names):
            return time
    for time in range(1, len(sentences)):
        pair = sentences[time - 1] + " " + sentences[time]
        if any(name in sentences[time] for name in names) and all(name in pair for name in names):
            return time
    return min(fallback, len(sentences) - 1)


class FileAudit(NamedTuple):
    """How far the gold edges and the text of one CLUTRR file let program mode go."""

    file: str
    rows: int
    program_agrees: int  # rows whose gold program gives the target
    worded_against: int  # rows with a sentence that states a gold edge the other way round
    text_agrees: int  # rows whose program, with those facts read as written, gives the target


def audit(folder: str | Path) -> list[FileAudit]:
    """Count, per CSV file of a CLUTRR data set folder, the rows a reader can get right.

    ``program_agrees`` bounds a model that reads every gold edge right, and
    ``text_agrees`` bounds a model that reads every sentence as it is worded.
    """
    folder = Path(folder)
    paths = [ClutrrTask.find_train_file(folder), *ClutrrTask.find_test_files(folder, None)]
    audits = []
    for path in paths:
        rows = read_clutrr_csv(path)
        audits.append(FileAudit(
            path.name, len(rows), sum(row.meta["program_agrees"] for row in rows),
            sum(row.meta["worded_against"] > 0 for row in rows), sum(row.meta["text_agrees"] for row in rows),
        ))
    return audits


def _natural_key(path: Path) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


@register_task("clutrr")
class ClutrrTask(Task):
    """CLUTRR kinship stories from the public CSV files."""

    description = "CLUTRR kinship stories (public data): train on chains of 2-4, test on 2-10"
    needs_data = True
    reads_by_sentence = True
    difficulty = {"dataset": DEFAULT_DATASET, "clutrr_task": None, "drop_worded_against": True}
    eval_splits = {
        "test": ("test", {}),
        **{f"test_{length}": ("test", {"clutrr_task": f"1.{length}"}) for length in range(2, 11)},
    }

    def _examples(self, split, n, seed, data_dir, knobs):  # noqa: ANN001 - see Task
        if not isinstance(knobs["drop_worded_against"], bool):
            raise TaskError(f"drop_worded_against={knobs['drop_worded_against']!r} is invalid; use true or false")
        folder = self.find_dataset(resolve_data_dir(data_dir, self.name), knobs["dataset"])
        clutrr_task = knobs["clutrr_task"]
        if clutrr_task is not None and not (isinstance(clutrr_task, str) and re.fullmatch(r"\d+\.\d+", clutrr_task)):
            raise TaskError(f"clutrr_task={clutrr_task!r} must be a CLUTRR task such as '1.5', or None")
        if split == "test":
            return [example for path in self.find_test_files(folder, clutrr_task) for example in read_clutrr_csv(path)]
        train_file = self.find_train_file(folder)
        rows = read_clutrr_csv(train_file)
        if clutrr_task is not None:
            rows = [example for example in rows if example.meta["clutrr_task"] == clutrr_task]
            if not rows:
                raise TaskError(f"{train_file} has no rows of task {clutrr_task}; choose a task it trains on")
        rows = self._carve(rows, split, seed)
        if knobs["drop_worded_against"]:
            # A reader should not learn to read a sentence against its words. Rows are
            # left out after the split is drawn, so valid is the same rows either way.
            rows = [example for example in rows if not example.meta["worded_against"]]
        return rows

    @staticmethod
    def find_dataset(root: Path, dataset: str) -> Path:
        """Return the folder of ``dataset`` under ``root`` (or ``root`` itself when it is that folder)."""
        candidates = [root / dataset, root / "clutrr" / dataset]
        if root.name == dataset:
            candidates.insert(0, root)
        for folder in candidates:
            if folder.is_dir():
                return folder
        searched = ", ".join(str(folder) for folder in candidates)
        raise DataError(
            f"CLUTRR data set {dataset!r} not found (searched {searched}); point --data-dir at the "
            "folder that holds the CLUTRR data_* folders, or set the dataset knob"
        )

    @staticmethod
    def find_train_file(folder: Path) -> Path:
        """Return the one ``*_train.csv`` file of a data set folder."""
        found = sorted(folder.glob("*_train.csv"))
        if len(found) != 1:
            raise DataError(
                f"expected one *_train.csv file in {folder}, found {len(found)}; "
                "restore the folder from the CLUTRR release"
            )
        return found[0]

    @staticmethod
    def find_test_files(folder: Path, clutrr_task: str | None) -> list[Path]:
        """Return the test file of ``clutrr_task``, or every test file when it is None."""
        if clutrr_task is None:
            found = sorted(folder.glob("*_test.csv"), key=_natural_key)
            if not found:
                raise DataError(f"no *_test.csv files in {folder}; restore the folder from the CLUTRR release")
            return found
        path = folder / f"{clutrr_task}_test.csv"
        if not path.is_file():
            available = ", ".join(p.name.removesuffix("_test.csv") for p in sorted(folder.glob("*_test.csv"), key=_natural_key))
            raise DataError(f"CLUTRR test file {path} not found; tasks with test files here: {available or 'none'}")
        return [path]

    @staticmethod
    def _carve(rows: list[Example], split: str, seed: int) -> list[Example]:
        order = list(range(len(rows)))
        random.Random(seed).shuffle(order)
        n_valid = max(1, int(len(rows) * VALID_FRACTION))
        chosen = set(order[:n_valid]) if split == "valid" else set(order[n_valid:])
        return [row for index, row in enumerate(rows) if index in chosen]
