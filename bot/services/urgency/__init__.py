"""Urgency of a review (critical, high, normal) from its category, rating and words, with reasons a person can read.

The parts, each importing only those before it: `common` (levels, verdicts), `tokens` (how a text is read),
`lexicon` (the editable data files), `matching` (where a term occurs, local negation), `scope` (whether a match
reports an event here and now), `policy` (how the learned model may overrule the rules), `reasons` (plain words),
`rules` (UrgencyRules.classify), `evaluation` (figures and the command line). Callers import from here.
"""

from bot.services.urgency.common import (
    CATEGORIES,
    DEFAULT_DIRECTORY,
    KINDS,
    LANGUAGES,
    LEVELS,
    POSITIVE,
    Finding,
    RulesError,
    Verdict,
)
from bot.services.urgency.evaluation import (
    EvaluationFileError,
    evaluate,
    format_evaluation,
    main_classify,
    main_evaluate,
    score,
)
from bot.services.urgency.lexicon import FRAMES, Group, Lexicon, Term, Word
from bot.services.urgency.policy import ModelPolicy, combine
from bot.services.urgency.reasons import explain, finding_from_json, findings_to_json
from bot.services.urgency.rules import Spike, UrgencyRules
from bot.services.urgency.scope import IGNORED_BECAUSE
from bot.services.urgency.tokens import (
    KAZAKH_LETTERS,
    Token,
    detect_language,
    fold_kazakh,
    fold_kazakh_deep,
    normalise,
    question_sentences,
    tokenize,
)

__all__ = [
    "CATEGORIES", "DEFAULT_DIRECTORY", "FRAMES", "IGNORED_BECAUSE", "KAZAKH_LETTERS", "KINDS", "LANGUAGES", "LEVELS",
    "POSITIVE", "EvaluationFileError", "Finding", "Group", "Lexicon", "ModelPolicy", "RulesError", "Spike", "Term",
    "Token", "UrgencyRules", "Verdict", "Word", "combine", "detect_language", "evaluate", "explain",
    "finding_from_json", "findings_to_json", "fold_kazakh", "fold_kazakh_deep", "format_evaluation",
    "main_classify", "main_evaluate", "normalise", "question_sentences", "score", "tokenize",
]
