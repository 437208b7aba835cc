"""What each public web page shows, gathered from the same services and reads as the bot's pages.

Nothing here decides what is public or how it is ranked: published reviews come from `repo.ratings.public_reviews`
with `pages.PUBLIC_KINDS`, their words from `moderation.public_text_of`, answers from the published-answer reads, scores
and "not enough reviews yet" from `pages` and the stats kept by `services.ratings`, top lists from
`pages.top_rows`, search from the inline search's index. A change to those rules shows on the web as in the bot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from markupsafe import Markup

from bot.config import Settings
from bot.keyboards import address_in, name_in
from bot.l10n import L10n
from bot.services import moderation, pages
from bot.services.directory_index import DirectoryIndex
from handlers.inline import find
from storage.models import Clinic, District, Doctor, Review, Role, Specialty
from storage.repositories import Repositories

REVIEWS_PAGE = 20  # a web page holds more than a Telegram message
# Longer lists say "more than 2,000" and page on without a last page: counting 50,000 reviews costs more than
# the rest of the page together.
COUNT_UP_TO = 2000
SEARCH_RESULTS = 30
CITY = "Almaty"  # schema.org addressLocality: the directory is Almaty's


@dataclass
class Links:
    """The page's t.me links: leave a review at the right step, and the same page in the bot."""

    leave: str
    open: str


@dataclass
class Rating:
    line: Markup  # the bot's rating line (score and counted reviews, or why there is none)
    rated: bool  # a score is shown (and may go into aggregateRating)
    score: str | None
    count: int
    stars: list[tuple[int, int]] = field(default_factory=list)  # (stars, reviews), 5 down to 1
    widest: int = 1
    criteria: list[tuple[str, str, str]] = field(default_factory=list)  # (label, mean, how many rated it)


@dataclass
class Answer:
    date: str
    text: str


@dataclass
class ShownReview:
    kind: str
    stars: str
    rating: int
    date: str
    iso_date: str
    author: str
    doctor: Doctor | None
    text: str | None  # None: a voice message only
    language: str  # the language the resident wrote in
    answers: list[Answer]


@dataclass
class Paged:
    items: list[ShownReview]
    page: int  # 0-based
    pages: int | None  # None: more than COUNT_UP_TO reviews, not counted to the end
    total: int  # COUNT_UP_TO when there are at least that many
    first: int
    last: int
    more: bool  # there is an older page

    @property
    def counted(self) -> bool:
        return self.pages is not None


def links_for(bot_username: str, leave: str | None, open_: str | None) -> Links:
    base = f"https://t.me/{bot_username}"
    return Links(leave=f"{base}?start={leave}" if leave else base, open=f"{base}?start={open_}" if open_ else base)


def rating_of(l10n: L10n, stats: Any, settings: Settings) -> Rating:
    minimum = settings.ratings.min_reviews
    rated = pages.is_rated(stats, minimum)
    rating = Rating(line=Markup(pages.rating_line(l10n, stats, minimum)), rated=rated,
                    score=pages.score_text(stats.score) if rated else None,
                    count=stats.review_count if stats is not None else 0)
    if stats is not None and stats.review_count:
        rating.stars = [(stars, getattr(stats, f"stars_{stars}")) for stars in range(5, 0, -1)]
        rating.widest = max(count for _, count in rating.stars) or 1
        for name, mean, count in pages.criteria_of(stats):
            rating.criteria.append((pages.criterion_label(l10n, name), l10n.number(mean, 1), l10n.number(count, 0)))
    return rating


def short_rating(l10n: L10n, stats: Any, settings: Settings) -> str:
    return pages.short_rating(l10n, stats, settings.ratings.min_reviews)


async def reviews_page(repo: Repositories, l10n: L10n, settings: Settings, page: int, **where: int) -> Paged:
    """One page of the published reviews of a clinic or a doctor, newest first, each with its published answers."""
    page = max(page, 0)
    rows, total = await repo.ratings.public_reviews(kinds=pages.PUBLIC_KINDS, offset=page * REVIEWS_PAGE,
                                                    limit=REVIEWS_PAGE + 1, count_up_to=COUNT_UP_TO, **where)
    more, rows = len(rows) > REVIEWS_PAGE, rows[:REVIEWS_PAGE]
    counted = total < COUNT_UP_TO
    answers = await repo.ratings.published_answers_to([review.id for review, _ in rows], role=Role.CLINIC_STAFF)
    items = [shown_review(l10n, settings, review, doctor, answers.get(review.id, [])) for review, doctor in rows]
    first = page * REVIEWS_PAGE + 1
    return Paged(items, page, pages.pages_of(total, REVIEWS_PAGE) if counted else None, total, first,
                 first + len(items) - 1, more)


