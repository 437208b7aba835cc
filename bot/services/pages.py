"""Ratings as people read them: top lists, doctor and clinic pages, paged within Telegram's limit, never cut."""

from __future__ import annotations

import html
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.config import Settings
from bot.keyboards import address_in, name_in
from bot.l10n import L10n
from bot.services import moderation
from bot.telegram_limits import TEXT_LIMIT, telegram_length
from storage.models import CRITERIA, Clinic, Doctor, Review, Role, Specialty
from storage.repositories import Repositories

TOP_PAGE = 10
REVIEWS_PAGE = 5
DOCTORS_PAGE = 10
ANSWERS_PAGE = 5
# Reports of violations go to the prosecutor's office, not on public pages; they still count in the ratings.
PUBLIC_KINDS = ("gratitude", "complaint")
BAR_WIDTH = 10


@dataclass
class Listing:
    """One page of something paged: its messages (each within the limit), where it is, and what it links to."""

    parts: list[str]
    page: int
    pages: int
    links: list[tuple[str, int]] = field(default_factory=list)  # button label, id it opens
    extra: dict[str, Any] = field(default_factory=dict)


def span(l10n: L10n, first: int, last: int, total: int) -> dict[str, str]:
    """"first–last of total" of a page, written as the language writes numbers ("1 201–1 205 of 12 500")."""
    return {"first": l10n.number(first, 0), "last": l10n.number(last, 0), "total": l10n.number(total, 0)}


def score_text(score: float, l10n: L10n | None = None) -> str:
    """A score with two decimals as the language writes them: "4,39" in ru and kk, "4.39" in en."""
    return l10n.number(score, 2) if l10n is not None else f"{score:.2f}"


def rating_line(l10n: L10n, stats: Any, min_reviews: int) -> str:
    """The score with its number of reviews, or why there is none yet (HTML)."""
    count = stats.review_count if stats is not None else 0
    if count == 0:
        return l10n("score.none")
    if count < min_reviews:
        return l10n("score.too_few", reviews=l10n.count("reviews", count))
    return l10n("score.rated", score=score_text(stats.score, l10n), reviews=l10n.count("reviews", count))


def short_rating(l10n: L10n, stats: Any, min_reviews: int) -> str:
    """Plain text for buttons and inline results."""
    if not is_rated(stats, min_reviews):
        return l10n("score.short_none")
    return l10n("score.short", score=score_text(stats.score, l10n), count=l10n.number(stats.review_count, 0))


def pages_of(total: int, size: int) -> int:
    return max(1, math.ceil(total / size))


async def _paged(fetch: Callable[[int, int], Awaitable[tuple[Sequence[Any], int]]], page: int,
                 size: int) -> tuple[Sequence[Any], int, int, int]:
    """Rows of a page, the total, and the page and page count; a page past the end (the list shrank) shows the last."""
    rows, total = await fetch(max(page, 0) * size, size)
    pages = pages_of(total, size)
    if not 0 <= page < pages:
        page = min(max(page, 0), pages - 1)
        rows, total = await fetch(page * size, size)
    return rows, total, page, pages


def local_date(moment: Any, settings: Settings) -> str:
    return moment.astimezone(settings.zone).strftime("%d.%m.%Y")


# --- Long content: blocks packed into messages ---------------------------------------------------------------


def _split_escaped(raw: str, first_budget: int, budget: int) -> list[str]:
    """`raw` escaped for HTML and cut into pieces within the budgets, at a line break or space where possible."""
    pieces, start, limit = [], 0, first_budget
    while start < len(raw):
        size, end = 0, start
        while end < len(raw) and size + telegram_length(html.escape(raw[end])) <= limit:
            size += telegram_length(html.escape(raw[end]))
            end += 1
        if end < len(raw):
            cut = max(raw.rfind("\n", start, end), raw.rfind(" ", start, end))
            if cut > start + (end - start) // 2:
                end = cut + 1
        pieces.append(html.escape(raw[start:end].strip()))
        start, limit = end, budget
    return pieces


def text_block(header: str, raw: str) -> list[str]:
    """A header line and a person's text: one block, or several when it cannot fit one message."""
    block = f"{header}\n{html.escape(raw)}"
    if telegram_length(block) <= TEXT_LIMIT:
        return [block]
    pieces = _split_escaped(raw, TEXT_LIMIT - telegram_length(header) - 1, TEXT_LIMIT)
    return [f"{header}\n{pieces[0]}", *pieces[1:]]


