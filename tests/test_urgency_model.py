"""The learned model beside the urgency rules: what it catches, what it vetoes, the reasons it gives, and that it
is trained the same way every time from the corpus shipped in the package."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from bot.l10n import Translator
from bot.services import urgency_model
from bot.services.urgency import (
    DEFAULT_DIRECTORY,
    Finding,
    ModelPolicy,
    RulesError,
    UrgencyRules,
    Verdict,
    combine,
    explain,
    findings_to_json,
    tokenize,
)

ROOT = Path(__file__).parents[1]
TEST_DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="module")
def rules() -> UrgencyRules:
    return UrgencyRules.load()


# Texts written for these tests, in none of the corpus files.
MISSED_BY_RULES = [
    ("en", "Nobody fed my bedridden grandmother for two days."),
    ("ru", "Дежурный врач сказал: приходите со своей пропиской, здесь вас лечить не будут."),
]
# The rules read "отказа" and miss the negation after it; the model reads the whole text of thanks.
FALSE_ALARM_OF_RULES = [
    ("ru", "Процедурная медсестра всё сделала аккуратно, отказа ни в чём не было, спасибо большое."),
]


def test_no_corpus_text_is_used_here() -> None:
    texts = {example.text for example in urgency_model.read_corpus(urgency_model.corpus_paths())}
    for _, text in [*MISSED_BY_RULES, *FALSE_ALARM_OF_RULES]:
        assert text not in texts


@pytest.mark.parametrize(("language", "text"), MISSED_BY_RULES)
def test_the_model_catches_what_the_rules_miss(rules: UrgencyRules, language: str, text: str) -> None:
    assert rules.classify_by_rules(text, language=language).urgency == "normal"
    verdict = rules.classify(text, language=language)
    assert verdict.urgency == "high"
    model = verdict.findings[0]
    assert model.kind == "model" and model.name == "catch" and model.value >= 60 and model.words
    assert verdict.reasons[0].startswith("model: alert")


@pytest.mark.parametrize(("language", "text"), FALSE_ALARM_OF_RULES)
def test_the_model_vetoes_a_false_alarm_of_the_words(rules: UrgencyRules, language: str, text: str) -> None:
    assert rules.classify_by_rules(text, language=language).urgency == "high"
    verdict = rules.classify(text, language=language)
    assert verdict.urgency == "normal"
    assert verdict.findings[0].kind == "model" and verdict.findings[0].name == "veto"
    # The words the rules had found are kept, set aside because of the model.
    assert any(f.kind == "ignored" and f.name == "model_veto" and f.group == "refusal" for f in verdict.findings)


def test_a_critical_finding_in_the_words_is_never_vetoed(rules: UrgencyRules) -> None:
    text = "Скорая долго не ехала, но потом приехали и всё сделали хорошо."
    assert rules.model is not None and rules.model.get().probability(text) < rules.model_policy.veto_below
    assert rules.classify(text).urgency == "critical"


def test_an_alert_resting_on_the_rating_or_category_is_not_vetoed(rules: UrgencyRules) -> None:
    verdict = rules.classify("Опять отдали кучу денег.", rating=1)
    assert verdict.urgency == "high" and verdict.findings[0].kind != "model"
    assert rules.classify("Спасибо, медсестра отказалась брать подарок.", category="extortion").urgency == "critical"


@pytest.mark.parametrize("language", ["kk", "ru", "en"])
def test_model_decisions_are_explained_in_the_readers_language(rules: UrgencyRules, language: str) -> None:
    l10n = Translator()[language]
    caught = rules.classify(MISSED_BY_RULES[0][1])
    lines = explain(findings_to_json(caught), l10n)
    assert lines and "{" not in lines[0] and "«bedridden»" in lines[0]
    vetoed = rules.classify(FALSE_ALARM_OF_RULES[0][1])
    lines = explain(vetoed, l10n)
    assert len(lines) >= 2 and all("{" not in line for line in lines)
    assert l10n("urgency_reason.why.model_veto") in lines[1]


def test_a_catch_without_words_says_the_whole_text() -> None:
    verdict = Verdict("normal", [], ())
    reading = urgency_model.Reading(0.95, (), ())
    combined = combine(verdict, reading, ModelPolicy(catch_alone_above=0.9))
    assert combined.urgency == "high" and combined.findings == (Finding("model", "catch", (), value=95),)
    assert "the whole text" in combined.reasons[0]
    # Below every threshold nothing changes.
    assert combine(verdict, reading, ModelPolicy()) is verdict


def test_training_is_deterministic_and_fast() -> None:
    examples = urgency_model.read_corpus(urgency_model.corpus_paths())
    started = time.perf_counter()
    first = urgency_model.UrgencyModel(examples, tokenize)
    assert time.perf_counter() - started < 10  # about 0.5 s on one core; generous for a shared machine
    second = urgency_model.UrgencyModel(examples, tokenize)
    for _, text in [*MISSED_BY_RULES, *FALSE_ALARM_OF_RULES]:
        assert first.read(text) == second.read(text)


def test_classifying_stays_fast(rules: UrgencyRules) -> None:
    texts = [text for _, text in [*MISSED_BY_RULES, *FALSE_ALARM_OF_RULES]] * 20
    rules.classify(texts[0])
    started = time.perf_counter()
    for text in texts:
        rules.classify(text)
    assert (time.perf_counter() - started) / len(texts) < 0.1  # about 3 ms; generous for a shared machine


def test_the_shipped_corpus_matches_the_test_copies() -> None:
    shipped = {path.name: path.read_bytes() for path in urgency_model.corpus_paths()}
    assert "urgency_train_extra.jsonl" in shipped and "urgency_eval.jsonl" in shipped
    assert not any("heldout" in name for name in shipped)  # the held-out set is never trained on
    for name, content in shipped.items():
        assert (TEST_DATA / name).read_bytes() == content, f"copy tests/data/{name} to bot/data/urgency/corpus/"


def test_a_data_directory_without_a_corpus_uses_the_rules_alone(tmp_path: Path) -> None:
    directory = Path(shutil.copytree(DEFAULT_DIRECTORY, tmp_path / "urgency"))
    shutil.rmtree(directory / "corpus")
    rules = UrgencyRules.load(directory)
    assert rules.model is None
    text = MISSED_BY_RULES[0][1]
    assert rules.classify(text).urgency == "normal"


def test_the_model_can_be_turned_off_and_bad_policy_values_are_refused(tmp_path: Path) -> None:
    directory = Path(shutil.copytree(DEFAULT_DIRECTORY, tmp_path / "urgency"))
    rules_file = directory / "rules.toml"
    original = rules_file.read_text(encoding="utf-8")
    rules_file.write_text(original.replace("enabled = true", "enabled = false"), encoding="utf-8")
    assert UrgencyRules.load(directory).model is None
    rules_file.write_text(original.replace("\nveto_below = 0.15", "\nveto_below = 2"), encoding="utf-8")
    with pytest.raises(RulesError, match=r"rules.toml: model.veto_below: must be a probability"):
        UrgencyRules.load(directory)
    typo = original.replace("\nveto_below = 0.15", "\nveto_below = 0.15\nvet_below = 0.1")
    rules_file.write_text(typo, encoding="utf-8")
    with pytest.raises(RulesError, match=r"model.vet_below: unknown key"):
        UrgencyRules.load(directory)


def test_a_corpus_with_one_label_only_is_refused() -> None:
    with pytest.raises(ValueError, match="both alerts and non-alerts"):
        urgency_model.UrgencyModel([urgency_model.Example("a", True), urgency_model.Example("b", True)], tokenize)


def test_the_model_folds_kazakh_as_the_rules_do() -> None:
    from bot.services.urgency import fold_kazakh_deep

    word = "әіңғүұқөһы"
    assert urgency_model.fold_kazakh_deep(word) == fold_kazakh_deep(word)


def test_a_text_too_short_for_the_model_keeps_the_alert_its_words_raised() -> None:
    found = (Finding("group", "payment_demand", ("«Без денег»",)),)
    verdict = Verdict("high", ["payment demand words: «Без денег»"], found)
    policy = ModelPolicy(veto_below=0.15, veto_min_words=6)
    assert combine(verdict, urgency_model.Reading(0.02, (), (), words=4), policy) is verdict
    vetoed = combine(verdict, urgency_model.Reading(0.02, (), (), words=10), policy)
    assert vetoed.urgency == "normal" and vetoed.findings[0].name == "veto"


def test_refusing_flowers_or_a_present_is_refusing_a_gift(rules: UrgencyRules) -> None:
    for text in ["Спасибо, медсестра отказалась брать подарок.", "Медбике гүлді алмады, рахмет айттық.",
                 "The nurse refused the flowers we brought."]:
        assert rules.classify_by_rules(text).urgency == "normal", text
