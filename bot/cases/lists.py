"""What the office reads: a case's line, /cases as a filtered working list with pages, /case with its history."""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import AlertAction, AlertActionV1, CaseListV1
from bot.cases import cards as alerts
from bot.cases.actions import name_of
from bot.cases.cards import OPEN_STATUSES, URGENCY_MARK, CaseView
from bot.config import Settings
from bot.keyboards import name_in
from bot.l10n import L10n
from bot.ops.logs import bind_reference
from bot.references import bare_reference, office_reference
from bot.services import outbox
from storage.models import AuditLog, Case, CaseStatus, District
from storage.repositories import Repositories

URGENCY_ORDER = {"critical": 0, "high": 1, "normal": 2}
TEXT_LIMIT = 3800  # of one message to the chat (Telegram takes 4096; the rest is headroom for markup)
LIST_PAGE = 10
# What a history line shows of an entry's details, by action (the substance, not codes).
HISTORY_DETAIL = {"case.asked": "question", "case.closed": "answer", "case.rejected": "reason",
                  "case.extended": "reason", "case.resident_added": "text", "case.note": "text",
                  "case.reopened": "reason", "case.withdrawn": "reason"}


def open_button(view: CaseView, l10n: L10n) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=l10n("alert.button_open", reference=view.review.reference),
                                callback_data=AlertActionV1(case_id=view.case.id, action=AlertAction.OPEN).pack())



def case_line(view: CaseView, l10n: L10n) -> str:
    clinic = getattr(view.clinic, f"name_{l10n.language}")
    due = view.case.due_date.strftime("%d.%m.%Y") if view.case.due_date else "—"
    if view.case.due_provisional:
        due += l10n("case_card.provisional_short")
    line = l10n("cases.line", mark=URGENCY_MARK[view.case.urgency], reference=view.review.reference,
                clinic=html.escape(clinic), due=due, status=l10n(f"case_status.{view.case.status}"))
    if view.assignee_name:
        line += l10n("case_office.line_assignee", name=html.escape(view.assignee_name))
    if view.case.reopened_count:
        line += l10n("case_office.line_reopened")
    if view.clinic_answered_at is not None and view.case.status in OPEN_STATUSES:
        line += l10n("case_office.line_clinic_answered")
    # Escalated: the polyclinic left it unanswered past clinics.answer_working_days (bot.services.clinics.escalate).
    return line + l10n("clinic_escalation.mark") if alerts.clinic_silent(view) else line


def bounded(title: str, lines: list[str], l10n: L10n, limit: int = TEXT_LIMIT, head: Sequence[str] = ()) -> str:
    """A title and as many lines as fit in one message, then how many of them were left out. The `head` (blank
    lines, a heading) goes with the first line, never alone, and is not counted: "…and N more" is of the list's
    own lines (cases, history entries), not of the lines that frame them."""
    text = title
    if not lines:
        framed = "\n".join(head)
        return text + "\n" + framed if head and len(text) + len(framed) + 1 <= limit else text
    for shown, line in enumerate(lines):
        if shown == 0 and head:
            line = "\n".join([*head, line])
        if len(text) + len(line) + 1 > limit:
            return text + "\n" + l10n("cases.more", count=l10n.number(len(lines) - shown, 0))
        text += "\n" + line
    return text


@dataclass
class CaseQuery:
    """The filters of /cases, read from its words (see the usage text, cases.usage_list)."""

    statuses: tuple[str, ...] = OPEN_STATUSES
    urgency: str | None = None
    clinic_number: int | None = None
    district: str | None = None
    category: str | None = None
    mine: bool = False
    overdue: bool = False
    escalated: bool = False
    words: str | None = None
    # Words searched for that look like a filter mistyped ("overdu", "клиника:17"): named when nothing is found.
    not_filters: list[str] = field(default_factory=list)


STATUS_WORDS = {"open": OPEN_STATUSES, "closed": (CaseStatus.CLOSED,), "rejected": (CaseStatus.REJECTED,),
                "forwarded": (CaseStatus.FORWARDED, CaseStatus.TRANSFERRED), "withdrawn": (CaseStatus.WITHDRAWN,),
                "waiting": (CaseStatus.WAITING_RESIDENT,), "all": ()}
FILTER_WORDS = (*STATUS_WORDS, *URGENCY_ORDER, "mine", "overdue", "escalated")


def looks_like_a_filter(word: str) -> bool:
    """A "name:value" the filters do not know, or a near miss of a filter's word."""
    return ":" in word or bool(difflib.get_close_matches(word, FILTER_WORDS, n=1, cutoff=0.8))