def shown_review(l10n: L10n, settings: Settings, review: Review, doctor: Doctor | None,
                 answers: Sequence[Any]) -> ShownReview:
    text = moderation.public_text_of(review, l10n)
    return ShownReview(
        kind=l10n(f"kind.{review.kind}"), stars=l10n("flow.stars", n=review.rating), rating=review.rating,
        date=pages.local_date(review.created_at, settings), iso_date=_iso_day(review.created_at, settings),
        author=pages.author_shown(l10n, review), doctor=doctor, text=text or None, language=review.language,
        answers=[Answer(pages.local_date(answer.created_at, settings), moderation.public_text_of(answer, l10n))
                 for answer in answers])


def _iso_day(moment: datetime, settings: Settings) -> str:
    return moment.astimezone(settings.zone).date().isoformat()


# --- Pages -------------------------------------------------------------------------------------------------


async def home(repo: Repositories, l10n: L10n, settings: Settings, directory: DirectoryIndex, query: str,
               now: datetime) -> dict[str, Any]:
    districts = sorted(await repo.directory.districts(),
                       key=lambda district: name_in(district, l10n.language).casefold())
    results: list[dict[str, Any]] = []
    if query.strip():
        index = await directory.current(repo)
        hits = [hit for hit in await find(repo, index, query, settings) if index.has(*hit)][:SEARCH_RESULTS]
        clinic_stats = await repo.ratings.of_clinics([entity for kind, entity in hits if kind == "clinic"])
        doctor_stats = await repo.ratings.of_doctors([entity for kind, entity in hits if kind == "doctor"])
        for kind, entity in hits:
            if kind == "clinic":
                clinic = index.clinics[entity]
                results.append({"kind": "clinic", "id": entity, "name": name_in(clinic, l10n.language),
                                "detail": address_in(clinic, l10n.language) or "",
                                "rating": short_rating(l10n, clinic_stats.get(entity), settings)})
            else:
                doctor = index.doctors[entity]
                results.append({"kind": "doctor", "id": entity, "name": doctor.full_name,
                                "detail": l10n("doctor_page.about", clinic=name_in(index.clinics[doctor.clinic_id],
                                                                                   l10n.language),
                                               specialty=name_in(index.specialties[doctor.specialty_id],
                                                                 l10n.language)),
                                "rating": short_rating(l10n, doctor_stats.get(entity), settings)})
    return {"districts": districts, "query": query, "results": results, "searched": bool(query.strip())}


async def district_page(repo: Repositories, l10n: L10n, settings: Settings, district: District) -> dict[str, Any]:
    found = await repo.directory.active_clinics(district.id)
    stats = await repo.ratings.of_clinics([clinic.id for clinic in found])
    listed = [{"clinic": clinic, "name": name_in(clinic, l10n.language), "address": address_in(clinic, l10n.language),
               "rating": short_rating(l10n, stats.get(clinic.id), settings)}
              for clinic in sorted(found, key=lambda clinic: (clinic.number or 10**6, clinic.id))]
    return {"district": district, "name": name_in(district, l10n.language), "clinics": listed}


async def clinic_page(repo: Repositories, l10n: L10n, settings: Settings, clinic: Clinic, page: int,
                      url: str) -> dict[str, Any]:
    stats = await repo.ratings.of_clinic(clinic.id)
    rating = rating_of(l10n, stats, settings)
    district = await repo.directory.district(clinic.district_id) if clinic.district_id else None
    doctor_rows, _ = await repo.ratings.doctors_of_clinic(clinic.id, min_reviews=settings.ratings.min_reviews,
                                                         offset=0, limit=1000)
    doctors = [{"doctor": doctor, "specialty": name_in(specialty, l10n.language),
                "rating": short_rating(l10n, doctor_stats, settings)}
               for doctor, specialty, doctor_stats in doctor_rows]
    reviews = await reviews_page(repo, l10n, settings, page, clinic_id=clinic.id)
    name = name_in(clinic, l10n.language)
    address = address_in(clinic, l10n.language)
    data: dict[str, Any] = {"@context": "https://schema.org", "@type": "MedicalClinic", "name": name, "url": url}
    if address:
        data["address"] = {"@type": "PostalAddress", "streetAddress": address, "addressLocality": CITY,
                           "addressCountry": "KZ"}
    if clinic.phone:
        data["telephone"] = clinic.phone
    if clinic.latitude is not None and clinic.longitude is not None:
        data["geo"] = {"@type": "GeoCoordinates", "latitude": clinic.latitude, "longitude": clinic.longitude}
    _aggregate(data, rating, stats)
    return {"clinic": clinic, "name": name, "address": address,
            "district": district and name_in(district, l10n.language),
            "district_id": clinic.district_id, "rating": rating, "doctors": doctors, "reviews": reviews,
            "map_url": map_url(clinic), "jsonld": data}


