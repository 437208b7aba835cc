"""Fair ratings: which reviews count, and Bayesian scores kept in stats tables within the review's own transaction.

A score is (m·C + Σ wᵢ·starsᵢ) / (m + Σ wᵢ): C is the mean of the doctor's specialty (of the whole city for a
clinic), m the prior weight in reviews, wᵢ = 1 (or 2^(−ageᵢ/half-life) when recent reviews weigh more).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot.config import Settings
from storage.models import CRITERIA, PublicStatus, Review, ReviewStatus
from storage.repositories import Repositories

# Rejected by moderation, or taken back by its author: neither says anything about the doctor any more.
NOT_COUNTING = (ReviewStatus.REJECTED, ReviewStatus.WITHDRAWN)
# Weights are stored relative to this moment, so that stored sums never need rescaling as time passes.
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
DAY_SECONDS = 86_400.0
CITY = ("city", 0)


@dataclass(frozen=True)
class Rebuilt:
    counted: int
    doctors: int
    clinics: int


def counts(review: Review, published_only: bool = False) -> bool:
    """Whether a review may count (whether a later one replaces it is asked of the database). `published_only`
    (the moderator queue is on): only once a moderator let it through."""
    if published_only and review.public_status != PublicStatus.PUBLISHED:
        return False
    return (review.status not in NOT_COUNTING and review.public_status != PublicStatus.HIDDEN
            and not review.fraud_flag and review.rating is not None)


def weight_of(created_at: datetime, half_life_days: float) -> float:
    if not half_life_days:
        return 1.0
    return 2.0 ** ((created_at - EPOCH).total_seconds() / (half_life_days * DAY_SECONDS))


def age_factor(now: datetime, half_life_days: float) -> float:
    """Turns the epoch-relative weights into weights relative to now: w · factor = 2^(−age/half-life)."""
    if not half_life_days:
        return 1.0
    return 2.0 ** (-(now - EPOCH).total_seconds() / (half_life_days * DAY_SECONDS))


async def review_added(repo: Repositories, review: Review, *, now: datetime, settings: Settings) -> None:
    """Call right after a new review is flushed: it counts (unless flagged), and the ones it replaces stop counting."""
    await repo.ratings.take_turn()
    window = settings.feedback.same_doctor_days
    for earlier in await repo.ratings.superseded_by(review.id, window):
        await _sync(repo, earlier, now, settings)
    await _sync(repo, review, now, settings)


async def review_status_changed(repo: Repositories, review: Review, *, now: datetime, settings: Settings) -> None:
    """Call after moderation changed a review's status, public status or fraud flag; calling it twice is harmless."""
    await repo.ratings.take_turn()
    await _sync(repo, review, now, settings)


async def _sync(repo: Repositories, review: Review, now: datetime, settings: Settings) -> None:
    should = counts(review, settings.moderation.queue) and not await repo.ratings.is_superseded(
        review.id, settings.feedback.same_doctor_days)
    if should:
        weight = weight_of(review.created_at, settings.ratings.half_life_days)
        if await repo.ratings.mark_counted(review.id, weight):
            await _apply(repo, review, weight, 1, now, settings)
    else:
        weight = await repo.ratings.unmark_counted(review.id)
        if weight is not None:
            await _apply(repo, review, weight, -1, now, settings)


def _delta(review: Review, weight: float, sign: int) -> dict[str, float]:
    delta: dict[str, float] = {"review_count": sign, "weight_sum": sign * weight,
                               "rating_sum": sign * weight * review.rating, f"stars_{review.rating}": sign}
    for name in CRITERIA:
        stars = (review.criteria or {}).get(name)
        if stars is not None:
            delta[f"{name}_sum"] = sign * int(stars)
            delta[f"{name}_count"] = sign
    return delta


def _prior_part(delta: dict[str, float]) -> dict[str, float]:
    return {name: delta[name] for name in ("review_count", "weight_sum", "rating_sum")}


async def _apply(repo: Repositories, review: Review, weight: float, sign: int, now: datetime,
                 settings: Settings) -> None:
    delta = _delta(review, weight, sign)
    if review.doctor_id is not None:
        doctor = await repo.directory.doctor(review.doctor_id)
        known = await repo.ratings.doctor_totals(doctor.id)
        if known is not None and known.specialty_id != doctor.specialty_id:
            # The directory moved the doctor to another specialty: their sums follow them to its mean.
            moved = {"review_count": known.review_count, "weight_sum": known.weight_sum,
                     "rating_sum": known.rating_sum}
            await _add_to_specialty(repo, known.specialty_id, {k: -v for k, v in moved.items()}, now, settings)
            await _add_to_specialty(repo, doctor.specialty_id, moved, now, settings, rescore=False)
        await repo.ratings.add_to_doctor(doctor.id, doctor.specialty_id, delta)
        await _add_to_specialty(repo, doctor.specialty_id, _prior_part(delta), now, settings)
    await repo.ratings.add_to_clinic(review.clinic_id, delta)
    _, rating_sum, weight_sum = await repo.ratings.add_to_prior(*CITY, _prior_part(delta))
    if weight_sum > 0:
        await repo.ratings.rescore_clinics(rating_sum / weight_sum, settings.ratings.prior_weight,
                                           age_factor(now, settings.ratings.half_life_days))


async def _add_to_specialty(repo: Repositories, specialty_id: int, delta: dict[str, float], now: datetime,
                            settings: Settings, *, rescore: bool = True) -> None:
    _, rating_sum, weight_sum = await repo.ratings.add_to_prior("specialty", specialty_id, delta)
    if rescore and weight_sum > 0:
        await repo.ratings.rescore_specialty(specialty_id, rating_sum / weight_sum, settings.ratings.prior_weight,
                                             age_factor(now, settings.ratings.half_life_days))


async def refresh_scores(repo: Repositories, *, now: datetime, settings: Settings) -> None:
    """Score every doctor and clinic again from the stored sums (after a rebuild, or daily with a half-life)."""
    factor = age_factor(now, settings.ratings.half_life_days)
    for prior in await repo.ratings.priors():
        if prior.weight_sum <= 0:
            continue
        mean = prior.rating_sum / prior.weight_sum
        if prior.scope == "specialty":
            await repo.ratings.rescore_specialty(prior.scope_id, mean, settings.ratings.prior_weight, factor)
        else:
            await repo.ratings.rescore_clinics(mean, settings.ratings.prior_weight, factor)


async def rebuild(repo: Repositories, *, now: datetime, settings: Settings) -> Rebuilt:
    """Recompute every stats row from the raw reviews, in the caller's transaction."""
    await repo.ratings.take_turn()
    await repo.ratings.clear()
    counted = await repo.ratings.count_eligible(excluded_statuses=NOT_COUNTING,
                                                window_days=settings.feedback.same_doctor_days,
                                                published_only=settings.moderation.queue)
    half_life = settings.ratings.half_life_days
    if half_life:
        dates = await repo.ratings.counted_dates()
        await repo.ratings.set_weights([(review_id, weight_of(created, half_life)) for review_id, created in dates])
    doctors, clinics = await repo.ratings.aggregate()
    await refresh_scores(repo, now=now, settings=settings)
    return Rebuilt(counted, doctors, clinics)
