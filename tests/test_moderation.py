"""Public texts: personal data and profanity hidden, ordinary numbers and words left, lexicons as editable data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.services.moderation import Public, public_version
from bot.services.personal_data import Masked, mask_personal_data
from bot.services.profanity import (
    DEFAULT_DIRECTORY,
    ModerationRules,
    ModerationRulesError,
    default_rules,
    find_profanity,
    mask_profanity,
)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A copy of the shipped lexicons, to edit the way the office would."""
    return Path(shutil.copytree(DEFAULT_DIRECTORY, tmp_path / "moderation"))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} not found exactly once in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


# --- Personal data: phones ---------------------------------------------------------------------------------------

PHONES = [
    "+7 701 123 45 67",
    "+7 (701) 123-45-67",
    "+77011234567",
    "8(701)1234567",
    "8 701 123-45-67",
    "87011234567",
    "+7-727-123-45-67",
    "7011234567",
    "701 123 45 67",
    "(727) 123-45-67",
    "77011234567",
    "293-45-67",
    "+44 20 7946 0958",
    "+1 212 555 0100",
]


@pytest.mark.parametrize("phone", PHONES)
@pytest.mark.parametrize(
    "sentence",
    [
        "Звоните мне: {}, после обеда.",
        "Маған {} нөміріне хабарласыңыз.",
        "Call me at {} after lunch.",
    ],
)
def test_phone_forms_are_hidden_in_any_language(phone: str, sentence: str) -> None:
    assert mask_personal_data(sentence.format(phone)) == Masked(sentence.format("[phone hidden]"), ("phone",))


@pytest.mark.parametrize(
    ("text", "public"),
    [
        # A room number, then a phone: only the phone goes.
        ("Кабинет 204 87011234567, спросите Айгерим", "Кабинет 204 [phone hidden], спросите Айгерим"),
        # "219 87011234567" passes the Luhn check, but is not written like a card.
        ("Кабинет 219 87011234567", "Кабинет 219 [phone hidden]"),
        ("Звонил 3 раза на +7 701 123 45 67 2 раза сбросили", "Звонил 3 раза на [phone hidden] 2 раза сбросили"),
        # Brackets around the number stay with the text.
        ("Регистратура (тел. 87011234567) не отвечает", "Регистратура (тел. [phone hidden]) не отвечает"),
        ("Регистратура (87011234567) не отвечает", "Регистратура ([phone hidden]) не отвечает"),
        ("тел.87011234567, тел-87011234567", "тел.[phone hidden], тел-[phone hidden]"),
        # Not an IIN: a phone and a count.
        ("Звонил на 87011234567 2 раза", "Звонил на [phone hidden] 2 раза"),
        ("87011234567 и 8 702 765 43 21", "[phone hidden] и [phone hidden]"),
        ("WhatsApp: wa.me/77011234567", "WhatsApp: wa.me/[phone hidden]"),
    ],
)
def test_phones_among_other_words_and_numbers(text: str, public: str) -> None:
    assert mask_personal_data(text).text == public


# --- Personal data: IIN, e-mail, card ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "public"),
    [
        ("Мой ИИН 870112345678, запишите.", "Мой ИИН [IIN hidden], запишите."),
        ("ЖСН: 870112345678 дұрыс емес жазылды", "ЖСН: [IIN hidden] дұрыс емес жазылды"),
        ("ИИН870112345678", "ИИН[IIN hidden]"),
        ("IIN 870112 345678 was on the form", "IIN [IIN hidden] was on the form"),
        # Any 12-digit number is taken for an IIN, whether its checksum is right or not.
        ("ИИН 000000000001 (ошибся в цифре)", "ИИН [IIN hidden] (ошибся в цифре)"),
    ],
)
def test_iin_is_hidden(text: str, public: str) -> None:
    assert mask_personal_data(text) == Masked(public, ("iin",))