async def doctor_page(repo: Repositories, l10n: L10n, settings: Settings, doctor: Doctor, page: int,
                      url: str, clinic_url: str) -> dict[str, Any]:
    stats = await repo.ratings.of_doctor(doctor.id)
    rating = rating_of(l10n, stats, settings)
    clinic = await repo.directory.clinic(doctor.clinic_id)
    specialty: Specialty = await repo.directory.specialty(doctor.specialty_id)
    reviews = await reviews_page(repo, l10n, settings, page, doctor_id=doctor.id)
    specialty_name = name_in(specialty, l10n.language)
    clinic_name = name_in(clinic, l10n.language)
    address = address_in(clinic, l10n.language)
    data: dict[str, Any] = {"@context": "https://schema.org", "@type": "Physician", "name": doctor.full_name,
                            "url": url, "medicalSpecialty": specialty_name,
                            "memberOf": {"@type": "MedicalClinic", "name": clinic_name, "url": clinic_url}}
    if address:
        data["address"] = {"@type": "PostalAddress", "streetAddress": address, "addressLocality": CITY,
                           "addressCountry": "KZ"}
    _aggregate(data, rating, stats)
    return {"doctor": doctor, "clinic": clinic, "clinic_name": clinic_name, "address": address, "specialty": specialty,
            "specialty_name": specialty_name, "rating": rating, "reviews": reviews, "jsonld": data}


def _aggregate(data: dict[str, Any], rating: Rating, stats: Any) -> None:
    # Only where the page shows a score: a rating from too few reviews is not one.
    if rating.rated:
        data["aggregateRating"] = {"@type": "AggregateRating", "ratingValue": round(stats.score, 2),
                                   "reviewCount": stats.review_count, "bestRating": 5, "worstRating": 1}


def map_url(clinic: Clinic) -> str | None:
    """A link (not an embedded map: nothing is fetched from other hosts) to the clinic on OpenStreetMap."""
    if clinic.latitude is None or clinic.longitude is None:
        return None
    lat, lon = f"{clinic.latitude:.6f}", f"{clinic.longitude:.6f}"
    return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"


async def specialties(repo: Repositories, l10n: L10n) -> list[tuple[Specialty, str]]:
    return sorted(((specialty, name_in(specialty, l10n.language))
                   for specialty in await repo.ratings.specialties_with_doctors()),
                  key=lambda item: item[1].casefold())


async def top_page(repo: Repositories, l10n: L10n, settings: Settings, specialty: Specialty,
                   district: District | None, page: int) -> dict[str, Any]:
    rows = await pages.top_rows(repo, settings, specialty, district=district, page=page)
    minimum = settings.ratings.min_reviews
    ranked = [{"place": place, "doctor_id": row.doctor_id, "name": row.full_name,
               "rating": Markup(pages.rating_line(l10n, row, minimum)),
               "clinic": getattr(row, f"clinic_{l10n.language}"), "clinic_id": row.clinic_id}
              for place, row in enumerate(rows.ranked, rows.start + 1)]
    unranked = [{"doctor_id": doctor.id, "name": doctor.full_name, "reviews": l10n.count("reviews", count),
                 "clinic": name_in(clinic, l10n.language), "clinic_id": clinic.id}
                for doctor, clinic, count in rows.unranked]
    districts = sorted(await repo.ratings.districts_with_specialty(specialty.id),
                       key=lambda item: name_in(item, l10n.language).casefold())
    return {"specialty": specialty, "specialty_name": name_in(specialty, l10n.language),
            "district": district, "scope": name_in(district, l10n.language) if district else l10n("top.whole_city"),
            "districts": [(item, name_in(item, l10n.language)) for item in districts],
            "ranked": ranked, "unranked": unranked, "page": rows.page, "pages": rows.pages, "minimum": minimum}


async def sitemap_entries(repo: Repositories, directory: DirectoryIndex, now: datetime) -> list[str]:
    """Paths (without the language) of every page worth indexing."""
    index = await directory.current(repo)
    paths = ["/", "/top/"]
    paths += [f"/district/{district.id}" for district in await repo.directory.districts()]
    paths += [f"/clinic/{clinic_id}" for clinic_id in sorted(index.clinics)]
    paths += [f"/doctor/{doctor_id}" for doctor_id in sorted(index.doctors)]
    paths += [f"/top/{specialty.id}" for specialty in await repo.ratings.specialties_with_doctors()]
    return paths
