"""Urgency reads a complaint the way an officer does: each failure class seen on independent texts, in kk, ru and
en (and Kazakh typed with Russian letters, in Latin letters, mixed with Russian), plus reasons in plain words."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.l10n import Translator
from bot.services import urgency_text
from bot.services.urgency import DEFAULT_DIRECTORY, RulesError, UrgencyRules, explain, findings_to_json, tokenize

ALERT = {"critical", "high"}


@pytest.fixture(scope="module")
def rules() -> UrgencyRules:
    return UrgencyRules.load()


def set_aside(verdict) -> dict[str, str]:
    """{why: group} of the alarming words the rules saw and did not count."""
    return {finding.name: finding.group for finding in verdict.findings if finding.kind == "ignored"}


# --- False alarms from context: alarming words, no event reported now ------------------------------------------

NOT_AN_ALERT = [
    # (failure class, language, text, why the words are set aside)
    ("negation", "ru", "Я ждала, что потребуют деньги за анализы, но никто ничего не попросил.", {"fear", "negated"}),
    ("negation", "en", "I thought the surgeon would want a bribe, but nobody asked for anything.", {"fear", "negated"}),
    ("negation", "kk", "Пара сұрайды деп күттім, бірақ ешкім ештеңе сұраған жоқ.", {"fear", "negated"}),
    ("negation", "ru", "Про поборы в нашей поликлинике я никогда не слышал.", {"negated"}),
    ("question", "ru", "Имеет ли право врач требовать деньги за больничный?", {"question"}),
    ("question", "en", "What do I do if the nurse asks for money for an injection?", {"question", "hypothetical"}),
    ("question", "kk", "Егер дәрігер ақша сұраса, не істеймін?", {"question", "hypothetical"}),
    ("hypothetical", "ru", "Что делать, если скорая отказывается выезжать к ребёнку?", {"question", "hypothetical"}),
    ("hypothetical", "ru", "Если бы не соседка, я бы умерла до приезда врача.", {"hypothetical"}),
    ("fear", "ru", "Боюсь, что хирург потребует деньги за операцию.", {"fear"}),
    ("fear", "en", "I'm worried the doctor will ask for an envelope.", {"fear"}),
    ("fear", "kk", "Дәрігер конверт сұрай ма деп қорқамын.", {"fear"}),
    ("rumour", "ru", "Говорят, в соседней поликлинике врачи берут взятки.", {"rumour"}),
    ("rumour", "en", "People say the nurses at that hospital take bribes.", {"rumour"}),
    ("rumour", "kk", "Ол ауруханада дәрігерлер пара алады деседі.", {"rumour"}),
    ("elsewhere", "en", "In another city a patient died after a wrong injection, I read.", {"elsewhere", "rumour"}),
    ("resolved", "ru", "В прошлом году регистратор брала деньги за талоны, её уволили.", {"resolved"}),
    ("resolved", "en", "Last year a nurse charged for free vaccines; she was fired.", {"resolved"}),
    ("resolved", "kk", "Былтыр медбике ақша алған, оны жұмыстан шығарды.", {"resolved"}),
    ("put_right", "ru", "Сначала отказали в приёме, но заведующая сразу приняла нас.", {"resolved"}),
    ("put_right", "en", "The receptionist refused at first, but it was put right on the spot.", {"resolved"}),
    ("put_right", "kk", "Алдымен қабылдамады, бірақ меңгеруші бірден қабылдады.", {"resolved"}),
    ("joke", "ru", "В очереди я умерла со скуки, но врач хороший.", {"figurative"}),
    ("joke", "en", "I almost died of boredom in that queue, haha.", {"figurative", "joke"}),
    ("joke", "kk", "Дәрігерге пара берейін деп едім, әзіл ғой.", {"joke"}),
    ("peaceful_death", "ru", "Спасибо хоспису, мама умерла спокойно, без боли.", {"peaceful"}),
    ("peaceful_death", "en", "Thank you to the hospice, dad passed away peacefully.", {"peaceful"}),
    ("peaceful_death", "kk", "Хосписке рахмет, әкем тыныш қайтыс болды.", {"peaceful"}),
    ("official_payment", "ru", "Платное УЗИ оплатили через кассу, дали чек.", {"official_payment"}),
    ("official_payment", "en", "We paid at the cash desk for the scan and got a receipt.", {"official_payment"}),
    ("official_payment", "kk", "Ақылы талдау үшін кассаға төледік, чек берді.", {"official_payment"}),
    ("private_by_choice", "ru", "Сами выбрали частную клинику и заплатили 20 000 тенге.", {"official_payment"}),
    ("private_by_choice", "en", "We chose a private clinic ourselves and paid 20,000 tenge.", {"official_payment"}),
    ("private_by_choice", "kk", "Жеке клиникаға өз еркімізбен барып, 20 мың теңге төледік.", {"official_payment"}),
    ("refused_gift", "ru", "Мы хотели дать врачу конверт, но она отказалась.", {"refused_gift"}),
    ("refused_gift", "en", "We tried to give the nurse an envelope, but she refused.", {"refused_gift"}),
    ("refused_gift", "kk", "Дәрігерге конверт бергіміз келді, бірақ ол алмады.", {"refused_gift"}),
    # Written for precision (issue 15, second round): each class again where a language was missing, and the
    # shapes that still raised false alarms.
    # "не отказал" is set aside as negated; "не отказал, приехала" must not be read as "не приехала".
    ("negation_clause", "ru", "Диспетчер не отказал, бригада приехала быстро.", {"negated"}),
    ("rumour_false", "ru", "Говорили, что без подарка не выпишут, но это оказалось неправдой.", {"negated"}),
    ("rumour_false", "en", "People said you need a gift for the surgeon, but that was not true.", {"negated"}),
    ("rumour_false", "kk", "Сыйлықсыз ота жасамайды деген өтірік болып шықты.", {"negated"}),
    ("hypothetical", "en", "If the doctor had not come that night, grandpa could have died.", {"hypothetical"}),
    ("hypothetical", "kk", "Егер медбике байқамағанда, балам өліп кетер еді.", {"hypothetical"}),
    ("elsewhere", "ru", "В Шымкенте моей тёте отказали в госпитализации, а у нас в Алматы приняли сразу.",
     {"elsewhere"}),
    ("elsewhere", "en", "In Shymkent my aunt was refused a hospital bed, here in Almaty she was admitted at once.",
     {"elsewhere"}),
    ("elsewhere", "kk", "Шымкентте апама ауруханаға жатқызудан бас тартты, ал Алматыда бірден қабылдады.",
     {"elsewhere"}),
    ("put_right", "ru", "Медсестра сначала отказалась ставить капельницу, но старшая вмешалась, и всё поставили.",
     {"resolved"}),
    ("put_right", "en", "The pharmacist said the free inhaler was out, but the manager stepped in and we got it.",
     {"resolved"}),
    ("put_right", "kk", "Дәріхана алдымен тегін дәріні бермеді, бірақ меңгеруші араласып, тауып берді.", {"resolved"}),
    ("figurative", "ru", "В кафе при больнице цены — настоящее вымогательство, кофе за 900 тенге.", {"figurative"}),
    ("figurative", "en", "The hospital cafe is daylight robbery, a sandwich for 2000 tenge.", {"figurative"}),
    ("figurative", "kk", "Аурухана асханасындағы бағалар нағыз тонау, кофе 900 теңге.", {"figurative"}),
    ("figurative", "en", "Waiting in that line nearly killed me, four hours.", {"figurative"}),
    ("peaceful_death", "ru", "Дедушка умер дома в 93 года, врач пришёл констатировать смерть.", {"peaceful"}),
    ("peaceful_death", "en", "Grandma died at home at 94 of old age; the doctor came to certify it.", {"peaceful"}),
    ("peaceful_death", "kk", "Атам 95 жасында үйде қайтыс болды, кәрілік қой.", {"peaceful"}),
    ("no_harm", "ru", "Операция прошла без осложнений, спасибо хирургу.", {"negated"}),
    ("no_harm", "en", "The operation went without complications.", {"negated"}),
    ("no_harm", "kk", "Ота асқынусыз өтті, рахмет.", {"negated"}),
]


@pytest.mark.parametrize(("failure", "language", "text", "why"), NOT_AN_ALERT,
                         ids=[f"{row[0]}-{row[1]}" for row in NOT_AN_ALERT])
def test_alarming_words_without_an_event_now_are_not_an_alert(rules: UrgencyRules, failure: str, language: str,
                                                             text: str, why: set[str]) -> None:
    verdict = rules.classify(text, language=language)
    assert verdict.urgency == "normal", (verdict.reasons, set_aside(verdict))
    if why:
        assert set(set_aside(verdict)) & why, set_aside(verdict)
    else:  # nothing alarming is read at all ("не отказал, приехала" is not "не приехала")
        assert not verdict.reasons and not set_aside(verdict), verdict.reasons


def test_the_same_words_reporting_an_event_still_alert(rules: UrgencyRules) -> None:
    """The context rules set words aside, they do not blind the classifier to a real report next to them."""
    for text in [
        "Боялась, что попросят деньги, и в итоге хирург потребовал 50 тысяч.",  # the fear came true
        "Говорят, там берут взятки, и у нас медсестра взяла 5000 тенге.",  # hearsay, then their own case
        "Врач сказал: если не заплатите 10 тысяч, операции не будет.",  # a condition as a demand
        "Почему с нас взяли деньги за бесплатный анализ?",  # a question that reports an event
        "Заставили оплатить МРТ через кассу, хотя по ОСМС оно бесплатное.",  # official, but for a free service
        "Врач отказался принимать без конверта.",  # a refusal with a bribe, not a refused gift
        "The nurse said that if we don't pay 5000 she won't do the test.",
        "Дәрігер пара сұрады, бермесең қарамаймын деді.",
        "В Алматы, в нашей поликлинике, медсестра взяла 5000 за укол.",  # the city, but this one
        "Сначала отказали в приёме, но потом всё равно не приняли.",  # a contrast that puts nothing right
        "Медбике алдымен қабылдамады, бірақ кейін де қабылдамады.",
        "At first they refused to see us, and then they refused again.",
        "Если бы не соседка, папа бы умер: скорая так и не приехала.",  # a counterfactual beside a real refusal
        "The nurse could have helped but refused to come to my dying father.",
        "Баламды жалғыз қалдырып кетті, түні бойы жылады.",  # left alone, not "қалдырмады"
        "The nurse took 3,000 for the drip.",  # a sum with a thousands separator
        "Медсестра взяла 3,000 тенге за капельницу.",
    ]:
        assert rules.classify(text).urgency in ALERT, text


# --- Misses: what the lexicons used to overlook ------------------------------------------------------------

ALERTS = [
    # (failure class, language, text, the group that must decide it)
    ("euphemism", "ru", "Врач сказал, что надо положить сверху, иначе не прооперирует.", "bribe"),
    ("euphemism", "en", "The doctor said we should put something on top for the operation.", "bribe"),
    ("euphemism", "kk", "Дәрігер операция үшін үстіне бірдеңе қою керек деді.", "bribe"),
    ("euphemism", "ru", "Перед выпиской пришлось отблагодарить как следует заведующую.", "bribe"),
    ("euphemism", "en", "She wanted a box of chocolates with something inside.", "bribe"),
    ("amount", "ru", "Медсестра взяла 5 тысяч наличкой за капельницу.", "amount_demand"),
    ("amount", "en", "The nurse took 5k in cash for the drip.", "amount_demand"),
    ("amount", "kk", "Медбике тамшылатқыш үшін бес мың теңге сұрады.", "amount_demand"),
    ("payment_question", "ru", "Почему с меня взяли 3000 за бесплатную прививку?", "amount_demand"),
    ("payment_question", "en", "Why did they charge me 3000 for a free vaccine?", "payment_demand"),
    ("payment_question", "kk", "Неге тегін екпе үшін бізден 3 мың теңге алды?", "amount_demand"),
    ("dispatcher", "ru", "Диспетчер 103 отказалась отправить бригаду к отцу.", "emergency_refusal"),
    ("dispatcher", "en", "The 103 dispatcher refused to send an ambulance to my father.", "emergency_refusal"),
    ("dispatcher", "kk", "103 диспетчері жедел жәрдем жібермейміз деді.", "emergency_refusal"),
    ("registration", "ru", "Нам отказали в приёме, потому что нет прописки.", "refusal"),
    ("registration", "en", "They sent us away because we are not registered in the district.", "refusal"),
    ("registration", "kk", "Тіркелмегенсіз деп баланы қабылдамады.", "refusal"),
    ("documents", "ru", "В поликлинике мне продали больничный без осмотра.", "documents"),
    ("documents", "en", "The clinic sold me a sick note without any examination.", "documents"),
    ("documents", "kk", "Емханада тексермей ақшаға анықтама береді.", "documents"),
    ("threat", "ru", "Врач угрожал, что выпишет маму, если мы пожалуемся.", "violence"),
    ("threat", "en", "The nurse threatened my father when he complained.", "violence"),
    ("threat", "kk", "Дәрігер шағымдансаң, емдемеймін деп қорқытты.", "violence"),
    ("free_medicine", "ru", "Льготные лекарства не выдают, предлагают купить в аптеке.", "medicine_not_provided"),
    ("free_medicine", "en", "The free medicines my mother is entitled to were withheld.", "medicine_not_provided"),
    ("free_medicine", "kk", "Тегін дәрілерді бермей, ақшаға сатады.", "medicine_not_provided"),
    ("sanitary", "ru", "Медсестра делала уколы одной иглой разным детям.", "sanitary_danger"),
    ("sanitary", "en", "The dentist reused the same needle on several patients.", "sanitary_danger"),
    ("sanitary", "kk", "Медбике бір инемен бірнеше адамға укол салды.", "sanitary_danger"),
    ("neglect", "ru", "Лежачего дедушку не кормили три дня, появились пролежни.", "neglect"),
    ("neglect", "en", "My bedridden mother was not fed and got bedsores.", "neglect"),
    ("neglect", "kk", "Төсекте жатқан атамды тамақтандырмады, ойық жара пайда болды.", "neglect"),
    ("neglect", "ru", "Медсестра унижала бабушку и называла её дурой.", "neglect"),
    ("child_restrained", "ru", "Ребёнка в больнице привязали к кровати.", "neglect"),
    ("child_restrained", "en", "The staff left my toddler unattended all night.", "neglect"),
    ("child_restrained", "kk", "Баламды төсекке байлап қойды.", "neglect"),
]


@pytest.mark.parametrize(("failure", "language", "text", "group"), ALERTS,
                         ids=[f"{row[0]}-{row[1]}" for row in ALERTS])
def test_reports_the_lexicons_used_to_miss_alert(rules: UrgencyRules, failure: str, language: str, text: str,
                                                group: str) -> None:
    verdict = rules.classify(text, language=language)
    assert verdict.urgency in ALERT, (verdict.reasons, set_aside(verdict))
    assert any(f.kind == "group" and f.name == group for f in verdict.findings), verdict.reasons


# --- Script and language ------------------------------------------------------------------------------------

SCRIPTS = [
    ("russian letters", "Дарыгер бизден пара сурады, 20 мын тенге.", True),
    ("russian letters", "Жедел жардем уш сагат келмеди.", True),
    ("russian letters", "Ешким акша сураган жок, бари тегин.", False),
    ("latin", "Dariger bizden para surady, 20 myñ teñge.", True),
    ("latin", "Jedel järdem üsh sağat kelmedi, atam qaitys boldy.", True),
    ("latin", "Medbike bir inemen birneshe adamğa ukol saldy.", True),
    ("latin", "Eshkim aqsha suragan joq, bari tegin boldy.", False),
    ("mixed", "Врач открыто пара сұрады, иначе операция болмайды.", True),
    ("mixed", "Хирург операция үшін 100 мың требовал.", True),
    ("mixed", "Говорят, там хирург пара алады, но я сам не видел.", False),
    # Kazakh negates inside the verb: "қалдырмады" is "did not leave (alone)", in any script.
    ("negative verb", "Медбике баламды бір сәт те жалғыз қалдырмады.", False),
    ("negative verb", "Медбике баламды бир сат те жалгыз калдырмады.", False),
    ("negative verb", "Medbike balamdy bir sät te jalğyz qaldyrmady.", False),
    ("negative verb", "Медбике баламды түні бойы жалғыз қалдырды.", True),
]


@pytest.mark.parametrize(("script", "text", "alert"), SCRIPTS, ids=[f"{r[0]}-{i}" for i, r in enumerate(SCRIPTS)])
def test_kazakh_in_any_script_and_mixed_with_russian(rules: UrgencyRules, script: str, text: str,
                                                     alert: bool) -> None:
    verdict = rules.classify(text)
    assert (verdict.urgency in ALERT) is alert, (verdict.reasons, set_aside(verdict))


def test_latin_kazakh_is_read_as_cyrillic_but_english_is_left_alone() -> None:
    assert urgency_text.latin_to_cyrillic("aqshasyn") == "ақшасын"
    # "i" is read as "и": Kazakh matching folds і and и together, and Russian loanwords keep their "и".
    assert urgency_text.latin_to_cyrillic("reanimaciyada") == "реанимацияда"
    assert urgency_text.latin_to_cyrillic("bailap") == "байлап"
    assert urgency_text.latin_to_cyrillic("shaqyrdyq") == "шақырдық"
    assert urgency_text.is_kazakh_in_latin("Dariger bizden aqsha surady")
    assert not urgency_text.is_kazakh_in_latin("The doctor asked us for money and we paid")
    # Words are shown as the resident wrote them.
    assert [t.norm for t in tokenize("Dariger para surady")] == ["даригер", "пара", "сурады"]


@pytest.mark.parametrize(("text", "amounts"), [
    ("взяли 10к наличкой", 1), ("50 000 тенге", 1), ("5000₸", 1), ("$100", 1), ("бес мың бер", 1),
    ("давление 220, ждали 3 часа", 0), ("в 2019 году", 0),
    # Kazakh numbers typed with Russian letters, and "мың" as "мын".
    ("еки мын сурады", 1), ("жуз мын тенге", 1), ("5 мын алды", 1), ("токсан мын", 1), ("сегиз мын бер", 1),
])
def test_sums_of_money_are_told_from_other_numbers(text: str, amounts: int) -> None:
    assert [t.norm for t in tokenize(text)].count(urgency_text.AMOUNT) == amounts


def test_a_future_form_is_not_matched_as_a_past_report(rules: UrgencyRules) -> None:
    # "откажут" (will refuse) is not "отказали"; the lemma only widens past and present forms.
    assert rules.classify("Скорее всего откажут в переводе, но попробую.").urgency == "normal"
    assert rules.classify("Возьмут деньги за справку, сказала медсестра, 3000 тенге.").urgency in ALERT


# --- Reasons in plain words -----------------------------------------------------------------------------------


def test_explain_names_the_words_and_the_facts_in_the_readers_language(rules: UrgencyRules) -> None:
    verdict = rules.classify("Что делать, если врач просит взятку? А вчера медсестра взяла 5000 тенге за укол.",
                             rating=1, category="extortion")
    translator = Translator()
    lines = {language: explain(verdict, translator[language]) for language in ("kk", "ru", "en")}
    assert lines["en"][0] == "the resident chose the category «Extortion or a bribe»"
    assert "a sum of money asked for or handed over: «взяла … 5000»" in lines["en"]
    assert "a low rating: 1 of 5" in lines["en"]
    assert lines["en"][-1] == "not counted: «взятку» — only asked as a question, no event reported"
    assert "не учтено: «взятку» — только вопрос, о случившемся не сообщается" in lines["ru"]
    assert "есепке алынбады: «взятку» — тек сұрақ, болған оқиға айтылмайды" in lines["kk"]
    # The stored form explains the same way (cards are built later, in the office's language).
    assert explain(findings_to_json(verdict), translator["en"]) == lines["en"]


def test_explain_covers_every_reason_and_group_in_every_language(rules: UrgencyRules) -> None:
    from bot.services.urgency import IGNORED_BECAUSE

    groups = {group.name for lexicon in rules.lexicons for group in lexicon.groups}
    for language in ("kk", "ru", "en"):
        l10n = Translator()[language]
        for name in groups:
            assert l10n.has(f"urgency_reason.group.{name}"), (language, name)
        for why in IGNORED_BECAUSE:
            assert l10n.has(f"urgency_reason.why.{why}"), (language, why)


def test_a_phrase_written_as_alternatives_is_refused_with_the_key(tmp_path: Path) -> None:
    directory = Path(shutil.copytree(DEFAULT_DIRECTORY, tmp_path / "urgency"))
    lexicon = directory / "lexicon_ru.toml"
    text = lexicon.read_text(encoding="utf-8")
    lexicon.write_text(text.replace('"взятк",', '"взятк", "льгот & не выда|не дают",', 1), encoding="utf-8")
    with pytest.raises(RulesError, match=r"lexicon_ru.toml: groups.bribe.terms: 'льгот & не выда\|не дают'"):
        UrgencyRules.load(directory)


def test_the_rules_alone_raise_almost_no_false_alarm_on_the_precision_set(rules: UrgencyRules) -> None:
    """precision_dev.jsonl: hard non-alerts of every false-alarm class, and alerts that look like them, written
    before the rules were changed for them. The model is trained on it, so the rules are held to it alone."""
    import json

    lines = (Path(__file__).parent / "data" / "precision_dev.jsonl").read_text(encoding="utf-8").splitlines()
    by_language: dict[str, list[tuple[bool, bool]]] = {}
    for line in lines:
        row = json.loads(line)
        verdict = rules.classify_by_rules(row["text"], language=row["language"])
        by_language.setdefault(row["language"], []).append((row["expected"] in ALERT, verdict.urgency in ALERT))
    for language, pairs in by_language.items():
        alarms = sum(got for _, got in pairs)
        false_alarms = sum(got and not expected for expected, got in pairs)
        assert alarms and false_alarms / alarms <= 0.05, (language, false_alarms, alarms)


@pytest.mark.parametrize("name", ["precision_dev", "urgency_dev_extra",
                                  "urgency_dev_blind", "urgency_dev_blind2", "urgency_dev_blind3",
                                  "urgency_dev_blind4", "urgency_dev_blind5", "urgency_dev_blind6",
                                  "urgency_dev_unseen"])
def test_the_development_sets_stay_above_the_bar_in_every_language(rules: UrgencyRules, name: str) -> None:
    from bot.services.urgency import evaluate

    result = evaluate(rules, Path(__file__).parent / "data" / f"{name}.jsonl")
    assert result["precision"] >= 0.95 and result["recall"] >= 0.95, result["mistakes"]
    for language, figures in result["languages"].items():
        assert figures["precision"] >= 0.9 and figures["recall"] >= 0.9, (language, result["mistakes"])


# --- Found on fresh texts in the fourth round: what the rules alone must read --------------------------------

READ_BY_THE_RULES = [
    # (what it checks, text, whether it is an alert)
    # A receipt denied, or a cash desk closed, is the opposite of an official payment, in either language.
    ("receipt denied", "Дәрігер бес мың теңге сұрады, чек жоқ.", True),
    ("receipt denied", "Врач взял 5000, чек жок.", True),
    ("receipt denied", "Медсестра 3000 взяла, чек не дали.", True),
    ("receipt denied", "Касса жабық, медбике 3000 теңге сұрады, чек бермеді.", True),
    ("receipt denied", "Оплатила 5000 в кассе, чек дали.", False),
    ("receipt denied", "Талдау үшін кассаға 4000 төледім, чек берді.", False),
    # Refusing the envelope is refusing a gift, not refusing care; refusing care without one still counts.
    ("refused envelope", "Врач отказался от конверта и принял нас.", False),
    ("refused envelope", "The doctor refused the envelope my father brought.", False),
    ("refused envelope", "Дәрігер конверттен бас тартты.", False),
    ("refused envelope", "Врач отказался принимать без конверта.", True),
    ("refused envelope", "Без конверта хирург отказался оперировать.", True),
    ("refused envelope", "The doctor refused to see us until we gave an envelope.", True),
    # A question that states its fact reports it; an "or else" is an ultimatum, "asked if" is "whether"; money
    # handed to staff is no paid service; "без всяких конвертов" denies, whichever lexicon finds the word.
    ("question, condition, payment", "Is it normal that the nurse charges 1000 for every injection?", True),
    ("question, condition, payment", "Это нормально, что за направление пришлось отдать 3000 медсестре?", True),
    ("question, condition, payment", "Медбике әр укол үшін 1000 теңге алады, бұл қалыпты ма?", True),
    ("question, condition, payment", "Is it normal for a doctor to ask for money?", False),
    ("question, condition, payment", "Үйге шақырсақ, дәрігер 3000 теңге сұрайды, әйтпесе келмейді.", True),
    ("question, condition, payment", "Если хотите капельницу вовремя, несите 5000 тенге, иначе ждите неделю.", True),
    ("question, condition, payment", "The anaesthetist asked if we want the good anaesthesia for 30,000 tenge.", True),
    ("question, condition, payment", "If the doctor asks for money, what should I do?", False),
    ("question, condition, payment", "We gave 5000 tenge to the nurse for the referral.", True),
    ("question, condition, payment", "Направление дали только после того, как отдали 4000 медсестре.", True),
    ("question, condition, payment", "Оплатила 5000 за анализ в лаборатории.", False),
    ("question, condition, payment", "Больничный открыли сразу, всё по закону, без всяких конвертов.", False),
    ("question, condition, payment", "Без конверта хирург не оперирует.", True),
    # Reports of the recall set's classes, told in new words.
    ("documents", "Медкнижку сделали за 10 тысяч, никаких анализов я не сдавал.", True),
    ("documents", "Анықтаманы 8 мыңға жазып берді, дәрігерге кірмедім де.", True),
    ("documents", "They stamped my medical book for 6,000 tenge with no tests at all.", True),
    ("threat", "Заведующая сказала: будете жаловаться, я вам устрою.", True),
    ("threat", "Шағым жазсаңыз, балаңызды қарамаймыз деді медбике.", True),
    ("threat", "The doctor said if I complain she'll make sure my son is never seen here.", True),
    ("sanitary", "Медсестра моет одноразовые катетеры и ставит их следующему больному.", True),
    ("sanitary", "Бір реттік айнаны жай суға шайып, келесі әйелге қолданды.", True),
    ("sanitary", "I saw the nurse rinse a used needle in the sink.", True),
    ("neglect", "Бабушка упала с кровати ночью, поручней нет, медсестры не было до утра.", True),
    ("neglect", "Атам төсектен құлап қалды, ешкім қарамады.", True),
    ("neglect", "My father fell in the ward bathroom, no handrail and no nurse around.", True),
    # Written by a second reader of the fourth round against its new words: innocent texts some of them had
    # flagged, and reports some of them had hidden.
    ("innocent", "The nurses take care of him very well.", False),
    ("innocent", "I went to the pharmacy for the syringe and the nurse gave the injection.", False),
    ("innocent", "They used good anesthesia and I felt nothing.", False),
    ("innocent", "I donated blood at the donation department, everything was quick.", False),
    ("innocent", "Хочу отблагодарить доктора Иванову, чтобы все знали, какой она специалист.", False),
    ("innocent", "Бензинге ақша жетпей, такси шақыра алмадық.", False),
    ("innocent", "Please repair the ramp or I'll have to carry my mother upstairs again.", False),
    ("innocent", "The nurse said: I'll give you a shot for the pain, and it helped.", False),
    ("innocent", "Пишу жалобу на проблему с записью к терапевту.", False),
    ("innocent", "Жалоб не будет, всё отлично, врач внимательная.", False),
    ("innocent", "The nurse washed her hands and put on disposable gloves.", False),
    ("innocent", "The nurse used gloves and a new needle, then called the next patient.", False),
    ("innocent", "The next patient had the same problem as me.", False),
    ("innocent", "I came with food poisoning and was treated quickly.", False),
    ("innocent", "Медсестра надела одноразовые перчатки и снова проверила давление.", False),
    ("innocent", "С отравлением попал в больницу, лечили хорошо.", False),
    ("innocent", "Баланың іші өтіп, ауруханаға түстік, жақсы емдеді.", False),
    ("innocent", "Келесі науқасқа өтіңіз деді, сол кезде мен шықтым.", False),
    ("innocent", "Кормят хорошо, пять раз в день.", False),
    ("innocent", "Үйде құлап қалдым, телефонмен жедел жәрдем шақырдым, тез келді.", False),
    ("innocent", "Взяла справку в регистратуре, в коридоре была большая очередь.", False),
    ("innocent", "Дәрігер рецептке печать басып берді.", False),
    ("innocent", "Анықтамаға мөр басып берді, бәрі тез болды.", False),
    ("innocent", "My medical book was stamped after all the tests, great service.", False),
    ("innocent", "The doctor said it was nothing serious, no need for hospital, and she was right.", False),
    ("innocent", "Оплатила 5000 тенге за анализ, потом пошла в кабинет к терапевту.", False),
    ("innocent", "Оплатила 5000 тенге за УЗИ, результат отдали врачу.", False),
    ("innocent", "Дәрігерге бардым, талдау үшін 3000 теңге төледім.", False),
    ("innocent", "The cash desk was open and I paid 5000 tenge for the MRI.", False),
    ("innocent", "Is it normal for a doctor to demand a bribe?", False),
    ("innocent", "Почему врачи берут взятки, если лечение бесплатное?", False),
    ("innocent", "I want to know if doctors can demand a bribe for a referral.", False),
    ("innocent", "Если врач потребует взятку, я поступлю иначе: сразу позвоню на горячую линию.", False),
    ("hidden report", "Кезек күтпей кіру үшін медбике 5000 теңге сұрады.", True),
    ("hidden report", "Nobody asked us, the nurse just charged 2000 tenge for the drip.", True),
    ("hidden report", "Сказали, можно и бесплатно, но через месяц, а за 10000 тенге сегодня.", True),
    ("hidden report", "Врач отказался смотреть родинку необычного цвета.", True),
    # The precision pass keeps what is reported: her refusal is not theirs, a demand in reported speech counts.
    ("precision pass", "I refused to pay the bribe, so they refused to see me.", True),
    ("precision pass", "Врач сказал: если не заплатите, операции не будет.", True),
    ("precision pass", "Где в Алматы можно анонимно сдать тест на ВИЧ?", False),
    ("precision pass", "В роддоме ребёнка заразили ВИЧ.", True),
]


@pytest.mark.parametrize(("case", "text", "alert"), READ_BY_THE_RULES,
                         ids=[f"{row[0]}-{i}" for i, row in enumerate(READ_BY_THE_RULES)])
def test_the_rules_alone_read_what_the_text_reports(rules: UrgencyRules, case: str, text: str, alert: bool) -> None:
    verdict = rules.classify_by_rules(text)
    assert (verdict.urgency in ALERT) is alert, (case, verdict.reasons, set_aside(verdict))


@pytest.mark.parametrize(("text", "why"), [
    # The patient's own refusal, a doctor's warning, a price asked, a test asked for: no event to alert on.
    ("Дедушка сам отказался от госпитализации, подписал отказ. Можно ли передумать?", "own_refusal"),
    ("Grandma refused hospitalisation herself and signed a waiver.", "own_refusal"),
    ("Әжем ауруханаға жатудан өзі бас тартты, қағазға қол қойды.", "own_refusal"),
    ("The doctor told me if I don't lose weight I'll drop dead of a heart attack.", "hypothetical"),
    ("А если бы скорая не приехала, кто бы отвечал? Просто мысли после сериала.", "hypothetical"),
    ("Врач сказал удалить аденоиды. Это по ОСМС или платно?", "question"),
    ("Is the flu shot free or paid for pregnant women?", "question"),
])
def test_own_refusals_warnings_and_price_questions_are_not_alerts(rules: UrgencyRules, text: str, why: str) -> None:
    verdict = rules.classify_by_rules(text)
    assert verdict.urgency == "normal", (verdict.reasons, set_aside(verdict))
    assert why in set_aside(verdict), set_aside(verdict)


@pytest.mark.parametrize("text", ["", "😀😀", "?", "ма", "...", "не", "без всяких", "чек жоқ", "Тегін бе, ақылы ма"])
def test_texts_of_nothing_or_of_bare_context_words_are_read_without_an_alert(rules: UrgencyRules, text: str) -> None:
    # A photo sent with no caption is a complaint with an empty text; a lone particle or negator is no event.
    assert rules.classify(text).urgency == "normal"
