"""The language an appeal is written in, which the law says its answer must be in: not always the language of the
bot's screens (a Kazakh speaker whose phone is in Russian reads the Russian screens and writes in Kazakh)."""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W\d_]+")
_KAZAKH_LETTERS = frozenset("әіңғүұқөһ")
_KAZAKH_FOLD = str.maketrans("әіңғүұқөһ", "аингуукох")  # as typed on a Russian keyboard: "ішім" → "ишим"
# Everyday Kazakh words written without a letter of its own ("мен", "деп", "бала"), and Russian ones Kazakh does
# not use, so that a text of either is told apart even where it has none of Kazakh's own letters.
_KAZAKH_WORDS = frozenset("""мен сен ол біз бар жоқ емес және деп деді еді екен болды болып керек маған оған
    оны оның сол бала балам анам әкем дәрігер дәрігері емхана емханада ауырады сұрады берді алды кетті келді
    жатыр тұр үшін бірақ енді әлі тағы қазір бүгін кеше""".split())
_RUSSIAN_WORDS = frozenset("""и в во не на что я с со он она а как по это мне меня был была было были врач
    врача у к из за от но же только уже очень сказал сказала нет да его её ее их когда где который которая
    поликлиника поликлинике после без для при""".split())
# The same Kazakh words typed with Russian look-alikes ("жок", "ушин", "дариgер"): Kazakh, though a Russian
# dictionary knows a few of them as other words ("бала", "кеше", "алды").
_KAZAKH_FOLDED = frozenset(word.translate(_KAZAKH_FOLD) for word in _KAZAKH_WORDS) - _RUSSIAN_WORDS
# Kazakh in Latin letters (a phone without a Kazakh keyboard, or the Latin alphabet of 2021): its everyday words,
# and a q not followed by u, which English words hardly have ("qalasy", "arqyly", "qabyldamady").
_KAZAKH_LATIN_WORDS = frozenset("""men sen ol biz bar jok joq zhok emes jane zhane dep dedi edi eken boldy bolyp
    kerek magan ogan ony onyn sol bala balam anam akem dariger darigerge emhana emkhana emhanada emhanaga
    auyrady surady berdi aldy ketti keldi jatyr tur ushin ushin biraq birak endi ali tagy qazir kazir bugin
    keshe salem salemetsiz rakhmet rahmet bul kalai qalai nege kezek sagat kuttim""".split())
_KAZAKH_LATIN_LETTERS = frozenset("äöüığşñūáóúǵńý")
_LATIN_Q = re.compile(r"q(?!u)")
# English never goes a sentence without some of these; Kazakh in Latin letters has none of them.
_ENGLISH_WORDS = frozenset("""the a an to of and or in on at by for from with without about after before is are
    was were be been am i my me mine we our us you your he him his she her it its they them their this that these
    those there here what when where who why how which not no yes do does did done have has had can could will
    would should must may please help very but so if because just only also again still doctor doctors clinic
    hospital polyclinic appointment nurse mother father son daughter child wife husband today yesterday hours
    waited told said asked refused""".split())
SURE_FROM = 3  # words of one language, and more than twice the other's weight, before the screens' are overruled
# A word certain of its language (a Kazakh letter, a word of the lists above) weighs twice one told by the Russian
# dictionary's knowing it or not: "тез", "арада" are Russian words too, "узи" is not Kazakh.
CERTAIN, LIKELY = 2, 1


def _is_kazakh(word: str) -> bool:
    return word in _KAZAKH_WORDS or bool(_KAZAKH_LETTERS.intersection(word))


def _language_of_word(word: str, latin_is_kazakh: bool) -> tuple[str, int] | None:
    """The language of one lower-case word and how sure that is (CERTAIN or LIKELY); None for a word of one or two
    letters, which tells little.

    Cyrillic without Kazakh letters is Russian when a Russian dictionary (pymorphy3) knows it, else Kazakh typed
    with Russian look-alikes ("келмеди", "иштемейди"): that tells the Kazakh written on a Russian keyboard, which
    has none of Kazakh's own letters, from Russian. A Latin word is Kazakh by the list or a q without u, English by
    the list, and otherwise the language the text's other Latin words point to (`latin_is_kazakh`)."""
    if _is_kazakh(word) or word in _KAZAKH_FOLDED or word in _KAZAKH_LATIN_WORDS:
        return "kk", CERTAIN
    if word in _RUSSIAN_WORDS:
        return "ru", CERTAIN
    if word in _ENGLISH_WORDS:
        return "en", CERTAIN
    if len(word) < 3:
        return None
    if word.isascii() or _KAZAKH_LATIN_LETTERS.intersection(word):
        if _LATIN_Q.search(word) or _KAZAKH_LATIN_LETTERS.intersection(word):
            return "kk", LIKELY
        return ("kk" if latin_is_kazakh else "en"), LIKELY
    from bot.services.urgency_text import known_russian_word  # the dictionaries load once, at start-up's warm-up

    return ("ru" if known_russian_word(word.replace("ё", "е")) else "kk"), LIKELY


def _latin_is_kazakh(words: list[str]) -> bool:
    """Latin words of the text point to Kazakh: some of its words or a q without u, and next to no English word."""
    latin = [word for word in words if word.isascii()]
    kazakh = sum(1 for word in latin if word in _KAZAKH_LATIN_WORDS or _LATIN_Q.search(word))
    english = sum(1 for word in latin if word in _ENGLISH_WORDS)
    return kazakh >= 2 and english <= 1


def _words(text: str) -> list[str]:
    # A capitalised word inside a sentence is a name ("Терапевт Жұмабекова Гүлнұр грубила"): its letters tell
    # nothing of the language the sentence is in. A word in capitals is not: many write a whole text so.
    names = {match.start() for match in _WORD.finditer(text)
             if match.group()[0].isupper() and not match.group().isupper()
             and text[:match.start()].rstrip()[-1:] not in ("", ".", "!", "?", "\n")}
    # A short word in capitals is an abbreviation (УЗИ, ВОП, ПМСП, ЕКГ): no dictionary knows it, and in either
    # language it would count as Kazakh typed on a Russian keyboard.
    return [match.group().casefold() for match in _WORD.finditer(text) if match.start() not in names
            and not (len(match.group()) <= 4 and match.group().isupper())]


def written_in(text: str | None, screens: str) -> str:
    """"kk", "ru" or "en" for what the text is written in; the screens' language when the text is short, mixed or
    names only ("Әуезов" in a Russian text keeps it Russian)."""
    words = _words(text or "")
    latin_is_kazakh = _latin_is_kazakh(words)
    weight, count = {"kk": 0, "ru": 0, "en": 0}, {"kk": 0, "ru": 0, "en": 0}
    for word in words:
        if (found := _language_of_word(word, latin_is_kazakh)) is not None:
            weight[found[0]] += found[1]
            count[found[0]] += 1
    best = max(weight, key=weight.__getitem__)
    others = max(value for language, value in weight.items() if language != best)
    if count[best] >= SURE_FROM and weight[best] > 2 * others:
        return best
    return screens
