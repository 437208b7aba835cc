"""Callback data factories: the only way buttons carry data (never trusted: handlers re-check the state)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

from aiogram.filters.callback_data import CallbackData

Data = TypeVar("Data", bound=CallbackData)


def buttons_under(message: Any, kind: type[Data]) -> list[Data]:
    """The `kind` buttons under a message (the bot's own, from a reply's reply_to_message), unpacked: which case a
    question asks about, which review a post shows, when a person answers it with Telegram's Reply."""
    markup = getattr(message, "reply_markup", None) if message is not None else None
    prefix = f"{kind.__prefix__}{kind.__separator__}"
    return [kind.unpack(button.callback_data) for row in getattr(markup, "inline_keyboard", None) or []
            for button in row if button.callback_data and button.callback_data.startswith(prefix)]


class MenuAction(StrEnum):
    FEEDBACK = "feedback"
    TOP = "top"
    MY_REVIEWS = "my"
    RIGHTS = "rights"
    LANGUAGE = "language"
    HOME = "home"  # back to the main menu from any screen


class ConsentAction(StrEnum):
    ACCEPT = "accept"
    DECLINE = "decline"


class LanguageChoice(CallbackData, prefix="lang"):
    code: str


class ConsentChoice(CallbackData, prefix="consent"):
    action: ConsentAction
    version: str


class MenuChoice(CallbackData, prefix="menu"):
    action: MenuAction


# --- Leaving feedback (short prefixes: callback_data is at most 64 bytes) ---------------------------------


class Target(StrEnum):
    DOCTOR = "doctor"
    CLINIC = "clinic"
    UNKNOWN = "unknown"


class FlowAction(StrEnum):
    BACK = "back"
    CANCEL = "cancel"
    CONTINUE = "continue"
    SKIP = "skip"
    SUBMIT = "submit"
    NAMED = "named"
    ANONYMOUS = "anon"
    UPDATE_PREVIOUS = "update"
    OTHER_DOCTOR = "other"
    DISTRICTS = "districts"
    CHANGE_CLINIC = "chclinic"
    RESUME = "resume"  # an unfinished review: continue it
    START_OVER = "restart"  # ... or discard it and begin anew
    DISCARD = "discard"  # Cancel confirmed on a draft with text or files
    KEEP = "keep"  # ... or not
    CLEAR_TEXT = "cleartext"  # the description reopened: write it again from scratch
    ADD_TEXT = "addtext"  # a text sent after the description was closed: add it
    DROP_TEXT = "droptext"  # ... or leave it out
    SHOW_NAME = "showname"  # toggles "show my first name publicly"
    CRITERIA = "criteria"  # rate attentiveness, professionalism... (only on request)
    OUTCOME = "outcome"  # say what outcome is wanted (optional)
    BEHALF = "behalf"  # on whose behalf: opens the choice
    NAME = "name"  # the appellant's full name: type it
    CLEAR_NAME = "clearname"
    TAKE_NAME = "takename"  # a text sent at the preview is the appellant's full name, not part of the story


class DistrictPick(CallbackData, prefix="fd"):
    district_id: int
    page: int = 0


class ClinicPick(CallbackData, prefix="fc"):
    clinic_id: int


class TargetPick(CallbackData, prefix="ft"):
    target: Target


class SpecialtyPick(CallbackData, prefix="fs"):
    specialty_id: int


class SpecialtyPage(CallbackData, prefix="fsp"):
    page: int


class DoctorPick(CallbackData, prefix="fo"):
    doctor_id: int


class DoctorPage(CallbackData, prefix="fop"):
    specialty_id: int
    page: int


class KindPick(CallbackData, prefix="fk"):
    """Kind and category on one screen: a complaint button carries its category; a violation's is asked next."""

    kind: str
    category: str


class CategoryPick(CallbackData, prefix="fg"):
    category: str


class StarsPick(CallbackData, prefix="fr"):
    criterion: str  # "overall" or one of drafts.CRITERIA
    stars: int  # 0: skipped


class Flow(CallbackData, prefix="fa"):
    action: FlowAction


class EditPick(CallbackData, prefix="fe"):
    step: str


class MyReviewsPage(CallbackData, prefix="mr"):
    page: int


class MyReviewOpen(CallbackData, prefix="mo"):
    review_id: int
    page: int = 0


# --- The prosecutor's office (buttons posted in a group: versioned prefix, never trusted) -----------------


class AlertAction(StrEnum):
    TAKE = "take"
    FORWARD = "fwd"
    ASK = "ask"
    CLOSE = "close"
    REJECT = "reject"
    EXTEND = "extend"
    FULL_TEXT = "text"
    OPEN = "open"


class AlertActionV1(CallbackData, prefix="a1"):
    case_id: int
    action: AlertAction


class CaseReplyStart(CallbackData, prefix="cr"):
    case_id: int


class CaseReplyDone(CallbackData, prefix="cd"):
    case_id: int


# --- Ratings: top lists and the pages of doctors and clinics ---------------------------------------------


class TopScope(StrEnum):
    DISTRICT = "d"
    CLINIC = "c"


class ClinicSection(StrEnum):
    OVERVIEW = "o"  # opening the page: map pin, card and its doctors by score
    DOCTORS = "d"
    REVIEWS = "r"
    ANSWERS = "a"


class TopSpecialtyPage(CallbackData, prefix="tsp"):
    page: int