def phone_digits(words: str | None) -> str | None:
    """The last ten digits of a phone number typed as the whole search ("+7 (701) 765-43-21", "87017654321"), or
    None for anything else: a reference's digits alone ("2026000123") included, which no phone number has."""
    digits = re.sub(r"\D", "", words or "")
    if (not words or not re.fullmatch(r"[+\d\s()\-]+", words) or not 10 <= len(digits) <= 12
            or bare_reference(words)):
        return None
    return digits[-10:]


def district_matches(district: District, wanted: str) -> bool:
    """By its id or a name, or by a word of a name in any language as officers say it ("бостандык", "алмалы")."""
    names = (district.name_en.lower(), district.name_ru.lower(), district.name_kk.lower())
    if wanted in (district.external_id.lower(), *names) or district.external_id.lower().endswith(":" + wanted):
        return True
    return len(wanted) >= 4 and any(word.startswith(wanted) for name in names for word in name.split())


def parse_query(args: str | None) -> CaseQuery:
    """`/cases [open|closed|rejected|forwarded|withdrawn|waiting|all] [critical|high|normal] [mine] [overdue]
    [escalated] [clinic:17] [district:almaly] [category:extortion] [words to search]`."""
    query = CaseQuery()
    words = []
    for word in (args or "").split():
        low = word.lower()
        if low in STATUS_WORDS:
            query.statuses = STATUS_WORDS[low]
        elif low in URGENCY_ORDER:
            query.urgency = low
        elif low == "mine":
            query.mine = True
        elif low == "overdue":
            query.overdue = True
        elif low == "escalated":
            query.escalated = True
        elif low.startswith("clinic:") and low[7:].isdigit():
            query.clinic_number = int(low[7:])
        elif low.startswith("district:") and low[9:]:
            query.district = low[9:]
        elif low.startswith("category:") and low[9:]:
            query.category = low[9:]
        else:
            words.append(word)
            if looks_like_a_filter(low):
                query.not_filters.append(word)
    query.words = " ".join(words) or None
    return query


async def list_page(repo: Repositories, settings: Settings, args: str | None, page: int, actor: int,
                    today: date) -> tuple[str, InlineKeyboardMarkup | None]:
    """One page of /cases: the filtered cases with an Open button each, and pages."""
    l10n = alerts.chat_l10n(settings)
    query = parse_query(args)
    clinic_id = district_id = None
    if query.clinic_number is not None:
        clinic = await repo.clinics.find(str(query.clinic_number))
        clinic_id = clinic.id if clinic else -1
    if query.district is not None:
        districts = await repo.directory.districts()
        match = [d for d in districts if district_matches(d, query.district)]
        if not match:  # said, rather than "no cases match" for a district that is not there
            return l10n("cases.unknown_district", district=html.escape(query.district), districts=", ".join(
                html.escape(name_in(d, l10n.language)) for d in districts)), None
        district_id = match[0].id
    reference = None
    phone = phone_digits(query.words)
    if phone:  # the resident's number, as they give it on the phone: searched among their shared numbers only
        query.words = None
    elif query.words and (found := office_reference(query.words, today.year)):
        reference, query.words = found, None
    name_ids = await repo.caseload.people_named(query.words) if query.words else []
    cases, total = await repo.caseload.search(
        statuses=query.statuses, urgency=query.urgency, clinic_id=clinic_id, district_id=district_id,
        category=query.category, assignee=actor if query.mine else None,
        overdue_before=today if query.overdue else None, escalated=query.escalated, words=query.words,
        name_ids=name_ids, reference=reference, phone=phone, offset=page * LIST_PAGE, limit=LIST_PAGE)
    if total == 0:
        if query.not_filters:
            return l10n("cases.none_found") + "\n" + l10n("cases.not_filters", words=", ".join(
                f"«{html.escape(word)}»" for word in query.not_filters)), None
        return l10n("cases.none_found"), None
    views = [await alerts.load(repo, case) for case in cases]
    pages = (total + LIST_PAGE - 1) // LIST_PAGE
    title = l10n("cases.title_found", count=l10n.number(total, 0), page=l10n.number(page + 1, 0),
                 pages=l10n.number(pages, 0))
    text = bounded(title, [case_line(view, l10n) for view in views], l10n)
    rows = [[open_button(view, l10n)] for view in views]
    packed = (args or "").replace(":", "=")  # ":" separates the fields of callback data
    turns = []
    try:
        if page > 0:
            turns.append(InlineKeyboardButton(text=l10n("cases.previous"),
                                              callback_data=CaseListV1(page=page - 1, query=packed).pack()))
        if page + 1 < pages:
            turns.append(InlineKeyboardButton(text=l10n("cases.next"),
                                              callback_data=CaseListV1(page=page + 1, query=packed).pack()))
    except ValueError:  # the filters do not fit in a button's 64 bytes: no pages, but the way to narrow it
        turns = []
        text += "\n" + l10n("cases.narrow")
    if turns:
        rows.append(turns)
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