def pack(header: str, blocks: Sequence[str]) -> list[str]:
    """Messages of whole blocks (a block moves to the next message rather than being cut)."""
    parts, current = [], header
    for block in blocks:
        candidate = f"{current}\n\n{block}" if current else block
        if telegram_length(candidate) <= TEXT_LIMIT:
            current = candidate
        else:
            parts.append(current)
            current = block
    parts.append(current)
    return [part for part in parts if part]


def author_shown(l10n: L10n, review: Review) -> str:
    """The author as they chose to be shown: their first name, or nothing at all (plain text)."""
    return review.author_name if not review.anonymous and review.author_name else l10n("pages.anonymous")


def review_blocks(l10n: L10n, review: Review, doctor: Doctor | None, settings: Settings) -> list[str]:
    author = author_shown(l10n, review)
    header = l10n("pages.review_header", kind=l10n(f"kind.{review.kind}"),
                  stars=l10n("flow.stars", n=review.rating) if review.rating else "—",
                  date=local_date(review.created_at, settings), author=html.escape(author))
    if doctor is not None:
        header += "\n" + l10n("pages.about_doctor", doctor=html.escape(doctor.full_name))
    text = moderation.public_text_of(review, l10n)
    if not text:
        return [f"{header}\n{l10n('pages.voice_only')}"]
    return text_block(header, text)


# --- Top lists ---------------------------------------------------------------------------------------------


@dataclass
class TopRows:
    """One page of a top list as the bot ranks it: the ranked rows (see RatingRepo.top_doctors), then the
    (Doctor, Clinic, review count) of those with too few reviews; `start` is the place before the first row."""

    ranked: Sequence[Any]
    unranked: Sequence[Any]
    page: int
    pages: int
    start: int


async def top_rows(repo: Repositories, settings: Settings, specialty: Specialty, *, district: Any = None,
                   clinic: Clinic | None = None, page: int = 0, size: int = TOP_PAGE) -> TopRows:
    """The ranked doctors first, then those with too few reviews (listed, never ranked), `size` per page."""
    minimum = settings.ratings.min_reviews
    scope = {"district_id": district.id if district else None, "clinic_id": clinic.id if clinic else None}
    ranked_total = await repo.ratings.count_ranked(specialty.id, min_reviews=minimum, **scope)
    unranked_total = await repo.ratings.count_unranked(specialty.id, min_reviews=minimum, **scope)
    pages = pages_of(ranked_total + unranked_total, size)
    page = min(max(page, 0), pages - 1)
    start = page * size
    ranked = await repo.ratings.top_doctors(specialty.id, min_reviews=minimum, offset=start, limit=size, **scope)
    unranked: Sequence[Any] = []
    if len(ranked) < size:
        unranked = await repo.ratings.unranked_doctors(specialty.id, min_reviews=minimum,
                                                       offset=max(start - ranked_total, 0),
                                                       limit=size - len(ranked), **scope)
    return TopRows(ranked, unranked, page, pages, start)


async def top_list(repo: Repositories, l10n: L10n, settings: Settings, specialty: Specialty, *,
                   district: Any = None, clinic: Clinic | None = None, page: int = 0) -> Listing:
    """The ranked doctors first, then those with too few reviews (listed, never ranked), TOP_PAGE per page."""
    minimum = settings.ratings.min_reviews
    rows = await top_rows(repo, settings, specialty, district=district, clinic=clinic, page=page)
    ranked, unranked, page, pages, start = rows.ranked, rows.unranked, rows.page, rows.pages, rows.start
    where = (name_in(clinic, l10n.language) if clinic else name_in(district, l10n.language) if district
             else l10n("top.whole_city"))
    lines = [l10n("top.title", specialty=html.escape(name_in(specialty, l10n.language)), scope=html.escape(where))]
    listing = Listing([], page, pages, extra={"empty": not ranked and not unranked})
    if listing.extra["empty"]:
        listing.parts = ["\n\n".join([*lines, l10n("top.empty")])]
        return listing
    lines.append("")
    for place, row in enumerate(ranked, start + 1):
        lines.append(l10n("top.entry", place=place, name=html.escape(row.full_name),
                          rating=rating_line(l10n, row, minimum),
                          clinic=html.escape(getattr(row, f"clinic_{l10n.language}"))))
        listing.links.append((l10n("top.ranked_button", place=place, name=row.full_name,
                                   score=score_text(row.score, l10n)), row.doctor_id))
    if unranked:
        lines += ["", l10n("top.unranked_title", min=minimum)]
        for doctor, doctor_clinic, count in unranked:
            lines.append(l10n("top.unranked_entry", name=html.escape(doctor.full_name),
                              reviews=l10n.count("reviews", count),
                              clinic=html.escape(name_in(doctor_clinic, l10n.language))))
            listing.links.append((l10n("top.unranked_button", name=doctor.full_name,
                                       reviews=l10n.count("reviews", count)), doctor.id))
    lines += ["", l10n("top.page", page=page + 1, pages=pages)]
    listing.parts = ["\n".join(lines)]  # at most TOP_PAGE short entries: far within one message
    return listing


