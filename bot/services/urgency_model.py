"""A small learned reader beside the urgency rules: how likely a text is to report an event that needs an alert.

Character n-grams (2-5, within words) of the text as the rules read it (Kazakh in Latin letters turned Cyrillic,
Kazakh letters folded to the Russian ones people type instead, lookalike Latin letters fixed), plus words and word
pairs of its dictionary forms, into a logistic regression with balanced classes. It is trained on the labelled
texts shipped in bot/data/urgency/corpus/ (the development sets and texts written from the label policy), on
first use, in well under two seconds, deterministically, with nothing downloaded. It never decides alone: the
rules propose, and `combine` in bot/services/urgency/policy.py lets the model veto or catch only when it is confident,
naming the words that weighed most.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CORPUS_DIRECTORY = Path(__file__).resolve().parents[1] / "data" / "urgency" / "corpus"
# A text to its tokens (urgency.tokenize): each with .norm, .lemma, .clause, .start and .end.
Tokenizer = Callable[[str], list[Any]]
_ALERT_LEVELS = frozenset({"critical", "high"})
_SHOWN = 3
# Words too common to be worth showing an officer as a reason (they still count in the model).
_NOT_SHOWN = frozenset(
    "the a an and is was were are to of in on for with that this it my our we they he she you not no did do does "
    "have has had at by from but them their would could i me us his her its "
    "что как все всё вас нас мне она он они это так там тут его ее её их был была были быть и в на с по за к у "
    "мен сен ол біз сіз олар деп және бұл осы сол да де ма ме оны оған маган маған бизге бізге".split()
)


@dataclass(frozen=True)
class Example:
    text: str
    alert: bool
    language: str = ""
    source: str = ""


@dataclass(frozen=True)
class Reading:
    """The model's view of one text: the probability of an alert and the written words that pushed it most
    towards an alert (`for_alert`) and away from one (`against_alert`), strongest first."""

    probability: float
    for_alert: tuple[str, ...]
    against_alert: tuple[str, ...]
    words: int = 0  # how many words it read (0: not told)


def read_corpus(paths: Iterable[Path | str]) -> list[Example]:
    """Labelled JSON lines ("text", "expected", optional "language"); a bad line raises ValueError naming it."""
    examples = []
    for path in paths:
        path = Path(path)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                text, expected = data["text"], data["expected"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}: line {number}: {exc}") from None
            examples.append(Example(text, expected in _ALERT_LEVELS, data.get("language") or "", path.stem))
    return examples


def corpus_paths(directory: Path | str | None = None) -> list[Path]:
    return sorted(Path(directory or CORPUS_DIRECTORY).glob("*.jsonl"))


# Negation words: the words after them in the same clause (Russian, English), or before them (Kazakh "жоқ",
# "емес"), are read as negated ("¬" before their dictionary form), so "no bedsores" is not "bedsores".
_NEGATES_AFTER = frozenset("не нет ни никто ничего никогда без no not never nobody nothing without didn dont "
                           "don doesn isn wasn weren won cannot".split())
_NEGATES_BEFORE = frozenset("жок жоқ емес емас".split())
# A Kazakh negative verb ("қалдырмады", did not leave; "бермейді", does not give) negates the words before it too.
_KAZAKH_NEGATIVE_VERB = re.compile(
    r"..(ма|ме|ба|бе|па|пе)(ды|ди|дым|дим|дык|дик|ган|ген|кан|кен|йды|йди|йтын|йтин|с|й)$"
)


_KAZAKH_DEEP_FOLD = str.maketrans("әіңғүұқөһы", "аингуукохи")  # as urgency.fold_kazakh_deep


def fold_kazakh_deep(word: str) -> str:
    return word.translate(_KAZAKH_DEEP_FOLD)


def _words(text: str, tokenize: Tokenizer) -> list[tuple[str, str, str]]:
    """(as written, folded form, folded dictionary form, "¬" before it when negated) of each word."""
    tokens = tokenize(text)
    negated = [False] * len(tokens)
    for index, token in enumerate(tokens):
        if token.norm in _NEGATES_AFTER:
            for later in range(index + 1, len(tokens)):
                if tokens[later].clause != token.clause:
                    break
                negated[later] = True
        elif token.norm in _NEGATES_BEFORE or _KAZAKH_NEGATIVE_VERB.search(fold_kazakh_deep(token.norm)):
            for earlier in range(index - 1, -1, -1):
                if tokens[earlier].clause != token.clause:
                    break
                negated[earlier] = True
    return [(text[token.start:token.end], fold_kazakh_deep(token.norm),
             ("¬" if negated[index] else "") + fold_kazakh_deep(token.lemma or token.norm))
            for index, token in enumerate(tokens)]


def _documents(words: Sequence[tuple[str, str, str]]) -> tuple[str, str]:
    return " ".join(folded for _, folded, _ in words), " ".join(lemma for _, _, lemma in words)


class UrgencyModel:
    """Trained once (`train`), then `read` is pure and thread-safe. `tokenize` is `urgency.tokenize`: the model
    reads words as the rules do (passed in, so this module does not import the rules)."""

    def __init__(self, examples: Sequence[Example], tokenize: Tokenizer) -> None:
        self._tokenize = tokenize
        import numpy
        from scipy.sparse import hstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        if len({example.alert for example in examples}) < 2:
            raise ValueError("the corpus needs both alerts and non-alerts")
        self._hstack = hstack
        self.chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True,
                                     max_features=60000, dtype=numpy.float64)
        self.lemmas = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), min_df=1, sublinear_tf=True,
                                      token_pattern=r"\S+", dtype=numpy.float64)
        documents = [_documents(_words(example.text, tokenize)) for example in examples]
        features = hstack([self.chars.fit_transform([chars for chars, _ in documents]),
                           self.lemmas.fit_transform([lemmas for _, lemmas in documents])]).tocsr()
        self.classifier = LogisticRegression(C=8.0, class_weight="balanced", solver="liblinear", random_state=0,
                                             max_iter=1000)
        self.classifier.fit(features, [example.alert for example in examples])
        names = [*self.chars.get_feature_names_out(), *self.lemmas.get_feature_names_out()]
        self._char_count = len(self.chars.vocabulary_)
        self._names = names
        self._weights = self.classifier.coef_[0]

    def probability(self, text: str) -> float:
        return self.read(text).probability

    def read(self, text: str) -> Reading:
        words = _words(text, self._tokenize)
        chars, lemmas = _documents(words)
        features = self._hstack([self.chars.transform([chars]), self.lemmas.transform([lemmas])]).tocsr()
        probability = float(self.classifier.predict_proba(features)[0][1])
        # Each feature's pull (value × weight) goes to the written words it comes from.
        pull: dict[int, float] = {}
        for column, value in zip(features.indices, features.data, strict=True):
            contribution = float(value * self._weights[column])
            name = self._names[column]
            if column < self._char_count:
                piece = name.strip()
                owners = [index for index, (_, folded, _) in enumerate(words) if piece and piece in folded]
            else:
                parts = name.split()
                owners = [index for index, (_, _, lemma) in enumerate(words) if lemma in parts]
            for index in owners:
                pull[index] = pull.get(index, 0.0) + contribution / len(owners)
        ranked = sorted(pull.items(), key=lambda item: -item[1])
        return Reading(probability, _shown(words, ranked, positive=True),
                       _shown(words, list(reversed(ranked)), positive=False), len(words))


def _shown(
    words: Sequence[tuple[str, str, str]], ranked: list[tuple[int, float]], *, positive: bool
) -> tuple[str, ...]:
    shown: list[str] = []
    for index, value in ranked:
        if (value > 0) != positive or len(words[index][1]) < 3 or words[index][0].lower() in _NOT_SHOWN:
            continue
        written = f"«{words[index][0]}»"
        if written not in shown:
            shown.append(written)
        if len(shown) == _SHOWN:
            break
    return tuple(shown)


class LazyModel:
    """The model of a corpus directory, trained on first use (in the worker thread that classifies), once."""

    def __init__(self, directory: Path | str | None, tokenize: Tokenizer) -> None:
        self._tokenize = tokenize
        self.directory = Path(directory) if directory is not None else CORPUS_DIRECTORY
        self._model: UrgencyModel | None = None
        self._lock = threading.Lock()

    def available(self) -> bool:
        return bool(corpus_paths(self.directory))

    def get(self) -> UrgencyModel:
        with self._lock:
            if self._model is None:
                paths = corpus_paths(self.directory)
                digest = hashlib.sha256(b"".join(path.read_bytes() for path in paths)).hexdigest()
                with _TRAINED_LOCK:
                    # The same corpus (a copied data directory, a second rules object) is trained once.
                    if digest not in _TRAINED:
                        _TRAINED[digest] = UrgencyModel(read_corpus(paths), self._tokenize)
                    self._model = _TRAINED[digest]
            return self._model


_TRAINED: dict[str, UrgencyModel] = {}
_TRAINED_LOCK = threading.Lock()