@pytest.mark.parametrize(
    "email",
    [
        "ivan.petrov@mail.ru",
        "a_b+clinic@gmail.com",
        "Aigerim.S@Med.Almaty.KZ",
        "приемная@поликлиника.рф",
        "ivan [at] mail [dot] ru",
        "ivan(at)mail.ru",
    ],
)
@pytest.mark.parametrize("sentence", ["Пишите на {}, ответят.", "Хатты {} мекенжайына жіберіңіз.", "Mail {}."])
def test_email_is_hidden(email: str, sentence: str) -> None:
    assert mask_personal_data(sentence.format(email)) == Masked(sentence.format("[e-mail hidden]"), ("email",))


def test_digits_inside_an_email_are_part_of_the_email() -> None:
    masked = mask_personal_data("Почта 87011234567@mail.ru")
    assert masked == Masked("Почта [e-mail hidden]", ("email",))


@pytest.mark.parametrize(
    "card",
    [
        "4400 4301 2345 6789",
        "4400430123456789",
        "4111-1111-1111-1111",
        # Sixteen digits in fours are always a card, even when the Luhn check fails.
        "5169 4975 1234 5678",
        # Other lengths pass the Luhn check: American Express 4-6-5, a 13-digit Visa.
        "3782 822463 10005",
        "4222222222222",
    ],
)
@pytest.mark.parametrize("sentence", ["Списали с карты {} дважды.", "Картадан {} ақша алынды.", "Card {} charged."])
def test_card_is_hidden(card: str, sentence: str) -> None:
    assert mask_personal_data(sentence.format(card)) == Masked(sentence.format("[card hidden]"), ("card",))


def test_long_number_that_fails_luhn_is_left() -> None:
    text = "Номер полиса 378282246310006, прошу проверить"
    assert mask_personal_data(text) == Masked(text, ())


def test_kinds_are_listed_once_in_order_of_first_appearance() -> None:
    masked = mask_personal_data(
        "Почта a@b.kz, тел 87011234567, ИИН 870112345678, ещё тел +7 701 765 43 21, карта 4400 4301 2345 6789"
    )
    assert masked.found == ("email", "phone", "iin", "card")
    assert masked.text == (
        "Почта [e-mail hidden], тел [phone hidden], ИИН [IIN hidden], ещё тел [phone hidden], карта [card hidden]"
    )


def test_placeholders_come_from_the_caller() -> None:
    placeholders = {"phone": "[номер скрыт]", "email": "[почта скрыта]"}
    masked = mask_personal_data("Тел 87011234567, почта a@b.kz, ИИН 870112345678", placeholders)
    # A kind the caller left out keeps its default.
    assert masked.text == "Тел [номер скрыт], почта [почта скрыта], ИИН [IIN hidden]"


def test_unknown_placeholder_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="'telephone'"):
        mask_personal_data("87011234567", {"telephone": "[скрыт]"})


@pytest.mark.parametrize(
    "text",
    [
        "Приём 12.11.2026 в 10:30, пришла в 10:25.",
        "Запись на 2026-11-12, талон выдали 2026-11-05.",
        "приём в 10:30",
        "С 8:00 до 17:00 без перерыва, 2024-2025 учебный год.",
        "Заплатили 20 000 тенге за анализы, ещё 30000 тенге за УЗИ.",
        "30000 тенге",
        "Операция стоит 1 500 000 тенге, а квота 7 000 000 тенге в год.",
        "На поликлиники города выделили 7 500 000 000 тенге.",
        "Поликлиника №17, городская поликлиника № 5.",
        "Номер обращения AL-2026-000123, ответа нет.",
        "Мне 45 лет, сыну 7, кабинет 204 на 2 этаже.",
        "кабинет 204",
        "Температура 38.5, давление 140/90, рост 175 см.",
        "Ждали 2 часа 30 минут, 3-й раз за месяц.",
        "Емханаға 12.11.2026 бардым, 204 кабинет, кезек 15 адам.",
        "We paid 20,000 tenge on 12/11/2026 at 10:30 in room 204.",
        "Полис ОСМС 1234, код 12345, СНИЛС нет.",
    ],
)
def test_ordinary_numbers_are_left(text: str) -> None:
    assert mask_personal_data(text) == Masked(text, ())


