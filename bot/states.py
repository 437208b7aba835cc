"""Conversation states. A review draft has one state per step, named as in bot.services.drafts.STEPS."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup


class ReviewForm(StatesGroup):
    clinic = State()
    target = State()
    kind = State()
    category = State()
    rating = State()
    criteria = State()
    description = State()  # text, voice and files, closed by saying when it happened
    when = State()  # only when "another day" was chosen: the date typed
    preview = State()  # with the last choices on it: publication, on whose behalf, full name, phone


def state_of(step: str) -> State:
    return getattr(ReviewForm, step)


class ProsecutorInput(StatesGroup):
    """A prosecutor pressed a button that needs words: the next message from them in the chat is those words."""

    ask = State()
    close = State()
    reject = State()
    extend = State()
    preview = State()  # what the resident would receive is shown: Send / Edit / Cancel


class CaseVerdict(StatesGroup):
    """A resident pressed "I disagree" under an answer: their next message is the reason."""

    disagreeing = State()


class AppealAddition(StatesGroup):
    """A resident adds information to an open appeal of their own, from My reviews."""

    adding = State()


class CaseReply(StatesGroup):
    """A resident adds what the prosecutor's office asked for."""

    adding = State()


class ClinicAnswer(StatesGroup):
    """A polyclinic's staff member pressed "Answer": their next message in that chat is the answer."""

    writing = State()


class ModerationInput(StatesGroup):
    """A moderator pressed "Edit": their next message is the new public text."""

    editing = State()


class TopSearch(StatesGroup):
    """The top list's specialty picker is shown: a typed word searches the specialties."""

    specialty = State()


# The resident's side conversations about a case of theirs: a review being written is set aside while they last
# (handlers/feedback/entry.py, `set_aside`), and /cancel ends them without touching it.
SIDE_CONVERSATIONS = (CaseReply.adding, AppealAddition.adding, CaseVerdict.disagreeing)
