"""The language an appeal is written in (the law wants its answer in it) and the language of the office's answer:
Kazakh typed on a Russian keyboard or in Latin letters, Russian with Kazakh names, official Russian, short texts.
The figures on sets written from the policy alone are in bench/text_language.py; these examples are our own."""

from __future__ import annotations

import pytest

from bot.services.text_language import written_in


@pytest.mark.parametrize(("text", "screens", "expected"), [
    # Kazakh with its own letters, from Russian screens.
    ("Дәрігер маған дөрекі сөйледі, анама көмектеспеді", "ru", "kk"),
    # Kazakh typed with Russian look-alikes: none of Kazakh's letters, and no word a Russian dictionary knows.
    ("немерем ауырып жатыр, учаскелик дарыгер уйге келмеди, телефонды алмайды", "ru", "kk"),
    # Kazakh in Latin letters, from English screens.
    ("men zeinetkermin, emhanaga barsam kezek joq deidi, qaitadan keliniz deidi", "en", "kk"),
    # Russian with Kazakh names inside, from Kazakh screens.
    ("Терапевт Жұмабекова Гүлнұр грубо разговаривала и отказалась принять", "kk", "ru"),
    ("Требуют деньги за справку для детского сада", "kk", "ru"),
    # English from Russian screens.
    ("The doctor refused to see my son without a referral", "ru", "en"),
    # Too short, names and numbers only, or a genuine mix: the screens'.
    ("Поликлиника 17", "kk", "kk"),
    ("Жұмабекова Гүлнұр", "ru", "ru"),
    ("кезек очень большой, дәрігер нет", "en", "en"),
    ("", "kk", "kk"),
])
def test_an_appeal_is_answered_in_the_language_it_is_written_in(text: str, screens: str, expected: str) -> None:
    assert written_in(text, screens) == expected


@pytest.mark.parametrize(("text", "appeal", "expected"), [
    # Official Russian has few everyday words; the dictionary knows all of them.
    ("По результатам проверки нарушения подтвердились, приняты меры дисциплинарного характера", "kk", "ru"),
    ("По результатам проверки нарушения подтвердились", "en", "ru"),
    # Official Kazakh typed without its letters is still Kazakh, not a Russian answer to warn of.
    ("Отинишиниз бойынша тексеру жургизилди, кiнaлi дарiгер жазаланды", "kk", "kk"),
    ("Сіздің өтінішіңіз қаралды, емханаға ескерту жасалды", "kk", "kk"),
    ("Your appeal was examined and the clinic was warned", "kk", "en"),
    # Numbers, a name and a phone: not judged, the appeal's.
    ("Исх. № 3-12/00871, Сарсенбаева Р.Б., 8 727 271 55 12", "kk", "kk"),
])
def test_the_offices_answer_is_told_against_the_appeals_language(text: str, appeal: str, expected: str) -> None:
    assert written_in(text, appeal) == expected


def test_a_text_written_in_capitals_is_read_not_taken_for_names() -> None:
    """Many elderly residents write with Caps Lock on: every word capitalised is not every word a name."""
    assert written_in("ДӘРІГЕР КЕЛМЕДІ БАЛАМ ЕКІ КҮН БОЙЫ ЫСТЫҒЫ ТҮСПЕЙ ЖАТЫР", "ru") == "kk"
    assert written_in("ВРАЧ НЕ ПРИШЁЛ НА ВЫЗОВ ХОТЯ МЫ ЖДАЛИ ВЕСЬ ДЕНЬ", "kk") == "ru"


def test_abbreviations_do_not_count_as_kazakh_typed_on_a_russian_keyboard() -> None:
    """No Russian dictionary knows УЗИ or ПМСП: counted, a Russian text full of them read as Kazakh."""
    assert written_in("ОАК ОАМ ЭКГ ФЛГ ВОП ПМСП МРТ не сделали", "ru") == "ru"  # two words left: the screens'
    assert written_in("Направили на ОАК ОАМ и УЗИ, ВОП ПМСП отказал в КТ без объяснений", "kk") == "ru"