# --- Profanity: Russian -------------------------------------------------------------------------------------------

RUSSIAN_FORMS = [
    "сука", "суки", "сукой", "сукин", "бля", "блядь", "блять", "бляди", "блядский", "выблядок", "нахуй", "похуй",
    "нихуя", "охуел", "охуенно", "хуйня", "хуёвый", "схуяли", "пиздец", "пизда", "спиздил", "распиздяй", "заебал",
    "заебись", "отъебись", "съебался", "ебаный", "ёбаный", "ебануться", "уебок", "уёбище", "ебло", "еблан",
    "выёбывается", "долбоёб", "мудак", "мудаки", "мудила", "пидорас", "пидор", "гандон", "шлюха", "шлюхи",
    "залупа", "ебучий", "наебнулся",
]  # fmt: skip


@pytest.mark.parametrize("word", RUSSIAN_FORMS)
def test_russian_word_forms_are_found_and_masked(word: str) -> None:
    text = f"Этот врач — {word}, а не врач."
    assert find_profanity(text) == [word]
    assert mask_profanity(text) == f"Этот врач — {word[0]}***, а не врач."


@pytest.mark.parametrize(
    "word",
    [
        "б**дь", "бл*ть", "х*й", "п***ц", "п**дец", "пи*дец", "с*ка", "ох*ел", "за*бал", "ху*ня", "нах*й", "х#й",
        "бляд*на", "спизд*л", "н*хуй", "ху\u00adй", "б\u200bлядь",
        "сууука", "бляяяядь", "хуууй",
        "xyй", "хyйня", "cyka", "пи3дец", "сук@", "6лядь", "хуй" + "\u0301",
        "ХУЙ", "Пиздец", "БлЯдЬ",
        "blyat", "blyad", "suka", "pizdec", "nahuy", "pidor", "mudak",
    ],
)  # fmt: skip
def test_russian_obfuscations_are_found(word: str) -> None:
    assert find_profanity(f"Ну {word} какой-то") == [word]


@pytest.mark.parametrize(
    ("text", "spelled"),
    [
        ("Он сказал х.у.й и ушёл", "х.у.й"),
        ("Он сказал х. у. й, потом ушёл", "х. у. й"),
        ("Он сказал б л я т ь, потом ушёл", "б л я т ь"),
        ("п и з д а! Так и сказал.", "п и з д а"),
        ("С У К А, так и написал", "С У К А"),
        ("Написал с-у-к-а и всё", "с-у-к-а"),
        ("Пишет п_и_з_д_е_ц и смеётся", "п_и_з_д_е_ц"),
        ("Я х у й знает", "х у й"),
    ],
)
def test_words_spelled_letter_by_letter_are_found_whole(text: str, spelled: str) -> None:
    assert find_profanity(text) == [spelled]
    assert mask_profanity(text) == text.replace(spelled, f"{spelled[0]}***")


@pytest.mark.parametrize(
    "text",
    [
        "Я и в Алматы, и в Астане, а у нас с к о р е е всё",
        "Врач А. А. Иванов, т. к. у нас и т. д.",
        "ул. Абая, д. 5, к. 3, кв. 7",
        "Е. Б. Ахметов и Х. У. Йомаев",
        "I a m ok, U S A",
    ],
)
def test_single_letters_in_ordinary_text_are_left(text: str) -> None:
    assert find_profanity(text) == []