async def find_case(repo: Repositories, words: str, year: int) -> Case | None:
    reference = office_reference(words, year)
    review = await repo.reviews.by_reference(reference) if reference else None
    return await repo.reviews.case_of(review.id) if review else None


async def who(repo: Repositories, entry: AuditLog, view: CaseView, l10n: L10n) -> str:
    """The person by name, the resident (never their Telegram id), or the bot."""
    actor = entry.actor_telegram_id
    if actor is None:
        return l10n("case_history.system")
    if view.author.telegram_id is not None and actor == view.author.telegram_id:
        return l10n("case_history.resident")
    return await name_of(repo, actor, l10n)


async def history_lines(repo: Repositories, view: CaseView, l10n: L10n, settings: Settings) -> list[str]:
    """Who did what, with the substance: the question, the addition, the extension's reason, the destination,
    the answer's text, the reopening."""
    lines = []
    for entry in await repo.reviews.history(view.review.id):
        details = entry.details or {}
        action = l10n(f"case_history.{entry.action}") if l10n.has(f"case_history.{entry.action}") \
            else html.escape(entry.action)
        detail = details.get(HISTORY_DETAIL.get(entry.action, ""))
        if entry.action == "case.forwarded" and details.get("destination"):
            destination = details["destination"]
            detail = (html.escape(name_in(view.clinic, l10n.language)) if destination == "clinic"
                      else alerts.destination_name(destination, l10n))
        elif entry.action == "case.taken_over" and details.get("previous_assignee"):
            detail = l10n("case_history.from", name=await name_of(repo, details["previous_assignee"], l10n))
        elif entry.action == "case.extended" and details.get("due"):
            detail = l10n("case_history.extended_to", due=date.fromisoformat(details["due"]).strftime("%d.%m.%Y"),
                          reason=html.escape(str(details.get("reason") or "")))
        elif detail:
            detail = html.escape(str(detail))
            detail = detail if len(detail) <= 500 else detail[:500] + "…"
        line = l10n("cases.history_line", when=entry.at.astimezone(settings.zone).strftime("%d.%m.%Y %H:%M"),
                    action=action, who=await who(repo, entry, view, l10n))
        lines.append(line + (f": {detail}" if detail else ""))
    return lines


async def one_case(repo: Repositories, settings: Settings, words: str,
                   today: date) -> tuple[str, InlineKeyboardMarkup | None]:
    """/case REF (or its number): the card with its history, and the actions its state allows."""
    l10n = alerts.chat_l10n(settings)
    case = await find_case(repo, words, today.year)
    if case is None:
        return l10n("cases.not_found", reference=html.escape(words)), None
    view = await alerts.load(repo, case)
    bind_reference(view.review.reference)
    lines = await history_lines(repo, view, l10n, settings)
    return (bounded(alerts.card_text(view, l10n, settings.zone), lines, l10n, head=["", l10n("cases.history")]),
            alerts.card_keyboard(view, l10n))


async def office_card_text(repo: Repositories, view: CaseView, l10n: L10n, settings: Settings) -> str:
    """The card as the office's chat shows it. A reopened case keeps the resident's latest disagreement and the
    history on its card: every redraw (a button pressed, a due date counted again) goes through here, or they
    would vanish from the card at the first press."""
    text = alerts.card_text(view, l10n, settings.zone)
    if not view.case.reopened_count:
        return text
    history = await repo.reviews.history(view.review.id)
    reason = next(((entry.details or {}).get("reason", "") for entry in reversed(history)
                   if entry.action == "case.reopened"), "")
    disagreement = "\n\n" + l10n("case_office.disagreement", reason=html.escape(str(reason)))
    if len(text) + len(disagreement) <= TEXT_LIMIT:  # one too long follows the card whole (resident.reopen)
        text += disagreement
    return bounded(text, await history_lines(repo, view, l10n, settings), l10n, head=["", l10n("cases.history")])


async def show_on_card(repo: Repositories, settings: Settings, case: Case, now: datetime, change: str,
                       detail: str = "") -> None:
    """The card already in the office's chat shows a change made outside a button press (a due date counted again,
    the resident's withdrawal): the edit goes through the outbox, since no press edits it. `change` and `detail` name
    the change in the dedupe key, so each is shown once."""
    chat_id = settings.prosecutor.chat_id
    if chat_id is None or await repo.outbox.card_of(case.review_id, chat_id) is None:
        return  # an ordinary case never opened in the chat has no card to correct
    view = await alerts.load(repo, case)
    l10n = alerts.chat_l10n(settings)
    await outbox.edit_card(repo, chat_id=chat_id, review_id=case.review_id, now=now,
                           dedupe_key=f"card-{change}:{view.review.reference}:{chat_id}"
                                      + (f":{detail}" if detail else ""),
                           text=await office_card_text(repo, view, l10n, settings),
                           reply_markup=alerts.card_keyboard(view, l10n))
