"""Typed settings: config.toml plus MEDFEEDBACK_* environment overrides, validated at start-up."""

from __future__ import annotations

import os
import re
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources import TomlConfigSettingsSource

DEFAULT_CONFIG = "config.toml"
ENV_PREFIX = "MEDFEEDBACK_"
LANGUAGES = ("kk", "ru", "en")
_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")

# Which TOML file the next Settings() reads; set only by load_settings.
_toml_path: ContextVar[Path | None] = ContextVar("_toml_path", default=None)


def _clock_time(value: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError("must be a time like 09:00")
    return value


ClockTime = Annotated[str, AfterValidator(_clock_time)]


class ConfigError(Exception):
    """A configuration problem, explained in one line that names the key and how to set it."""


class _Section(BaseModel):
    # A misspelt key is an error, not a silently ignored line.
    model_config = ConfigDict(extra="forbid")


class WebhookSettings(_Section):
    url: str | None = None
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(8080, ge=1, le=65535)
    path: str = "/telegram/webhook"
    secret_token: SecretStr | None = None

    @field_validator("path")
    @classmethod
    def _path_starts_with_slash(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value

    @field_validator("secret_token")
    @classmethod
    def _telegram_secret_rules(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram accepts 1-256 characters of A-Z, a-z, 0-9, _ and -.
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, '_' or '-'")
        return value


class TelegramSettings(_Section):
    # Optional here so that offline commands (db, directory) run without it; `run` requires it.
    token: SecretStr | None = None
    api_server: str = "https://api.telegram.org"
    mode: Literal["polling", "webhook"] = "polling"
    webhook: WebhookSettings = WebhookSettings()
    max_download_mb: int = Field(20, ge=1, le=2000)
    # Updates of different chats handled at once (one chat's updates always one after another).
    concurrency: int = Field(16, ge=1, le=256)

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _TOKEN_RE.match(value.get_secret_value()):
            raise ValueError("is not a bot token of the form 123456:ABC-DEF (ask @BotFather)")
        return value

    @field_validator("api_server")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _webhook_needs_url_and_secret(self) -> TelegramSettings:
        if self.mode == "webhook":
            if not self.webhook.url:
                raise ValueError("webhook.url: is required when telegram.mode = \"webhook\"")
            if self.webhook.secret_token is None:
                raise ValueError("webhook.secret_token: is required when telegram.mode = \"webhook\"")
        return self


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///medfeedback.db"

    @field_validator("url")
    @classmethod
    def _supported_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value


class FsmSettings(_Section):
    storage: str = "database"

    @field_validator("storage")
    @classmethod
    def _database_or_redis(cls, value: str) -> str:
        if value != "database" and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError('must be "database" or a redis:// URL')
        return value


class ProsecutorSettings(_Section):
    chat_id: int | None = None
    # The language of alerts, reminders and /cases in the prosecutor's chat.
    language: Literal["kk", "ru", "en"] = "ru"
    # How long a getChatMember answer is trusted when authorising a button press.
    membership_cache_seconds: int = Field(60, ge=0, le=3600)
    # Working days before the due date when the chat is reminded (and again on the day itself).
    remind_days_before: int = Field(3, ge=1, le=10)
    # Time of the daily reminders and overdue list, in the configured time zone (working days only).
    morning_time: ClockTime = "09:00"
    # Bodies an appeal outside the office's competence may be forwarded to (besides the polyclinic); each id needs
    # its name forward_body.<id> in bot/locales/kk, ru and en.
    forward_bodies: list[str] = Field(default_factory=lambda: ["health_department", "police", "insurance_fund",
                                                               "other_prosecutor"])


class OutboxSettings(_Section):
    # How long a relay owns a chat's messages without renewing (renewed before each send); after a crash another
    # relay resends the message in flight after this.
    lease_seconds: int = Field(60, ge=1, le=3600)
    # How often the queue is swept even when nothing woke the relay.
    sweep_seconds: int = Field(30, ge=1, le=3600)


class FloodSettings(_Section):
    # More updates than this from one person within the window are ignored (after one polite warning).
    max_updates: int = Field(30, ge=5)
    window_seconds: float = Field(10.0, gt=0, le=600)


class LocaleSettings(_Section):
    default: Literal["kk", "ru", "en"] = "ru"


class MediaSettings(_Section):
    dir: Path = Path("media")


DEFAULT_CATEGORIES = [
    "extortion", "refusal", "harm", "rudeness", "payment_for_free", "medicine_not_provided", "waiting",
    "sanitary", "other",
]


class FeedbackSettings(_Section):
    # Complaint categories offered, in this order; each needs texts `category.<id>` in every locale.
    categories: list[str] = Field(default_factory=lambda: list(DEFAULT_CATEGORIES), min_length=1)
    # Of the whole description: a text Telegram split into several messages is joined before this is applied.
    max_text_chars: int = Field(8000, ge=100, le=20000)
    max_media: int = Field(10, ge=0, le=50)
    daily_limit: int = Field(5, ge=1)
    same_doctor_days: int = Field(30, ge=0)
    appeal_working_days: int = Field(15, ge=1)
    # Train the urgency classifier at start-up (a worker thread, about 2 s of CPU) rather than on the first
    # complaint, which would otherwise wait for it inside its transaction. Off only where processes start often
    # and rarely classify (the end-to-end tests).
    prepare_urgency_at_start: bool = True


class RatingsSettings(_Section):
    # Score = (m * C + sum of stars) / (m + number of reviews), C the specialty's mean (doctors) or the city's
    # (clinics): a newcomer starts at the mean and needs about m reviews to move halfway from it.
    prior_weight: float = Field(10, ge=0, le=1000)
    # Doctors and clinics with fewer counting reviews are listed as "not enough reviews yet", not ranked.
    min_reviews: int = Field(3, ge=1, le=1000)
    # A review this many days old weighs half as much as a new one; 0 turns weighting by age off.
    half_life_days: float = Field(0, ge=0)

    @field_validator("half_life_days")
    @classmethod
    def _off_or_long_enough(cls, value: float) -> float:
        # Shorter half-lives let a few recent reviews decide a rating, and overflow the weights within decades.
        if 0 < value < 30:
            raise ValueError("must be 0 (off) or at least 30 days")
        return value


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class DigestSettings(_Section):
    # The weekly digest goes out on this day at this time (in `timezone`) and covers the seven days before it.
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    time: ClockTime = "09:00"


class ClinicsSettings(_Section):
    # Working days a polyclinic has to answer a complaint or violation report posted to it; then it is escalated.
    answer_working_days: int = Field(5, ge=1, le=60)
    # Hours an admin's one-time code (/linkclinic) stays valid.
    link_code_hours: int = Field(24, ge=1, le=720)
    # Language of the posts, prompts and notices in the polyclinics' chats.
    language: Literal["kk", "ru", "en"] = "ru"
    # How long a getChatMember answer is trusted when someone presses "Answer" in a clinic's chat.
    membership_cache_seconds: int = Field(60, ge=0, le=3600)
    # Whether every member of a polyclinic's linked chat may answer in its name; off (the default): only holders of
    # the clinic-staff role for it and the chat's administrators.
    members_may_answer: bool = False


DEFAULT_REJECT_REASONS = ["profanity", "insults", "personal_data", "advertising", "off_topic"]


class ModerationSettings(_Section):
    # Every review and every clinic answer waits for a moderator; off: only texts with profanity wait.
    queue: bool = False
    # A complaint that names a doctor waits for a moderator before the public sees it (a libel risk with real
    # names); gratitude and texts naming no one are published at once. false: only `queue` and profanity decide.
    hold_named_complaints: bool = True
    # Reasons a moderator may give for a rejection, in this order; each needs `moderation_reason.<id>` texts.
    reject_reasons: list[str] = Field(default_factory=lambda: list(DEFAULT_REJECT_REASONS), min_length=1)

    @field_validator("reject_reasons")
    @classmethod
    def _short_ids(cls, value: list[str]) -> list[str]:
        # Each id travels in a button's callback data (64 bytes in all).
        for reason in value:
            if not re.fullmatch(r"[a-z0-9_]{1,24}", reason):
                raise ValueError(f"{reason!r} must be 1-24 characters of a-z, 0-9 and '_'")
        return value


class ContactsSettings(_Section):
    """Who runs the bot and the official lines, shown in /help and on the rights page."""

    operator_name: str = ""
    operator_contact: str = ""
    # Line id -> number; each id needs its text `contacts.line_<id>` in every locale. Empty to show none.
    lines: dict[str, str] = Field(default_factory=lambda: {"emergency": "103 / 112", "insurance_fund": "1406",
                                                           "egov": "1414"})

class WebSettings(_Section):
    # The public address of the site (canonical URLs, sitemap.xml), e.g. https://medfeedback.example.kz; without
    # it the address a request came to is used (set it behind a reverse proxy).
    base_url: str | None = None
    # Where `medfeedback web` listens, behind the reverse proxy.
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(8081, ge=1, le=65535)
    # The bot's @username for the t.me links; without it `medfeedback web` asks Telegram once (getMe).
    bot_username: str | None = None
    # How long a reverse proxy or a browser may reuse a page (Cache-Control max-age).
    cache_seconds: int = Field(60, ge=0, le=86400)
    # In webhook mode, serve the site on the webhook server too (same host and port), besides `medfeedback web`.
    on_webhook_server: bool = False

    @field_validator("base_url")
    @classmethod
    def _http_base(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @field_validator("bot_username")
    @classmethod
    def _username(cls, value: str | None) -> str | None:
        if value is not None:
            value = value.removeprefix("@")
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{3,31}", value):
                raise ValueError("must be the bot's Telegram username, e.g. medfeedback_bot")
        return value


def _host_port(value: str) -> str:
    if value == "":
        return value
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError('must be "host:port" such as "127.0.0.1:9090", or "" to turn the listener off')
    return value


class OpsSettings(_Section):
    # Where /healthz, /readyz and /metrics are served ("" turns the listener off; in webhook mode they are also
    # served by the webhook server). Keep it on 127.0.0.1 or a private network: metrics are not for the public.
    listen: Annotated[str, AfterValidator(_host_port)] = "127.0.0.1:9090"
    # /readyz says "not ready" when Telegram has not answered any call for this long.
    telegram_stale_seconds: int = Field(300, ge=10, le=86400)
    # ... or when the outbox relay or the scheduler has not made a pass for this long.
    heartbeat_stale_seconds: int = Field(120, ge=5, le=86400)
    # `medfeedback doctor` fails when the media folder's disk has less free space than this.
    min_free_mb: int = Field(500, ge=0)


class LogSettings(_Section):
    # "text": one readable line per event; "json": one JSON object per line (for Loki, ELK, journald exporters).
    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class RetentionSettings(_Section):
    # What the consent text promises (bot/locales/*/messages.toml, [consent] text): reviews and cases are kept
    # for 5 years after they are closed; then their content (texts, names, evidence files) is removed and only
    # the anonymous figures stay. A case still open is never touched: the law requires its record.
    closed_case_years: int = Field(5, ge=1, le=75)
    # A conversation left half-way (a draft review) is discarded after this many days.
    draft_days: int = Field(30, ge=1, le=3650)
    # The text of a message the bot has delivered (alert cards, notices) is cleared from the delivery queue after
    # this many days; the record that it was sent stays.
    delivered_days: int = Field(90, ge=1, le=3650)
    # When the daily retention job runs, in `timezone`.
    time: ClockTime = "03:00"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid")

    telegram: TelegramSettings = TelegramSettings()
    database: DatabaseSettings = DatabaseSettings()
    fsm: FsmSettings = FsmSettings()
    prosecutor: ProsecutorSettings = ProsecutorSettings()
    admins: list[int] = []
    locale: LocaleSettings = LocaleSettings()
    timezone: str = "Asia/Almaty"
    media: MediaSettings = MediaSettings()
    feedback: FeedbackSettings = FeedbackSettings()
    outbox: OutboxSettings = OutboxSettings()
    flood: FloodSettings = FloodSettings()
    ratings: RatingsSettings = RatingsSettings()
    clinics: ClinicsSettings = ClinicsSettings()
    moderation: ModerationSettings = ModerationSettings()
    digest: DigestSettings = DigestSettings()
    # On SIGTERM: how long updates in flight and the send in progress may take before the process exits.
    shutdown_grace_seconds: float = Field(20, ge=1, le=300)
    contacts: ContactsSettings = ContactsSettings()

    web: WebSettings = WebSettings()

    ops: OpsSettings = OpsSettings()
    log: LogSettings = LogSettings()
    retention: RetentionSettings = RetentionSettings()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not a known time zone such as Asia/Almaty") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Priority: explicit arguments, then the environment, then the TOML file.
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=_toml_path.get())


def load_settings(config_path: str | os.PathLike[str] | None = None, **overrides: object) -> Settings:
    """Read settings or raise ConfigError with one line a person can act on."""
    explicit = config_path or os.environ.get(f"{ENV_PREFIX}CONFIG")
    path = Path(explicit or DEFAULT_CONFIG)
    if explicit and not path.is_file():
        raise ConfigError(f"config file {path} not found: create it from config.example.toml or fix the path")
    if path.is_file():
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    token = _toml_path.set(path if path.is_file() else None)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, path)) from None
    finally:
        _toml_path.reset(token)


def require_token(settings: Settings, config_path: str | os.PathLike[str] | None = None) -> str:
    """The bot token, or ConfigError saying how to set it (offline commands never call this)."""
    if settings.telegram.token is None:
        path = config_path or os.environ.get(f"{ENV_PREFIX}CONFIG") or DEFAULT_CONFIG
        raise ConfigError(
            f"setting telegram.token is required: set it in {path} ([telegram] token = \"...\") "
            f"or with the environment variable {ENV_PREFIX}TELEGRAM__TOKEN"
        )
    return settings.telegram.token.get_secret_value()


def _explain(exc: ValidationError, path: Path) -> str:
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    message = error["msg"].removeprefix("Value error, ")
    if ": " in message and message.split(": ", 1)[0].replace(".", "").replace("_", "").isalnum():
        # A model validator names the sub-key itself ("webhook.url: required ...").
        sub, message = message.split(": ", 1)
        loc += sub.split(".")
    if error["type"] == "missing":
        message = "is required"
    key = ".".join(loc)
    env = ENV_PREFIX + "__".join(part.upper() for part in loc)
    if error["type"] == "extra_forbidden":
        return f"setting {key} is unknown: remove it from {path} (see config.example.toml for the keys)"
    more = f" ({len(exc.errors()) - 1} more problem(s) after this one)" if len(exc.errors()) > 1 else ""
    return f"setting {key} {message}: set it in {path} or with the environment variable {env}{more}"
