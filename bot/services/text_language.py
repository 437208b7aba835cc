"""The language an appeal is written in, which the law says its answer must be in: not always the language of the
bot's screens (a Kazakh speaker whose phone is in Russian reads the Russian screens and writes in Kazakh)."""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W\d_]+")
_KAZAKH_LETTERS = frozenset("әіңғүұқөһ")
# Everyday Kazakh words written without a letter of its own ("мен", "деп", "бала"), and Russian ones Kazakh does
# not use, so that a text of either is told apart even where it has none of Kazakh's own letters.
_KAZAKH_WORDS = frozenset("""мен сен ол біз бар жоқ емес және деп деді еді екен болды болып керек маған оған
    оны оның сол бала балам анам әкем дәрігер дәрігері емхана емханада ауырады сұрады берді алды кетті келді
    жатыр тұр үшін бірақ енді әлі тағы қазір бүгін кеше""".split())
_RUSSIAN_WORDS = frozenset("""и в во не на что я с со он она а как по это мне меня был была было были врач
    врача у к из за от но же только уже очень сказал сказала нет да его её ее их когда где который которая
    поликлиника поликлинике после без для при""".split())
OFFICIAL_WORDS = 6  # an answer this long in Cyrillic without a Kazakh letter is not Kazakh (official_text_in)
SURE_FROM = 3  # words of one language, and more than twice the other's, before the screens' language is overruled


def _is_kazakh(word: str) -> bool:
    return word in _KAZAKH_WORDS or bool(_KAZAKH_LETTERS.intersection(word))


def _words(text: str) -> list[str]:
    # A capitalised word inside a sentence is a name ("Терапевт Жұмабекова Гүлнұр грубила"): its letters tell
    # nothing of the language the sentence is in.
    names = {match.start() for match in _WORD.finditer(text)
             if match.group()[0].isupper() and text[:match.start()].rstrip()[-1:] not in ("", ".", "!", "?", "\n")}
    return [match.group().casefold() for match in _WORD.finditer(text) if match.start() not in names]


def written_in(text: str | None, screens: str) -> str:
    """"kk", "ru" or "en" for what the text is written in; the screens' language when the text is short, mixed or
    names only ("Әуезов" in a Russian text keeps it Russian)."""
    words = _words(text or "")
    kazakh = sum(1 for word in words if _is_kazakh(word))
    russian = sum(1 for word in words if word in _RUSSIAN_WORDS)
    latin = sum(1 for word in words if word.isascii())
    counts = {"kk": kazakh, "ru": russian, "en": latin if latin > len(words) / 2 else 0}
    best = max(counts, key=counts.__getitem__)
    others = max(count for language, count in counts.items() if language != best)
    if counts[best] >= SURE_FROM and counts[best] > 2 * others:
        return best
    return screens


def official_text_in(text: str | None, appeal: str) -> str:
    """The language of the office's words to the resident, told against the appeal's (`appeal` when unsure).

    Official Russian has few of the everyday words written_in counts ("По результатам проверки нарушения
    подтвердились"), but Kazakh is never written long without a letter of its own: a Cyrillic text of
    OFFICIAL_WORDS words or more with no Kazakh letter or word is Russian."""
    found = written_in(text, appeal)
    if found != appeal or appeal != "kk":
        return found
    words = _words(text or "")
    cyrillic = [word for word in words if not word.isascii()]
    kazakh = any(_is_kazakh(word) for word in words)
    return "ru" if len(cyrillic) >= OFFICIAL_WORDS and not kazakh else found