@pytest.mark.parametrize(
    "text",
    [
        # Names the writer hid, and hidden letters that fit no bad word well enough.
        "Врач Ив***ва, медсестра Ах***ва, заведующая Се***ва, Ку***ва, По***ва, Ма***ва.",
        "Дежурил д*р Т*каев, ит*го, б**отоведение, отпаив*ет.",
        "ар***ах, за***ва, Жу***ва, Бл*нова, в*ходящих",
        "Лечили Се***ов, Пе***ин, За**ев и На**ев.",
    ],
)
def test_hidden_letters_that_fit_no_bad_word_are_left(text: str) -> None:
    assert find_profanity(text) == []


# --- Profanity: Kazakh and English --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "word",
    [
        "сіктір", "сіктірші", "сиктир", "СІКТІР", "сігейін", "сигейин", "қотақ", "котак", "қотағың", "қаншық",
        "қаншықтар", "амыңды", "siktir", "qotaq", "с*ктір",
    ],
)  # fmt: skip
def test_kazakh_words_are_found_and_masked(word: str) -> None:
    text = f"Дәрігер маған {word} деді."
    assert find_profanity(text) == [word]
    assert mask_profanity(text) == f"Дәрігер маған {word[0]}*** деді."


@pytest.mark.parametrize(
    "word",
    [
        "fuck", "fucking", "Fucked", "motherfucker", "clusterfuck", "FUCK", "f*ck", "f**k", "fuuuuck", "fuсk",
        "shit", "shitty", "bullshit", "sh1t", "sh*t", "asshole", "a$$hole", "ass", "bitch", "bitches", "b*tch",
        "cunt", "wanker", "twat", "bastard", "whore", "slut", "dickhead", "bollocks", "stfu", "asssshole",
    ],
)  # fmt: skip
def test_english_words_are_found_and_masked(word: str) -> None:
    text = f"The nurse said {word} to my mother."
    assert find_profanity(text) == [word]
    assert mask_profanity(text) == f"The nurse said {word[0]}*** to my mother."


def test_english_spelled_out_is_found() -> None:
    assert find_profanity("What the f u c k, and f.u.c.k again") == ["f u c k", "f.u.c.k"]


# --- Profanity: traps that must stay ------------------------------------------------------------------------------

ORDINARY_RUSSIAN = [
    "Купил хлеб и молоко, хлебал суп.",
    "Это оскорбление пациента, требую извинений.",
    "Нельзя употреблять алкоголь, употребление вредно.",
    "Бляха-муха, опять очередь! Охранник показал бляху.",
    "Охранник показал бляху*, см. ниже.",
    "На УЗИ нашли атеросклеротические бляшки, много бляшек.",
    "Застрахуйте машину, страхование обязательно, страхую и страхуюсь.",
    "Небо было хмурое, для себя и тебе, к небу.",
    "Колебания давления, колебался, колеблется; погребальный, учебный, лечебный, ребёнок, ребята.",
    "Вебинар для врачей, веб-сайт поликлиники.",
    "Сукно, сукровица, сук дерева, сучья.",
    "Мандарин, мандат, командир, мандраж.",
    "Педикулёз у ребёнка, педиатр, педикюр.",
    "Трахея и трахеит, хулиган, Хусейн, Хуан.",
    "Херес, Херсон, херувим.",
    "Себастьян мудрый, гондола, шлюз, шлюпка.",
    "Сухую кожу мажьте, всухую, сухую траву.",
    "Скипидар, застрахованный, учеба, колебание, небанальный.",
    "Блин, опять не приняли. Оскорблять нельзя.",
    "Итого* бесплатно*, **важно**, 5*3=15.",
]
ORDINARY_KAZAKH = [
    "Қолымды көтеру қиын, көтеріп алды.",
    "Телефонда сигнал жоқ, сигарета тартпаңыз.",
    "Қой қотанда, қотандағы малды айтамын.",
    "Маңдайым ауырады, емхана маңда орналасқан.",
    "Аман-есен шықтым, амал жоқ, амалсыз.",
    "Себебі дәрігер келмеді, тұқым себу, себет.",
    "Ебін тапты, ебетейлі адам.",
    "Сіз кімсіз? Сізге рахмет, сіңлім ауырды.",
    "Манды мандымсыз.",
]
ORDINARY_ENGLISH = [
    "I live in Scunthorpe and came to assess the class.",
    "A classic passion for bass and grass, the assistant said.",
    "A cocktail, a peacock, Hancock and Dickens.",
    "Matsushita and Yamashita, Shiite and shiitake.",
    "The analysis at the arsenal, the therapist's cucumber.",
    "A Wankel engine, a niggle, a bastardized form, the ebb tide.",
    "Sussex, Middlesex, Essex; muddily; Eban.",
    "The nurse pricked my finger with a needle.",
]


