"""When the learned model may overrule the readable rules, and how its reading is combined with their verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.services import urgency_model
from bot.services.urgency.common import LEVELS, Finding, RulesError, Verdict


@dataclass(frozen=True)
class ModelPolicy:
    """When the learned model may overrule the rules ([model] in rules.toml; chosen by cross-validation).

    veto_below: a high alert the rules found in the words alone becomes normal when the model's probability of an
    alert is below this; veto_critical_below: the same for a critical one. catch_above: a normal verdict becomes
    high when the probability reaches this and the rules found a weak sign (words of a group with points: money,
    a free service, a child ...); catch_set_aside_above: the same (or catch_above if higher) when the rules found
    alarming words they set aside by their context, whatever else they found; catch_alone_above: the same
    without any sign. The model reads only the text: an alert that rests on the rating, the kind, the category
    or a complaint spike is never vetoed. veto_min_words: a text shorter than this gives the model too little to
    read to overrule the words ("Без денег не примут." read 8 %); cross-validation found every right veto in
    texts of ten words or more.
    """

    enabled: bool = True
    veto_below: float = 0.0
    veto_critical_below: float = 0.0
    catch_above: float = 1.01
    catch_set_aside_above: float = 1.01
    catch_alone_above: float = 1.01
    veto_min_words: int = 0


_POLICY_PROBABILITIES = ("veto_below", "veto_critical_below", "catch_above", "catch_set_aside_above",
                         "catch_alone_above")


def read_model_policy(data: Any, where: str) -> ModelPolicy:
    if not isinstance(data, dict):
        raise RulesError(f"{where}: must be a table")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "enabled":
            if not isinstance(value, bool):
                raise RulesError(f"{where}.enabled: must be true or false")
        elif key == "veto_min_words":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise RulesError(f"{where}.veto_min_words: must be a whole number of words, 0 or more")
        elif key in _POLICY_PROBABILITIES:
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1.01:
                raise RulesError(f"{where}.{key}: must be a probability from 0 to 1 (above 1 turns it off)")
            value = float(value)
        else:
            raise RulesError(f"{where}.{key}: unknown key")
        values[key] = value
    return ModelPolicy(**values)


def combine(verdict: Verdict, reading: urgency_model.Reading, policy: ModelPolicy) -> Verdict:
    """The rules' verdict, vetoed or raised by the model's reading when the policy allows it.

    Only words can be vetoed: a category, a complaint spike or a gratitude that reports a crime stand.
    """
    percent = round(reading.probability * 100)
    counted = [finding for finding in verdict.findings if finding.kind != "ignored"]
    level = LEVELS.index(verdict.urgency)
    if level > 0:
        from_words = all(finding.kind in ("group", "points") for finding in counted)
        veto_below = policy.veto_critical_below if level == len(LEVELS) - 1 else policy.veto_below
        if not from_words or reading.probability >= veto_below or 0 < reading.words < policy.veto_min_words:
            return verdict
        words = reading.against_alert
        set_aside = tuple(Finding("ignored", "model_veto", finding.words, finding.name)
                          for finding in counted if finding.kind == "group")
        rest = tuple(finding for finding in verdict.findings if finding.kind == "ignored")
        reason = f"model: no alert ({percent}% likely), read from {', '.join(words) or 'the whole text'}"
        return Verdict(LEVELS[0], [reason], (Finding("model", "veto", words, value=percent), *set_aside, *rest))
    if any(finding.kind == "ignored" for finding in verdict.findings):
        # The rules read alarming words and set them aside by their context: overruling that takes more.
        threshold = max(policy.catch_above, policy.catch_set_aside_above)
    elif any(finding.kind == "weak" for finding in verdict.findings):
        threshold = policy.catch_above
    elif verdict.findings:
        threshold = policy.catch_set_aside_above
    else:
        threshold = policy.catch_alone_above
    if reading.probability < threshold:
        return verdict
    words = reading.for_alert
    reason = f"model: alert ({percent}% likely), read from {', '.join(words) or 'the whole text'}"
    return Verdict(LEVELS[1], [reason, *verdict.reasons],
                   (Finding("model", "catch", words, value=percent), *verdict.findings))
