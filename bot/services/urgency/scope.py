"""Clause-level scope: whether a match reports something that happened here and now, or only mentions it."""

from __future__ import annotations

import re

from bot.services.urgency.lexicon import Hit
from bot.services.urgency.tokens import Token

# A payment that is only mentioned ("оплатила анализы", "paid for a cleaning") is no alert: it takes a demand, or a
# service that should have been free, for payment to be one.
_PAID_GROUPS = frozenset({"payment_demand", "amount_demand"})
_REFUSAL_GROUPS = frozenset({"refusal", "medicine_not_provided"})
# Why a found word was set aside, in the order they are checked; each has a plain-words text in the locales.
IGNORED_BECAUSE = (
    "negated", "figurative", "joke", "refused_gift", "question", "hypothetical", "fear", "rumour", "elsewhere",
    "resolved", "official_payment", "paid_service", "justified", "own_refusal", "peaceful", "saved", "model_veto",
)
_PAYMENT_GROUPS = frozenset({"payment_demand", "money", "amount_demand"})
_GIFT_GROUPS = frozenset({"bribe", "amount_demand", "money", "payment_demand"})
_HARM_GROUPS = frozenset({"death", "life_threat", "harm", "worsened", "severe_symptoms"})
_DEATH_GROUPS = frozenset({"death", "life_threat", "severe_symptoms"})
_CONDITION_NEGATED = re.compile(r"^(не|not|don|dont|doesn|didn|won|no|без|without)$|(ма|ме|ба|бе|па|пе)(са|се)")
_COUNTERFACTUAL = frozenset({"бы", "would", "б"})
# "шақырсақ 3000 сұрайды, әйтпесе келмейді", "if you want it on time, pay, otherwise ...": a condition with an
# "or else" is the staff's ultimatum, not a supposition.
_ULTIMATUM = frozenset({"әйтпесе", "айтпесе", "иначе", "otherwise", "aitpese", "äitpese"})
# "asked if we want ...", "wondered if": an English "if" after these is "whether", not a condition.
_IF_AS_WHETHER = frozenset({"asked", "asks", "ask", "asking", "wondered"})


