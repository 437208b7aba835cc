"""How the urgency rules read a text: Kazakh in Latin letters read as Cyrillic, amounts of money, verb tense.

Everything here is offline: Russian morphology comes from pymorphy3's packaged dictionaries, Kazakh and English
tense from their regular endings. Each function is cached or cheap, so a review costs well under the 5 ms budget
once the dictionaries are loaded (they load once, on first use, in the worker thread that classifies).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# --- Kazakh in Latin letters ---------------------------------------------------------------------------------

# Both the 2021 official alphabet (ä, ö, ü, ū, ı, ğ, ş, ñ, q) and the informal one people type (sh, ch, zh, gh,
# ng, j, w, y). Longer spellings first. The result is compared with folded Kazakh (қ=к, ұ=ү=у, і=и ...), so the
# ambiguous letters only have to land on the right fold.
_LATIN_TO_CYRILLIC = (
    ("shch", "щ"), ("sh", "ш"), ("ch", "ч"), ("zh", "ж"), ("kh", "х"), ("gh", "ғ"), ("ng", "ң"), ("ya", "я"),
    ("yu", "ю"), ("ts", "ц"), ("ş", "ш"), ("ç", "ч"), ("ğ", "ғ"), ("ñ", "ң"), ("ä", "ә"), ("ö", "ө"), ("ü", "ү"),
    ("ū", "ұ"), ("ı", "ы"), ("i̇", "і"), ("a", "а"), ("b", "б"), ("c", "ц"), ("d", "д"), ("e", "е"), ("f", "ф"),
    ("g", "г"), ("h", "х"), ("i", "и"), ("j", "ж"), ("k", "к"), ("l", "л"), ("m", "м"), ("n", "н"), ("o", "о"),
    ("p", "п"), ("q", "қ"), ("r", "р"), ("s", "с"), ("t", "т"), ("u", "у"), ("v", "в"), ("w", "у"), ("x", "х"),
    ("y", "ы"), ("z", "з"),
)
_LATIN_PIECE = re.compile("|".join(re.escape(latin) for latin, _ in _LATIN_TO_CYRILLIC))
_LATIN_MAP = dict(_LATIN_TO_CYRILLIC)
_LATIN_WORD = re.compile(r"[a-zäöüūığşçñ]+", re.IGNORECASE)
# Words that are common in Kazakh and rare in English, as people write them in Latin letters.
_KAZAKH_LATIN_MARKERS = frozenset(
    "bir eki üsh ush tört tort bes on jyl kün kun ağa aga apa "
    "men sen ol biz siz olar meni mağan magan maghan bizge bizdi bizdin bizdiñ bizden menen mende jane zhane "
    "jäne bul osy sol bar joq jok zhok emes dep dedi degen ushin üshin uşin kerek bolady boldy edi eken de da ta "
    "te ma me pa pe ba be ğoi goi gой qazir kazir keyin keiin biraq birak bіraq tek ğana gana eshkim eşkim "
    "eshtene dariger däriger darigerler emhana emhanada emkhana aqsha aksha akshа aqshasyn akshasyn balam balamdy "
    "anam akem äkem atam ajem äjem apam auru auruhana aurukhana jedel zhedel medbike medbikeler nauqas naukas "
    "ote öte tym köp kop jaqsy zhaksy jaman rahmet rakhmet raqmet sizge sizdi para surady aldy berdi "
    "dedi deidi kelmedi qaramady karamady tekserdi bermedi suragan alady beredi ulym qyzym kyzym balany "
    "medbike hirurg joldama tegin aqyly akyly kezek tirkeu emdeu keldi ketti boldy".split()
)
_ENGLISH_MARKERS = frozenset(
    "the a an and is was were are to of in on for with that this it my our we they he she you not no did do "
    "does have has had at by from but".split()
)


_KAZAKH_LATIN_LETTERS = re.compile(r"[äöüūığşñ]|q(?!u[aeio])")


def kazakh_latin_share(text: str) -> tuple[int, int]:
    """(Kazakh marker words, English marker words) among the Latin words of a text: a Kazakh marker is a common
    Kazakh word or a word with a letter English does not use (ä, ö, ü, ğ, ñ, q without u ...)."""
    words = [word.lower() for word in _LATIN_WORD.findall(text)]
    kazakh = sum(word in _KAZAKH_LATIN_MARKERS or bool(_KAZAKH_LATIN_LETTERS.search(word)) for word in words)
    return kazakh, sum(word in _ENGLISH_MARKERS for word in words)


def is_kazakh_in_latin(text: str) -> bool:
    """Mostly Kazakh words, or some and no English function word at all ("Dariger para surady")."""
    kazakh, english = kazakh_latin_share(text)
    return (kazakh >= 2 and kazakh > english) or (kazakh >= 1 and english == 0)


_VOWEL_THEN_I = re.compile(r"(?<=[аәеиоөұүыіэ])[иіы](?![аәеиоөұүыіэ])")


def latin_to_cyrillic(word: str) -> str:
    """"aqsha" -> "ақша", "bailap" -> "байлап" (i or y after a vowel is й), "jedel" -> "жедел"."""
    cyrillic = _LATIN_PIECE.sub(lambda found: _LATIN_MAP[found.group()], word.lower())
    return _VOWEL_THEN_I.sub("й", cyrillic)


def transliterate_kazakh_latin(text: str) -> str:
    """The text with its Latin words read as Kazakh in Cyrillic, same length per word is NOT kept: callers keep the
    original text for showing the words and use this only to match."""
    return _LATIN_WORD.sub(lambda found: latin_to_cyrillic(found.group()), text)


# --- Tense ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """What a word is, as far as the rules care: its dictionary form and whether it reports a past event."""

    lemma: str
    past: bool
    finite: bool
    # An order or a "you" ("сделайте", "будете"): speech addressed to the resident, not hearsay.
    addressed: bool = False


@lru_cache(maxsize=1)
def _morph():
    import logging

    import pymorphy3

    logging.getLogger("pymorphy3").setLevel(logging.WARNING)  # it announces every dictionary load at INFO
    return pymorphy3.MorphAnalyzer()


@lru_cache(maxsize=65536)
def known_russian_word(word: str) -> bool:
    """The word (lower case) is in pymorphy3's Russian dictionary, in some form: "требовал", "больничный"; a Kazakh
    word typed in Russian letters ("келмеди", "жок") is not."""
    return _morph().word_is_known(word)


_CYRILLIC = re.compile(r"[а-яё]")
_KAZAKH_ONLY = re.compile(r"[әіңғүұқөһ]")
# Kazakh past: -ды/-ді/-ты/-ті (+ person), -ған/-ген/-қан/-кен (+ case or person), folded or not.
_KAZAKH_PAST = re.compile(
    r"(ды|ді|ди|ты|ті|ти)(м|қ|к|ң|н|ңыз|ңіз|ныз|низ|ңдар|ңдер|ндар|ндер|лар|лер|дар|дер)?$"
    r"|(ған|ген|қан|кен|ган|кан)(ын|ін|ин|ы|і|и|мын|мін|мин|быз|біз|биз|дар|дер|лар|лер|да|де|нан|нен)?$"
)
# Words that end like a Kazakh past verb and are not one ("маған", to me).
_KAZAKH_NOT_VERBS = frozenset(
    "маған саған оған соған осыған бұған маган саган оган соган осыган буган қашан кашан".split()
    # Common present-future forms that end like the past (ет-е-ді "does", ал-а-ды "takes"), typed either way.
    + "етеді етеди береді береди келеді келеди алады болады кетеді кетеди қалады калады түседі туседи "
      "тұрады турады жатады жатад салады қояды кояды".split()
)
_ENGLISH_IRREGULAR_PAST = frozenset(
    "was were did had took gave told said paid made sent left put sold got came brought kept hit threw bought "
    "went saw let tied wrote spent lost found felt thought took stole broke fell held caught ran became".split()
)
_ENGLISH_FINITE = frozenset("is are am do does has have will would can could should must may might".split())


@lru_cache(maxsize=65536)
def read_word(norm: str) -> Reading:
    """A lower-cased word in any of the three languages."""
    if not _CYRILLIC.search(norm) and not _KAZAKH_ONLY.search(norm):
        past = norm in _ENGLISH_IRREGULAR_PAST or (len(norm) > 4 and norm.endswith("ed"))
        return Reading(norm, past, past or norm in _ENGLISH_FINITE)
    if not _KAZAKH_ONLY.search(norm):
        morph = _morph()
        if morph.word_is_known(norm):
            parse = morph.parse(norm)[0]
            tag = parse.tag
            finite = tag.POS == "VERB"
            addressed = finite and (tag.mood == "impr" or tag.person == "2per")
            # A future form is matched as written only: "откажут" (they will refuse) is not "отказали".
            lemma = norm if tag.tense == "futr" else parse.normal_form.replace("ё", "е")
            return Reading(lemma, finite and tag.tense == "past", finite, addressed)
    # "-йды/-йді" is the Kazakh present-future ("сұрайды", asks), not the past ("сұрады", asked).
    past = (len(norm) >= 4 and bool(_KAZAKH_PAST.search(norm)) and not re.search(r"й(ды|ді|ди)$", norm)
            and norm not in _KAZAKH_NOT_VERBS)
    return Reading(norm, past, past)


# The Kazakh conditional ("сұраса", "берсеңіз"), on words that are not Russian ("касса", "процессе" are); the
# negated conditional ("бермесең", if you don't give) is a demand, not a supposition. (The evidential past,
# "қалып қойыпты", is left alone: residents use it for what they found out, not only for hearsay.)
_KAZAKH_CONDITIONAL = re.compile(r"(са|се)(м|ң|н|қ|к|ңыз|ңіз|ныз|низ|ңдар|ңдер|ндар|ндер)?$")


@lru_cache(maxsize=65536)
def kazakh_mood(norm: str) -> str | None:
    """"hypothetical" for a Kazakh conditional verb, else None."""
    if len(norm) < 5 or not (_CYRILLIC.search(norm) or _KAZAKH_ONLY.search(norm)):
        return None
    if not _KAZAKH_ONLY.search(norm) and _morph().word_is_known(norm):
        return None
    found = _KAZAKH_CONDITIONAL.search(norm)
    # With a person ending the word must be long enough not to be a noun ("төсек", bed, is not "if we ...").
    if found and (not found.group(2) or len(norm) >= 7) and not re.search(r"(ма|ме|ба|бе|па|пе)(са|се)", norm):
        return "hypothetical"
    return None


# --- Amounts of money ---------------------------------------------------------------------------------------

AMOUNT = "amount#"
# "10k", "5к", "20000тг", "50 000 тенге", "10 тысяч", "15 мың", "$100": a number with a unit of money.
_AMOUNT_UNIT = re.compile(
    r"^(k|к|кк|тыс\w*|млн|миллион\w*|million|millions|тг|тенге|теңге|tenge|tg|kzt|₸|мың\w*|мын\w*|myn\w*|myñ\w*|thousand|grand|доллар\w*|dollars?|usd|руб\w*)$"
)
_AMOUNT_GLUED = re.compile(r"^\d+(k|к|тг|tg|kzt|₸|тыс|мың|мын|000)$")


# Numbers in words, as people write sums: "бес мың", "пять тысяч", "fifty thousand" (a unit must follow).
NUMBER_WORDS = frozenset(
    "один два три четыре пять шесть семь восемь девять десять пятнадцать двадцать тридцать сорок пятьдесят "
    "шестьдесят семьдесят восемьдесят девяносто сто двести триста пятьсот полторы пару "
    "бір екі үш төрт бес алты жеті сегіз тоғыз он жиырма отыз қырық елу алпыс жетпіс сексен тоқсан жүз "
    "one two three four five six seven eight nine ten fifteen twenty thirty forty fifty sixty seventy eighty "
    "ninety hundred a".split()
)
# People without a Kazakh keyboard type the nearest Russian letter (urgency.fold_kazakh reads words through it).
KAZAKH_FOLD = str.maketrans("әіңғүұқөһ", "аингуукох")
# The same Kazakh numbers typed that way ("бир", "еки мын", "жуз", "токсан").
NUMBER_WORDS |= {word.translate(KAZAKH_FOLD) for word in NUMBER_WORDS}
_THOUSANDS = re.compile(
    r"^(тыс\w*|мың\w*|мын\w*|myñ\w*|myn\w*|thousand|grand|k|к|млн|миллион\w*|million|millions|mln)$"
)


def is_amount(word: str, following: str | None) -> bool:
    """A number with a unit of money, or the unit glued on ("10k"); bare numbers are not money ("давление 220")."""
    if _AMOUNT_GLUED.match(word):
        return True
    if word in NUMBER_WORDS and word != "a":
        return following is not None and bool(_THOUSANDS.match(following))
    if word.isdigit() and len(word) >= 4 and following in _PRICE_OF:
        return True  # "берёт 2000 за направление", "took 3,000 for the drip": a price, not a year or a pressure
    return word.isdigit() and following is not None and bool(_AMOUNT_UNIT.match(following))


_PRICE_OF = frozenset({"за", "for", "үшін", "ушин", "ушін", "ushin", "üshin"})