# --- Doctor and clinic pages ----------------------------------------------------------------------------------


def _breakdown(l10n: L10n, stats: Any) -> list[str]:
    counts = {stars: getattr(stats, f"stars_{stars}") for stars in range(5, 0, -1)}
    widest = max(counts.values()) or 1
    lines = [l10n("doctor_page.stars_title")]
    for stars, count in counts.items():
        bar = "█" * round(BAR_WIDTH * count / widest) or "·"
        lines.append(l10n("doctor_page.stars_row", stars=stars, bar=bar, count=l10n.number(count, 0)))
    rated = criteria_of(stats)
    if rated:
        lines += ["", l10n("doctor_page.criteria_title")]
        for name, mean, count in rated:
            lines.append(l10n("doctor_page.criterion", name=criterion_label(l10n, name), value=l10n.number(mean, 1),
                              count=l10n.number(count, 0)))
    return lines


def criteria_of(stats: Any) -> list[tuple[str, float, int]]:
    """(criterion, mean stars, how many rated it) of the criteria anyone rated, in CRITERIA order."""
    rated = [(name, getattr(stats, f"{name}_sum"), getattr(stats, f"{name}_count")) for name in CRITERIA]
    return [(name, total / count, count) for name, total, count in rated if count]


def criterion_label(l10n: L10n, name: str) -> str:
    label = l10n(f"criteria.{name}")
    return label[:1].upper() + label[1:]


def is_rated(stats: Any, min_reviews: int) -> bool:
    """Whether a score is shown (and ranked) rather than "not enough reviews yet"."""
    return stats is not None and stats.review_count >= min_reviews


async def doctor_page(repo: Repositories, l10n: L10n, settings: Settings, doctor: Doctor, page: int) -> Listing:
    """Page 0: score, stars, criteria and the latest reviews; further pages: older reviews."""
    stats = await repo.ratings.of_doctor(doctor.id)
    rows, total, page, pages = await _paged(
        lambda offset, limit: repo.ratings.public_reviews(kinds=PUBLIC_KINDS, doctor_id=doctor.id, offset=offset,
                                                          limit=limit), page, REVIEWS_PAGE)
    first, last = page * REVIEWS_PAGE + 1, page * REVIEWS_PAGE + len(rows)
    if page == 0:
        clinic = await repo.directory.clinic(doctor.clinic_id)
        specialty = await repo.directory.specialty(doctor.specialty_id)
        lines = [l10n("doctor_page.title", name=html.escape(doctor.full_name)),
                 l10n("doctor_page.about", specialty=html.escape(name_in(specialty, l10n.language)),
                      clinic=html.escape(name_in(clinic, l10n.language))),
                 rating_line(l10n, stats, settings.ratings.min_reviews)]
        if stats is not None:
            lines += ["", *_breakdown(l10n, stats)]
        lines.append("")
        lines.append(l10n("doctor_page.reviews_title", **span(l10n, first, last, total)) if rows
                     else l10n("doctor_page.no_reviews"))
    else:
        lines = [l10n("doctor_page.more_reviews_title", name=html.escape(doctor.full_name),
                      **span(l10n, first, last, total))]
    blocks = [block for review, _ in rows for block in review_blocks(l10n, review, None, settings)]
    return Listing(pack("\n".join(lines), blocks), page, pages)


async def _public_count(repo: Repositories, **where: int) -> int:
    _, total = await repo.ratings.public_reviews(kinds=PUBLIC_KINDS, offset=0, limit=0, **where)
    return total