class Scope:
    """Clause-level scope: whether a match reports something that happened here and now, or only mentions it."""

    def __init__(self, tokens: list[Token], frames: dict[str, list[tuple[int, int]]], asked: frozenset[int],
                 groups_found: frozenset[str], verb_final: frozenset[int]) -> None:
        self.verb_final = verb_final
        self.tokens = tokens
        self.frames = frames
        self.asked = asked
        self.groups_found = groups_found

    def _in_sentence(self, frame: str, sentence: int) -> list[tuple[int, int]]:
        return [span for span in self.frames.get(frame, []) if self.tokens[span[0]].sentence == sentence]

    def _clause(self, clause: int) -> list[Token]:
        return [token for token in self.tokens if token.clause == clause]

    def _clause_has(self, frame: str, clause: int) -> bool:
        return any(self.tokens[first].clause == clause for first, _ in self.frames.get(frame, []))

    def _only_asks(self, sentence: int) -> bool:
        """A question that reports no event: asked generically or as a supposition, with nothing in the past
        (the question's own words aside: "free or paid?"), and not one that states its fact ("is it normal that")."""
        if sentence not in self.asked or self._in_sentence("factive_question", sentence):
            return False
        generic = self._in_sentence("question_generic", sentence)
        if not generic and not self._in_sentence("hypothetical", sentence):
            return False
        asking = {at for first, last in generic for at in range(first, last + 1)}
        return not any(token.past for at, token in enumerate(self.tokens)
                       if token.sentence == sentence and at not in asking)

    def why_ignored(self, hit: Hit) -> str | None:
        tokens = self.tokens
        at = tokens[hit.first]
        sentence, clause, group = at.sentence, at.clause, hit.group.name
        if self._in_sentence("denied_mention", sentence):
            return "negated"  # "про взятки я здесь не слышала ни разу": the whole sentence denies it
        if any(tokens[first].segment > at.segment for first, _ in self._in_sentence("denial", sentence)):
            return "negated"  # "ждали, что попросят денег, но никто ничего не взял": the expectation is denied
        if any(first > hit.last and tokens[first].sentence in (sentence, sentence + 1)
               for first, _ in self.frames.get("denied_after", [])):
            return "negated"  # "... ask for bribes; here it has never happened to us"
        if any(first <= hit.last and hit.first <= last for first, last in self.frames.get("figurative", [])):
            return "figurative"  # "чуть не умерла со скуки"
        if any(first <= hit.last and hit.first <= last for first, last in self.frames.get("not_happened", [])):
            return "negated"  # "без осложнений", "without complications"
        if group in _GIFT_GROUPS and self._in_sentence("not_care", sentence):
            return "figurative"  # "цены в буфете грабительские, это вымогательство": prices, not a bribe
        if self._clause_has("counterfactual", clause):
            return "hypothetical"  # "my son could have died", "мог бы умереть": what did not happen
        if group in _REFUSAL_GROUPS and any(
            first > hit.last and tokens[first].segment > at.segment and tokens[first].sentence - sentence in (0, 1)
            for first, _ in self.frames.get("put_right", [])
        ):
            return "resolved"  # "сначала не приняли, но заведующая вмешалась и нас приняли": put right at once
        if self._in_sentence("joke", sentence) or self._in_sentence("joke", sentence + 1):
            return "joke"
        if group in _GIFT_GROUPS | {"refusal"} and not self._in_sentence("without", sentence) and (
            (self._in_sentence("offered", sentence)
             and (self._in_sentence("declined", sentence) or self._in_sentence("refused_gift", sentence)))
            or (group != "refusal" and self._clause_has("refused_gift", clause))
        ):
            # "хотели дать конверт, но врач отказалась"; "врач отказался от подарка"; but "отказался принимать без
            # конверта" counts, and so does a refusal of care next to a demand.
            return "refused_gift"
        if group == "refusal" and not self._in_sentence("without", sentence) and any(
            tokens[first].clause == clause and -3 <= first - hit.first and first - hit.last <= 4
            for first, _ in self.frames.get("gift", [])
        ):
            # What staff are offered, next to the refusal: "врач отказался от конверта", "refused the flowers",
            # "конверттен бас тартты", "отказалась от денег и подарков".
            return "refused_gift"
        in_sentence = [token for token in tokens if token.sentence == sentence]
        if self._only_asks(sentence):
            return "question"  # "что делать, если врач просит взятку?"; but "почему с нас взяли 5000?" counts
        for first, _ in self._in_sentence("hypothetical", sentence):
            marker_clause = tokens[first].clause
            if not (clause == marker_clause or (clause == marker_clause + 1 and first < hit.first)):
                continue
            condition = self._clause(marker_clause)
            # "если не заплатите" is a demand, but "если бы скорая не приехала" is a supposition.
            # A harm after a negated condition is a warning, not a demand: "арықтамасаң жүрегің тоқтайды",
            # "if you don't lose weight you'll drop dead".
            demanded = group not in _HARM_GROUPS and any(
                _CONDITION_NEGATED.search(token.norm) for token in condition) and not any(
                token.norm in _COUNTERFACTUAL for token in condition)
            # An "иначе" that opens its clause ("..., иначе ждите") is an ultimatum; "поступлю иначе" is not.
            ultimatum = any(token.norm in _ULTIMATUM and self._clause(token.clause)[0] is token
                            for token in in_sentence)
            whether = tokens[first].norm == "if" and first > 0 and tokens[first - 1].norm in _IF_AS_WHETHER
            quoted = group not in _HARM_GROUPS and self._in_sentence("reported_speech", sentence)
            if demanded or quoted or ultimatum or whether:
                continue  # "если не заплатите, не примут", "сказал: если ...", "..., иначе" is a demand
            own = self._clause(clause)
            if clause != marker_clause and any(t.past for t in own) and not any(t.norm in _COUNTERFACTUAL for t in own):
                continue  # "если честно, врач взял деньги"
            return "hypothetical"
        for first, _ in self._in_sentence("fear", sentence):
            marker = tokens[first]
            if clause == marker.clause:
                return "fear"  # "I was afraid they would ask for money", "ақша сұрайды деп қорқамын"
            if marker.segment == at.segment and first < hit.first and not any(
                token.past for token in self._clause(clause)
            ):
                return "fear"  # "боюсь, что в роддоме потребуют деньги"; "боялась, ... и потребовали" counts
        addressed = any(token.addressed for token in in_sentence)
        if self._in_sentence("other_place", sentence) and self._in_sentence("about_others", sentence):
            return "elsewhere"  # "соседке в другой больнице отказали": someone else's case, elsewhere
        for frame in ("rumour", "elsewhere"):
            for first, _ in self._in_sentence(frame, sentence):
                if tokens[first].segment != at.segment or (first > hit.first and first not in self.verb_final):
                    continue  # "вымогают деньги, говорят: иначе ждите год" is what staff say, not hearsay
                if frame == "rumour" and (addressed or self._in_sentence("told_by_staff", sentence)):
                    continue  # "говорят: сделайте платно", "в поликлинике говорят, что их нет" are the staff's words
                # Another city stays another city, even for "my aunt" there: only hearsay is lifted by a first person.
                told_first_hand = frame == "rumour" and any(
                    tokens[start].clause == clause and start > first for start, _ in self.frames.get("first_person", [])
                )
                if not told_first_hand:
                    return frame  # "говорят, там берут взятки"; but "говорят ..., и у нас взяли 5000" counts
        if group not in _HARM_GROUPS and (
            self._in_sentence("resolved", sentence) or self._in_sentence("resolved", sentence + 1)
            or (self._in_sentence("distant_past", sentence) and self.frames.get("now_fine"))
        ):
            return "resolved"  # "её уволили"; "два года назад отказали, но сейчас всё работает отлично"
        if group in _PAYMENT_GROUPS and self.frames.get("official_payment") and "free_service" not in self.groups_found:
            return "official_payment"
        if group in _PAYMENT_GROUPS and self._in_sentence("not_covered", sentence):
            return "official_payment"  # "анализ платный и не входит в ГОБМП": not a free service
        if group in _PAYMENT_GROUPS | {"medicine_not_provided"} and self._in_sentence("own_choice", sentence):
            return "official_payment"  # "сами купили импортную вакцину вместо бесплатной": a free choice
        if group in _PAID_GROUPS and "free_service" not in self.groups_found and not (
            self._in_sentence("compulsion", sentence) or self._in_sentence("reported_speech", sentence)
            or self._clause_has("paid_to_staff", clause) or "bribe" in self.groups_found
        ):
            # "оплатила анализы в лаборатории"; but "заставили заплатить" and "отдали 3000 медсестре" count
            return "paid_service"
        if group in _REFUSAL_GROUPS and self._in_sentence("approved", sentence):
            return "justified"  # "отказалась ставить капельницу без назначения, и правильно сделала"
        if group in _REFUSAL_GROUPS | {"emergency_refusal"} and self._clause_has("own_refusal", clause):
            return "own_refusal"  # "дед сам отказался от госпитализации", "signed a waiver": the patient's own choice
        if group in _DEATH_GROUPS and self._in_sentence("natural_death", sentence) and not self.frames.get("blame"):
            return "peaceful"  # "тётя умерла дома в 90 лет, врач пришёл констатировать": old age, no fault
        if group in _DEATH_GROUPS and self.frames.get("gratitude") and not self.frames.get("blame"):
            if self.frames.get("saved"):
                return "saved"  # "спасибо реаниматологам, спасли мужа"
            return "peaceful"  # "спасибо хоспису, мама ушла спокойно": a death told with thanks and no fault
        return None