@pytest.mark.parametrize("text", [*ORDINARY_RUSSIAN, *ORDINARY_KAZAKH, *ORDINARY_ENGLISH])
def test_ordinary_words_are_left(text: str) -> None:
    assert find_profanity(text) == []
    assert mask_profanity(text) == text


# --- Profanity: the result ----------------------------------------------------------------------------------------


def test_find_lists_each_written_form_once_in_order() -> None:
    assert find_profanity("Сука, бля, сука, бля и ещё раз Сука") == ["Сука", "бля", "сука"]


def test_mask_keeps_the_first_letter_and_uses_the_placeholder() -> None:
    text = "Ну ты мудак, блядь."
    assert mask_profanity(text) == "Ну ты м***, б***."
    assert mask_profanity(text, placeholder="…") == "Ну ты м…, б…."


def test_mixed_languages_in_one_text() -> None:
    text = "Дәрігер сіктір деді, потом сказал нахуй, and then fuck off."
    assert find_profanity(text) == ["сіктір", "нахуй", "fuck"]
    assert mask_profanity(text) == "Дәрігер с*** деді, потом сказал н***, and then f*** off."


# --- Public version -----------------------------------------------------------------------------------------------


def test_public_version_hides_both_and_asks_for_a_moderator() -> None:
    public = public_version("Этот мудак дал свой номер 87011234567 и почту doc@mail.ru")
    assert public == Public(
        text="Этот м*** дал свой номер [phone hidden] и почту [e-mail hidden]",
        personal_data=("phone", "email"),
        profanity=("мудак",),
        changed=True,
    )
    assert public.needs_moderator is True


def test_public_version_of_a_clean_text_is_the_text() -> None:
    text = "Спасибо доктору Ахметовой, приём 12.11.2026 в 10:30, кабинет 204!"
    public = public_version(text)
    assert public == Public(text=text, personal_data=(), profanity=(), changed=False)
    assert public.needs_moderator is False


def test_personal_data_alone_needs_no_moderator() -> None:
    public = public_version("Звоните 87011234567", {"phone": "[нөмір жасырылды]"})
    assert public.text == "Звоните [нөмір жасырылды]"
    assert public.changed is True
    assert public.needs_moderator is False


def test_profanity_inside_an_email_goes_with_the_email() -> None:
    public = public_version("Пишите blyat@mail.ru")
    assert (public.text, public.personal_data, public.profanity) == ("Пишите [e-mail hidden]", ("email",), ())


# --- Lexicons are data ---------------------------------------------------------------------------------------------


def test_default_rules_are_loaded_once() -> None:
    assert default_rules() is default_rules()


def test_adding_a_word_to_a_copy_changes_behaviour(data_dir: Path) -> None:
    text = "Врач хрен знает что делает"
    assert find_profanity(text) == []
    edit(data_dir / "profanity_ru.toml", '    "залуп",', '    "залуп", "хрен",')
    assert find_profanity(text, rules=ModerationRules.load(data_dir)) == ["хрен"]


def test_prefixed_stem_added_to_a_copy_matches_with_prefixes(data_dir: Path) -> None:
    edit(data_dir / "profanity_ru.toml", '    "залуп",', '    "залуп", "~хрен",')
    rules = ModerationRules.load(data_dir)
    assert find_profanity("нахрена это, похрен им", rules=rules) == ["нахрена", "похрен"]