class TopList(CallbackData, prefix="tl"):
    specialty_id: int
    district_id: int = 0  # 0: the whole city
    clinic_id: int = 0
    page: int = 0


class TopScopePick(CallbackData, prefix="tsc"):
    """A page of districts or clinics to narrow a specialty's top list to."""

    specialty_id: int
    scope: TopScope
    page: int = 0


class DoctorPageView(CallbackData, prefix="pd"):
    doctor_id: int
    page: int = 0  # of the reviews: 0 also shows the score and its breakdown
    turn: bool = False  # paging within the page: replace the message instead of sending a new one


class ClinicPageView(CallbackData, prefix="pc"):
    clinic_id: int
    section: ClinicSection = ClinicSection.OVERVIEW
    page: int = 0
    turn: bool = False


# --- Residents' data rights (the person's own record is re-checked: a stale or forged button changes nothing) ---


class ForgetAction(StrEnum):
    CONFIRM = "yes"
    CANCEL = "no"


class ForgetChoice(CallbackData, prefix="pvf"):
    action: ForgetAction
    user_id: int  # whose data the confirmation was asked for


class ConsentChange(StrEnum):
    GIVE = "give"
    WITHDRAW = "withdraw"  # asks first
    WITHDRAW_CONFIRMED = "withdraw_ok"
    KEEP = "keep"


class ConsentManage(CallbackData, prefix="pvc"):
    action: ConsentChange


# --- Polyclinics' chats and the moderator's queue (buttons posted in clinic chats: versioned prefix) ---------


class ClinicAnswerV1(CallbackData, prefix="ca1"):
    """The "Answer" button under a review posted to a polyclinic's chat (or listed by /reviews)."""

    review_id: int


class QueueItem(StrEnum):
    REVIEW = "r"
    ANSWER = "a"


class ModerationVerdict(StrEnum):
    APPROVE = "ok"
    REJECT = "no"  # opens the list of reasons
    EDIT = "ed"
    NEXT = "nx"
    SHOW = "sh"  # back from the reasons to the item


class ModerationAction(CallbackData, prefix="mq"):
    item: QueueItem
    item_id: int
    action: ModerationVerdict


class ModerationReason(CallbackData, prefix="mqr"):
    item: QueueItem
    item_id: int
    reason: str  # one of moderation.reject_reasons


# --- The office's caseload (issue 10; the office's buttons are posted in a group: versioned prefixes) ---------


class DraftAction(StrEnum):
    SEND = "send"
    EDIT = "edit"
    CANCEL = "cancel"


class CaseDraftV1(CallbackData, prefix="cw1"):
    """Send / Edit / Cancel under the preview of what the resident will receive."""

    case_id: int
    action: DraftAction


class CaseTemplateV1(CallbackData, prefix="ct1"):
    """A response template chosen while answering (bot/data/answer_templates.toml)."""

    case_id: int
    template: str


class CaseNoteV1(CallbackData, prefix="cn1"):
    """"Save as internal note" under a colleague's reply to a card: the message id of that reply."""

    case_id: int
    message_id: int


class CaseTakeOverV1(CallbackData, prefix="cto1"):
    """"Take over from N?" confirmed (the assignee it asked about, so a changed case is asked again)."""

    case_id: int
    previous: int


class CaseForwardV1(CallbackData, prefix="cf1"):
    """Forwarding: the destination chosen ("clinic" or a body), or delivery confirmed for a clinic without a chat."""

    case_id: int
    destination: str
    confirmed: bool = False


class CaseListV1(CallbackData, prefix="cl1"):
    """A page of /cases: the filters travel as the command's words, stored server-side under a short key."""

    page: int
    query: str = ""


class VerdictAction(StrEnum):
    SETTLED = "ok"
    DISAGREE = "no"


class ResidentVerdict(CallbackData, prefix="rv"):
    """The resident's word on an answer: it settles the matter, or they disagree (the case reopens)."""

    case_id: int
    action: VerdictAction
    answer: int  # which answer it is about: a button under an earlier answer changes nothing


class LateReason(CallbackData, prefix="lr"):
    """A text typed more than a day after "I disagree": the reason for disagreeing in that case (send), or not."""

    case_id: int
    send: bool


class MyAppealAction(StrEnum):
    ADD = "add"
    WITHDRAW = "wd"
    WITHDRAW_CONFIRM = "wdy"


class MyAppeal(CallbackData, prefix="ma"):
    """From My reviews: add information to an open appeal, or withdraw it (asked to confirm)."""

    review_id: int
    action: MyAppealAction

# --- The office's own urgency verdict (buttons under cards and /case in the office's group: versioned) -------


class UrgencyVerdict(StrEnum):
    URGENT = "u"
    NOT_URGENT = "n"


class UrgencyVerdictV1(CallbackData, prefix="uv1"):
    case_id: int
    verdict: UrgencyVerdict

# --- The resident's conversation, continued (issue 11) ----------------------------------------------------


class IncidentPick(CallbackData, prefix="fw"):
    """When it happened: one of drafts.INCIDENT_WHEN."""

    when: str


class BehalfPick(CallbackData, prefix="fb"):
    """On whose behalf: one of drafts.BEHALF."""

    who: str


class OnboardAccept(CallbackData, prefix="onb"):
    """Language and consent on one screen: agreeing in the language the screen is shown in."""

    language: str
    version: str
    accept: bool


class StartWith(CallbackData, prefix="fsw"):
    """Free text or a photo sent at the menu: start a review with it (kept in the conversation's data)."""

    start: bool
