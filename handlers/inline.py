"""Inline mode: `@bot query` in any chat finds doctors and polyclinics; an empty query shows the city's best, and
one that may be an emergency happening now shows the ambulance's number first."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime

from aiogram import Bot, Router
from aiogram.types import InlineQuery, InlineQueryResultArticle, InputTextMessageContent
from aiogram.utils.deep_linking import create_start_link

from bot.config import Settings
from bot.keyboards import address_in, name_in
from bot.l10n import L10n
from bot.rating_keyboards import make_inline_card_keyboard
from bot.services import pages, search, specialty_words
from bot.services.directory_index import DirectoryIndex, Snapshot
from storage.repositories import Repositories

PAGE = 20  # results per answer (Telegram takes up to 50); the rest comes with next_offset
MAX_RESULTS = 100
BEST_CLINICS = 10
BEST_DOCTORS = 40
RESULTS_TTL = 30  # seconds: our cache of a query's hits, and Telegram's (cache_time)
CACHE_SIZE = 512
AMBULANCE_RESULT = "ambulance"  # the id of the ambulance line's result (1-64 bytes; doctors' and clinics' are d1, c1)
# A doctor the index matched on every word typed (a name, an official specialty): the query is theirs, and is not
# read again for what people call a specialty.
WHOLE_MATCH = 0.95

Hit = tuple[str, int]  # ("clinic" | "doctor", id)


@dataclass
class HitCache:
    """A query's hits for RESULTS_TTL seconds, so that scrolling through pages does not search again (a new
    directory version searches again at once). At most CACHE_SIZE queries are kept."""

    entries: dict[str, tuple[datetime, int | None, list[Hit]]] = field(default_factory=dict)

    def get(self, key: str, now: datetime, version: int | None) -> list[Hit] | None:
        entry = self.entries.get(key)
        if entry is None or (now - entry[0]).total_seconds() >= RESULTS_TTL or entry[1] != version:
            return None
        return entry[2]

    def put(self, key: str, hits: list[Hit], now: datetime, version: int | None) -> None:
        self.entries.pop(key, None)
        self.entries[key] = (now, version, hits)
        while len(self.entries) > CACHE_SIZE:
            del self.entries[next(iter(self.entries))]


async def find(repo: Repositories, directory: Snapshot, query: str, settings: Settings) -> list[Hit]:
    if not query.strip():
        minimum = settings.ratings.min_reviews
        best = [("clinic", clinic.id) for _, clinic in
                await repo.ratings.best_clinics(min_reviews=minimum, limit=BEST_CLINICS)]
        best += [("doctor", doctor.id) for _, doctor, _, _ in
                 await repo.ratings.best_doctors(min_reviews=minimum, limit=BEST_DOCTORS)]
        # Before anyone has enough reviews, the city's polyclinics in their order stand in for its best.
        return [hit for hit in best if directory.has(*hit)] or [
            ("clinic", clinic.id) for clinic in sorted(directory.clinics.values(),
                                                       key=lambda clinic: (clinic.number or 10**6, clinic.id))]
    scored = [(score, 0, "clinic", place.id) for place, score in directory.index.places(query, limit=10)]
    people = directory.index.people(query, limit=MAX_RESULTS)
    by_specialty = [] if any(score >= WHOLE_MATCH for _, score in people) else doctors_by_specialty(directory, query)
    if by_specialty:
        # What people call a specialty ("көз дәрігері", "окулист") or what is wrong ("тізем ауырады"), as the bot's
        # own search reads them: the index knows official names only, and read "көз" as the surname Козлова.
        scored += [(1.0, 1, "doctor", doctor_id) for doctor_id in by_specialty]
    else:
        scored += [(score, 1, "doctor", person.id) for person, score in people]
    # Equally good matches ("терапевт" matches every therapist) are ordered by their rating: ranked ones by score,
    # then those without enough reviews.
    minimum = settings.ratings.min_reviews
    clinic_stats = await repo.ratings.of_clinics([entity_id for _, _, kind, entity_id in scored if kind == "clinic"])
    doctor_stats = await repo.ratings.of_doctors([entity_id for _, _, kind, entity_id in scored if kind == "doctor"])

    def rank(item: tuple[float, int, str, int]) -> tuple[float, int, int, float]:
        relevance, order, kind, entity_id = item
        stats = (clinic_stats if kind == "clinic" else doctor_stats).get(entity_id)
        ranked = stats is not None and stats.review_count >= minimum
        return (-round(relevance, 1), order, 0 if ranked else 1, -(stats.score if ranked else 0.0))

    scored.sort(key=rank)
    return [(kind, entity_id) for _, _, kind, entity_id in scored[:MAX_RESULTS]]


def doctors_by_specialty(directory: Snapshot, query: str) -> list[int]:
    """The doctors of the specialties `query` names or its complaint suggests (specialty_words.read), of the
    polyclinic whose number it gives ("окулист 17"), if any."""
    # Without the therapist added as the first step for a complaint: "болит колено" lists traumatologists, not
    # fifteen therapists before them (the first step is /top's button of its own).
    found = specialty_words.read(query, list(directory.specialties.values())).read_specialties
    return directory.doctors_of(found, search.clinic_numbers(query)) if found else []


async def articles(repo: Repositories, directory: Snapshot, hits: list[Hit], l10n: L10n, bot: Bot,
                   settings: Settings) -> list[InlineQueryResultArticle]:
    minimum, language = settings.ratings.min_reviews, l10n.language
    clinic_stats = await repo.ratings.of_clinics([entity_id for kind, entity_id in hits if kind == "clinic"])
    doctor_stats = await repo.ratings.of_doctors([entity_id for kind, entity_id in hits if kind == "doctor"])
    results = []
    for kind, entity_id in hits:
        if kind == "doctor":
            doctor = directory.doctors[entity_id]
            clinic = name_in(directory.clinics[doctor.clinic_id], language)
            specialty = name_in(directory.specialties[doctor.specialty_id], language)
            stats = doctor_stats.get(entity_id)
            title = doctor.full_name
            description = l10n("inline.doctor_description", specialty=specialty, clinic=clinic,
                               rating=pages.short_rating(l10n, stats, minimum))
            card = [l10n("doctor_page.title", name=html.escape(doctor.full_name)),
                    l10n("doctor_page.about", specialty=html.escape(specialty), clinic=html.escape(clinic))]
        else:
            place = directory.clinics[entity_id]
            stats = clinic_stats.get(entity_id)
            title = name_in(place, language)
            address = address_in(place, language)
            description = l10n("inline.clinic_description", address=address or "—",
                               rating=pages.short_rating(l10n, stats, minimum))
            card = [l10n("clinic_page.title", name=html.escape(title))]
            if address:
                card.append(l10n("clinic_page.address", address=html.escape(address)))
        card.append(pages.rating_line(l10n, stats, minimum))
        markup = make_inline_card_keyboard(l10n, await create_start_link(bot, f"page-{kind}-{entity_id}"),
                                           await create_start_link(bot, f"{kind}-{entity_id}"))
        results.append(InlineQueryResultArticle(
            id=f"{kind[0]}{entity_id}", title=title, description=description, reply_markup=markup,
            input_message_content=InputTextMessageContent(message_text="\n".join(card))))
    return results


def ambulance_article(l10n: L10n) -> InlineQueryResultArticle:
    """The ambulance line as a result of its own: its title and description say the number in the list itself, and
    choosing it posts the bot's ambulance text into the chat (for the person beside the one who is unwell)."""
    return InlineQueryResultArticle(
        id=AMBULANCE_RESULT, title=l10n("inline.ambulance_title"), description=l10n("inline.ambulance_description"),
        input_message_content=InputTextMessageContent(message_text=l10n("ambulance.call_now")))


