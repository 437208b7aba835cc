"""Residents' language and consent: recorded with time and version, and audited."""

from __future__ import annotations

from datetime import datetime

from storage.models import User
from storage.repositories import Repositories

# Bump when the consent text changes in any locale: people are then asked again.
CONSENT_VERSION = "2026-12.1"  # 2026-12.1: the full name for a formal appeal


async def choose_language(repo: Repositories, telegram_id: int, language: str, now: datetime,
                          first_name: str | None = None) -> User:
    user = await repo.users.get_or_create(telegram_id, now, first_name)
    user.language = language
    return user


async def give_consent(repo: Repositories, user: User, version: str, now: datetime) -> None:
    user.consent_version = version
    user.consent_at = now
    user.consent_withdrawn_at = None
    await repo.audit.record(now, user.telegram_id, "consent.given", "user", user.id, version=version)


async def decline_consent(repo: Repositories, user: User, now: datetime) -> None:
    if user.consent_version is not None:
        user.consent_withdrawn_at = now
    await repo.audit.record(now, user.telegram_id, "consent.declined", "user", user.id)


def needs_consent(user: User | None) -> bool:
    return user is None or not user.has_consent or user.consent_version != CONSENT_VERSION