def test_removing_an_ordinary_word_from_a_copy_hides_it(data_dir: Path) -> None:
    text = "Бляха-муха, опять очередь"
    assert find_profanity(text) == []
    edit(data_dir / "profanity_ru.toml", '"блях", ', "")
    assert find_profanity(text, rules=ModerationRules.load(data_dir)) == ["Бляха"]


def test_listing_an_ordinary_word_in_a_copy_keeps_it(data_dir: Path) -> None:
    assert find_profanity("Ты bastard") == ["bastard"]
    edit(data_dir / "profanity_en.toml", '"twattl",', '"twattl", "bastard!",')
    assert find_profanity("Ты bastard", rules=ModerationRules.load(data_dir)) == []


def test_a_new_lookalike_in_a_copy_is_read(data_dir: Path) -> None:
    text = "Ну ты 4мо"
    edit(data_dir / "profanity_ru.toml", '    "залуп",', '    "залуп", "чмо!",')
    assert find_profanity(text, rules=ModerationRules.load(data_dir)) == []
    edit(data_dir / "profanity_ru.toml", '"$" = "с"', '"$" = "с"\n"4" = "ч"')
    assert find_profanity(text, rules=ModerationRules.load(data_dir)) == ["4мо"]


def test_a_new_language_file_is_used(data_dir: Path) -> None:
    (data_dir / "profanity_de.toml").write_text('[words]\nprofane = ["scheiß|scheiss"]\n', encoding="utf-8")
    assert find_profanity("So ein Scheißladen!", rules=ModerationRules.load(data_dir)) == ["Scheißladen"]


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("profanity_ru.toml", "= false", "= fals", "profanity_ru.toml: not valid TOML"),
        ("profanity_ru.toml", '    "залуп",', '    "залуп", "ху",', "profanity_ru.toml: words.profane: 'ху'"),
        ("profanity_en.toml", '"cunt", ', '"*cun", ', "profanity_en.toml: words.profane: '\\*cun'"),
        ("profanity_en.toml", '"cunt", ', '"*cunt!", ', "cannot be exact"),
        ("profanity_kk.toml", '    "қаншық",', '    "~қаншық",', "profanity_kk.toml: .*need matching.prefixes"),
        ("profanity_en.toml", '"$" = "s"', '"$" = "ss"', "profanity_en.toml: matching.lookalikes: '\\$'"),
        ("profanity_en.toml", "ordinary = [", "ordnary = [", "profanity_en.toml: \\[words\\]: unknown key 'ordnary'"),
        ("profanity_en.toml", '"shittim", ', '"~shittim", ', "profanity_en.toml: words.ordinary"),
        ("profanity_kk.toml", "fold_kazakh_letters = true", 'fold_kazakh_letters = "yes"', "profanity_kk.toml"),
        ("profanity_ru.toml", '    "залуп",', '    "залуп", "",', "profanity_ru.toml: profane: every item"),
    ],
)
def test_bad_data_file_is_named(data_dir: Path, file: str, old: str, new: str, message: str) -> None:
    edit(data_dir / file, old, new)
    with pytest.raises(ModerationRulesError, match=message):
        ModerationRules.load(data_dir)


def test_missing_lexicons_are_named(tmp_path: Path) -> None:
    with pytest.raises(ModerationRulesError, match=r"no profanity_\*\.toml files"):
        ModerationRules.load(tmp_path)


def test_empty_profane_list_is_refused(data_dir: Path) -> None:
    (data_dir / "profanity_de.toml").write_text("[words]\nprofane = []\n", encoding="utf-8")
    with pytest.raises(ModerationRulesError, match=r"profanity_de\.toml: profane: must be a non-empty list"):
        ModerationRules.load(data_dir)