def make_router(settings: Settings) -> Router:
    router = Router(name="inline")
    # One per dispatcher: every test and every bot process gets its own.
    cache = HitCache()

    @router.inline_query()
    async def inline_search(query: InlineQuery, repo: Repositories, l10n: L10n, bot: Bot, now: datetime,
                            directory_index: DirectoryIndex) -> None:
        offset = int(query.offset) if query.offset.isdigit() else 0
        key = search.normalise(query.query)
        directory = await directory_index.current(repo)
        hits = cache.get(key, now, directory.version)
        if hits is None:
            hits = await find(repo, directory, query.query, settings)
            cache.put(key, hits, now, directory.version)
        # Hits may name entries a newer index no longer has (deactivated meanwhile): those are left out.
        shown = [hit for hit in hits[offset:offset + PAGE] if directory.has(*hit)]
        more = offset + PAGE < len(hits)
        results = await articles(repo, directory, shown, l10n, bot, settings)
        # As the bot's own search does: 103 before any doctor, once (on the first page, not on each one scrolled to).
        if offset == 0 and specialty_words.is_emergency(query.query):
            results.insert(0, ambulance_article(l10n))
        await query.answer(results, cache_time=RESULTS_TTL,
                           is_personal=True, next_offset=str(offset + PAGE) if more else "")

    return router
