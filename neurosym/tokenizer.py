"""Word-level tokenizer with digits split into single characters.

Digits are split so that a model sees numbers of any length with ten symbols.
Two adjacent numbers (``12 34``) would then decode as one, so the pre-tokenizer
puts the ``<nsep>`` token between numbers separated only by white space; decoding
removes it again. Text is lower-cased by default.

Sequence layout: ``<bos> context <q> question <a> answer <eos>``, with ``<prog>``,
``<exec>``, ``</exec>``, ``<ret>`` and ``<mem>`` reserved for program, tool and
memory modes.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from neurosym.errors import TokenizerError

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
QUESTION, ANSWER, NUMBER_SEP = "<q>", "<a>", "<nsep>"
PROGRAM, EXEC_OPEN, EXEC_CLOSE, MEMORY = "<prog>", "<exec>", "</exec>", "<mem>"
RESULT_END = "<ret>"  # closes a tool result inserted after </exec>
SPECIAL_TOKENS = [PAD, UNK, BOS, EOS, QUESTION, ANSWER, NUMBER_SEP, PROGRAM, EXEC_OPEN, EXEC_CLOSE, MEMORY,
                  RESULT_END]
DIGITS = [str(d) for d in range(10)]

FORMAT_VERSION = 1
# A reference such as $n1, a single digit, a word (hyphenated words such as
# father-in-law or with-facts stay whole, so programs decode back to valid names),
# or one other symbol. Layout tokens such as <q> never come from raw text (it
# yields "<", "q", ">"), so user text cannot forge the sequence layout.
_PIECE = re.compile(r"\$[^\W\d]\w*|\d|[^\W\d]+(?:-[^\W\d]+)*|[^\w\s]")


class Tokenizer:
    """Map text to token ids and back; unknown words become ``<unk>`` and are counted."""

    def __init__(self, vocab: list[str], lowercase: bool = True) -> None:
        missing = [tok for tok in SPECIAL_TOKENS + DIGITS if tok not in vocab]
        if missing:
            raise TokenizerError(f"vocabulary lacks required tokens {missing}; build it with Tokenizer.build")
        if len(set(vocab)) != len(vocab):
            duplicates = sorted(tok for tok, count in Counter(vocab).items() if count > 1)
            raise TokenizerError(f"vocabulary has duplicate tokens {duplicates[:10]}")
        self.vocab = list(vocab)
        self.lowercase = lowercase
        self.token_to_id = {tok: i for i, tok in enumerate(self.vocab)}
        self.unknown_count = 0
        self.unknown_words: Counter[str] = Counter()

    # ids of the layout tokens
    pad_id = property(lambda self: self.token_to_id[PAD])
    unk_id = property(lambda self: self.token_to_id[UNK])
    bos_id = property(lambda self: self.token_to_id[BOS])
    eos_id = property(lambda self: self.token_to_id[EOS])
    question_id = property(lambda self: self.token_to_id[QUESTION])
    answer_id = property(lambda self: self.token_to_id[ANSWER])

    def __len__(self) -> int:
        return len(self.vocab)

    @classmethod
    def build(cls, texts: Iterable[str], min_freq: int = 1, lowercase: bool = True) -> Tokenizer:
        """Build a vocabulary from training texts: special tokens, digits, then words by frequency."""
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(pre_tokenize(text, lowercase))
        fixed = SPECIAL_TOKENS + DIGITS
        words = sorted(
            (w for w, c in counts.items() if c >= min_freq and w not in fixed),
            key=lambda w: (-counts[w], w),
        )
        return cls(fixed + words, lowercase=lowercase)

    def tokenize(self, text: str) -> list[str]:
        return pre_tokenize(text, self.lowercase)

    def encode(self, text: str) -> list[int]:
        """Encode text; each unknown piece maps to ``<unk>`` and increments ``unknown_count``."""
        ids = []
        unk = self.unk_id
        for piece in self.tokenize(text):
            index = self.token_to_id.get(piece)
            if index is None:
                self.unknown_count += 1
                self.unknown_words[piece] += 1
                index = unk
            ids.append(index)
        return ids

    def decode(self, ids: Iterable[int], skip_special: bool = True) -> str:
        """Decode ids to text: pieces joined by spaces, digit runs joined, ``<nsep>`` dropped."""
        out: list[str] = []
        previous_digit = False
        for index in ids:
            index = int(index)
            if not 0 <= index < len(self.vocab):
                raise TokenizerError(f"token id {index} is outside the vocabulary of size {len(self.vocab)}")
            piece = self.vocab[index]
            if piece == NUMBER_SEP:
                previous_digit = False
                continue
            if skip_special and piece in SPECIAL_TOKENS and piece != UNK:
                previous_digit = False
                continue
            is_digit = piece.isdigit()
            if is_digit and previous_digit:
                out[-1] += piece
            else:
                out.append(piece)
            previous_digit = is_digit
        return " ".join(out)

    def count_unknown(self, text: str) -> int:
        return sum(1 for piece in self.tokenize(text) if piece not in self.token_to_id)

    def to_dict(self) -> dict:
        return {"format": "neurosym-word", "version": FORMAT_VERSION, "lowercase": self.lowercase,
                "vocab": self.vocab}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the tokenizer as JSON, atomically."""
        path = Path(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self.to_dict(), handle, ensure_ascii=False)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Tokenizer:
        """Read a tokenizer written by :meth:`save`; a malformed file raises TokenizerError."""
        path = Path(path)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise TokenizerError(f"tokenizer file {path} not found") from exc
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TokenizerError(f"tokenizer file {path} is not valid JSON: {exc}") from exc
        if not isinstance(record, dict) or record.get("format") != "neurosym-word":
            raise TokenizerError(f"{path} is not a neurosym tokenizer file (missing format 'neurosym-word')")
        if record.get("version") != FORMAT_VERSION:
            raise TokenizerError(
                f"{path} has tokenizer format version {record.get('version')!r}; this neurosym reads {FORMAT_VERSION}"
            )
        vocab = record.get("vocab")
        if not isinstance(vocab, list) or not all(isinstance(tok, str) for tok in vocab):
            raise TokenizerError(f"{path}: 'vocab' must be a list of strings")
        return cls(vocab, lowercase=bool(record.get("lowercase", True)))


def pre_tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Split text into pieces; ``<nsep>`` goes between numbers separated by white space."""
    if lowercase:
        text = text.lower()
    pieces: list[str] = []
    last_end = 0
    for match in _PIECE.finditer(text):
        piece = match.group(0)
        if piece.isdigit() and pieces and pieces[-1].isdigit() and match.start() > last_end:
            pieces.append(NUMBER_SEP)
        pieces.append(piece)
        last_end = match.end()
    return pieces


def canonical_text(text: str, lowercase: bool = True) -> str:
    """Return the text that ``decode(encode(text))`` yields for an all-known vocabulary."""
    out: list[str] = []
    previous_digit = False
    for piece in pre_tokenize(text, lowercase):
        if piece == NUMBER_SEP:
            previous_digit = False
            continue
        if piece.isdigit() and previous_digit:
            out[-1] += piece
        else:
            out.append(piece)
        previous_digit = piece.isdigit()
    return " ".join(out)