async def clinic_overview(repo: Repositories, l10n: L10n, settings: Settings, clinic: Clinic, page: int) -> Listing:
    """The card (address, phone, score) and its doctors by score, DOCTORS_PAGE per page."""
    minimum = settings.ratings.min_reviews
    stats = await repo.ratings.of_clinic(clinic.id)
    rows, total, page, pages = await _paged(
        lambda offset, limit: repo.ratings.doctors_of_clinic(clinic.id, min_reviews=minimum, offset=offset,
                                                             limit=limit), page, DOCTORS_PAGE)
    lines = [l10n("clinic_page.title", name=html.escape(name_in(clinic, l10n.language)))]
    if address := address_in(clinic, l10n.language):
        lines.append(l10n("clinic_page.address", address=html.escape(address)))
    if clinic.phone:
        lines.append(l10n("clinic_page.phone", phone=html.escape(clinic.phone)))
    lines += [rating_line(l10n, stats, minimum), ""]
    if rows:
        first = page * DOCTORS_PAGE + 1
        lines.append(l10n("clinic_page.doctors_title", **span(l10n, first, first + len(rows) - 1, total)))
    else:
        lines.append(l10n("clinic_page.no_doctors"))
    listing = Listing([], page, pages)
    for place, (doctor, specialty, doctor_stats) in enumerate(rows, page * DOCTORS_PAGE + 1):
        specialty_name = name_in(specialty, l10n.language)
        lines.append(l10n("clinic_page.doctor_entry", place=place, name=html.escape(doctor.full_name),
                          specialty=html.escape(specialty_name), rating=short_rating(l10n, doctor_stats, minimum)))
        listing.links.append((l10n("clinic_page.doctor_button", name=doctor.full_name, specialty=specialty_name),
                              doctor.id))
    listing.parts = ["\n".join(lines)]
    listing.extra = {"reviews": await _public_count(repo, clinic_id=clinic.id),
                     "answers": (await _answers(repo, clinic, 0, 0))[1]}
    return listing


async def _answers(repo: Repositories, clinic: Clinic, offset: int, limit: int) -> tuple[Sequence[Any], int]:
    return await repo.ratings.published_answers(clinic.id, role=Role.CLINIC_STAFF, kinds=PUBLIC_KINDS, offset=offset,
                                                limit=limit)


async def clinic_reviews(repo: Repositories, l10n: L10n, settings: Settings, clinic: Clinic, page: int) -> Listing:
    """Every review of the institution that is shown (its doctors' too), newest first."""
    rows, total, page, pages = await _paged(
        lambda offset, limit: repo.ratings.public_reviews(kinds=PUBLIC_KINDS, clinic_id=clinic.id, offset=offset,
                                                          limit=limit), page, REVIEWS_PAGE)
    name = html.escape(name_in(clinic, l10n.language))
    if not rows:
        return Listing([l10n("clinic_page.no_reviews")], page, pages)
    first = page * REVIEWS_PAGE + 1
    header = l10n("clinic_page.reviews_title", name=name, **span(l10n, first, first + len(rows) - 1, total))
    blocks = [block for review, doctor in rows for block in review_blocks(l10n, review, doctor, settings)]
    return Listing(pack(header, blocks), page, pages)


async def clinic_answers(repo: Repositories, l10n: L10n, settings: Settings, clinic: Clinic, page: int) -> Listing:
    """The clinic's published answers to its shown reviews, newest first."""
    rows, total, page, pages = await _paged(lambda offset, limit: _answers(repo, clinic, offset, limit), page,
                                            ANSWERS_PAGE)
    if not rows:
        return Listing([l10n("clinic_page.no_answers")], page, pages)
    first = page * ANSWERS_PAGE + 1
    header = l10n("clinic_page.answers_title", name=html.escape(name_in(clinic, l10n.language)),
                  **span(l10n, first, first + len(rows) - 1, total))
    blocks = []
    for response, review in rows:
        line = l10n("clinic_page.answer_to", date=local_date(response.created_at, settings),
                    review_date=local_date(review.created_at, settings), kind=l10n(f"kind.{review.kind}"),
                    stars=l10n("flow.stars", n=review.rating) if review.rating else "—")
        blocks += text_block(line, moderation.public_text_of(response, l10n))
    return Listing(pack(header, blocks), page, pages)


def nearest_text(l10n: L10n, settings: Settings, nearest: Sequence[tuple[Clinic, float, Any]]) -> Listing:
    """The nearest polyclinics with their distance and score, each a link to its page."""
    lines = [l10n("nearest.title"), ""]
    listing = Listing([], 0, 1)
    for place, (clinic, km, stats) in enumerate(nearest, 1):
        name = name_in(clinic, l10n.language)
        lines.append(l10n("nearest.entry", place=place, name=html.escape(name), km=l10n.number(km, 1),
                          rating=rating_line(l10n, stats, settings.ratings.min_reviews)))
        listing.links.append((l10n("nearest.button", place=place, name=name, km=l10n.number(km, 1)), clinic.id))
    listing.parts = ["\n".join(lines)]
    return listing
