"""The public website's routes: server-rendered pages in kk, ru and en, cacheable, with canonical URLs and a sitemap."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.l10n import LANGUAGES, L10n, Translator
from bot.services.directory_index import DirectoryIndex
from bot.web import content
from storage.repositories import Repositories

JINJA_KEY = web.AppKey("medfeedback_web_jinja", jinja2.Environment)
SITE_KEY = web.AppKey("medfeedback_web_site", object)
LANG = "{lang:kk|ru|en}"
SECURITY_HEADERS = {
    # No scripts at all (JSON-LD data blocks are not run), nothing from other hosts.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


class Site:
    """One website over one session pool: its translator, search index and settings, no globals."""

    def __init__(self, settings: Settings, pool: async_sessionmaker[AsyncSession], bot_username: str, *,
                 prefix: str = "", clock: Callable[[], datetime] | None = None) -> None:
        self.settings, self.pool, self.bot_username = settings, pool, bot_username
        self.prefix = prefix.rstrip("/")
        self.translator = Translator(settings.locale.default)
        self.directory = DirectoryIndex()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.css = resources.files("bot.web").joinpath("static/site.css").read_bytes()
        self.css_version = hashlib.sha256(self.css).hexdigest()[:12]

    # --- URLs -----------------------------------------------------------------------------------------------

    def path(self, lang: str, rest: str = "/", **query: Any) -> str:
        shown = {key: value for key, value in query.items() if value not in (None, "", 0)}
        return f"{self.prefix}/{lang}{rest}" + (f"?{urlencode(shown)}" if shown else "")

    def absolute(self, request: web.Request, path: str) -> str:
        base = self.settings.web.base_url or f"{request.scheme}://{request.host}"
        return base + path

    # --- Rendering ------------------------------------------------------------------------------------------

    def render(self, request: web.Request, template: str, lang: str, rest: str, context: dict[str, Any], *,
               query: dict[str, Any] | None = None, status: int = 200, leave: str | None = "review",
               open_: str | None = None, title: str = "", indexable: bool = True) -> web.Response:
        l10n = self.translator[lang]
        query = query or {}
        canonical = self.absolute(request, self.path(lang, rest, **query))
        page = {
            "lang": lang, "l10n": l10n, "title": title, "canonical": canonical, "indexable": indexable,
            "alternates": [(other, self.absolute(request, self.path(other, rest, **query))) for other in LANGUAGES],
            "switch": [(other, self.translator[other]("web.language_name"), self.path(other, rest, **query))
                       for other in LANGUAGES],
            "links": content.links_for(self.bot_username, leave, open_),
            "url": lambda *parts, **params: self.path(lang, "".join(str(part) for part in parts), **params),
            "css": f"{self.prefix}/static/site.css?v={self.css_version}",
            "home": self.path(lang), "top": self.path(lang, "/top/"),
        }
        body = aiohttp_jinja2.render_string(template, request, {**page, **context}, app_key=JINJA_KEY)
        return self.cached(request, body.encode(), "text/html", status=status, language=lang)

    def cached(self, request: web.Request, body: bytes, content_type: str, *, status: int = 200,
               language: str | None = None, max_age: int | None = None) -> web.Response:
        """A response a reverse proxy may keep for cache_seconds, with an ETag to revalidate it for nothing."""
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        seconds = self.settings.web.cache_seconds if max_age is None else max_age
        headers = {**SECURITY_HEADERS, "ETag": etag, "Cache-Control": f"public, max-age={seconds}"}
        if language:
            headers["Content-Language"] = language
        if status == 200 and etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, status=status, content_type=content_type, charset="utf-8", headers=headers)

    def not_found(self, request: web.Request, lang: str) -> web.Response:
        l10n = self.translator[lang]
        return self.render(request, "not_found.html", lang, request.path.removeprefix(f"{self.prefix}/{lang}") or "/",
                           {}, status=404, title=l10n("web.not_found_title"), indexable=False)

    async def read(self, work: Callable[[Repositories], Awaitable[Any]]) -> Any:
        async with self.pool() as session, session.begin():
            return await work(Repositories(session))

    # --- Handlers -------------------------------------------------------------------------------------------

    async def root(self, request: web.Request) -> web.Response:
        """To the visitor's language when the browser names one of ours, else to the default one."""
        wanted = [part.split(";")[0].strip().split("-")[0].lower()
                  for part in request.headers.get("Accept-Language", "").split(",")]
        lang = next((code for code in wanted if code in LANGUAGES), self.settings.locale.default)
        raise web.HTTPFound(self.path(lang), headers={"Vary": "Accept-Language", "Cache-Control": "no-cache"})

    async def with_slash(self, request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently(self.path(request.match_info["lang"]))

    async def home(self, request: web.Request) -> web.Response:
        lang = request.match_info["lang"]
        l10n = self.translator[lang]
        query = request.query.get("q", "")[:200]
        context = await self.read(lambda repo: content.home(repo, l10n, self.settings, self.directory, query,
                                                             self.clock()))
        title = l10n("web.search_results_title", query=query) if query.strip() else l10n("web.home_title")
        # A search result is not a page of its own for search engines; the home page is.
        return self.render(request, "home.html", lang, "/", context, query={"q": query.strip()}, title=title,
                           indexable=not query.strip())

    async def district(self, request: web.Request) -> web.Response:
        lang, l10n = self._lang(request)
        district_id = _int(request.match_info["id"])

        async def work(repo: Repositories) -> dict[str, Any] | None:
            district = await repo.directory.district(district_id)
            return None if district is None else await content.district_page(repo, l10n, self.settings, district)

        context = await self.read(work)
        if context is None:
            return self.not_found(request, lang)
        return self.render(request, "district.html", lang, f"/district/{district_id}", context,
                           title=l10n("web.district_title", district=context["name"]))

    async def clinic(self, request: web.Request) -> web.Response:
        lang, l10n = self._lang(request)
        clinic_id, page = _int(request.match_info["id"]), _page(request)
        rest = f"/clinic/{clinic_id}"
        url = self.absolute(request, self.path(lang, rest))

        async def work(repo: Repositories) -> dict[str, Any] | None:
            clinic = await repo.directory.clinic(clinic_id)
            if clinic is None or not clinic.active:
                return None
            return await content.clinic_page(repo, l10n, self.settings, clinic, page, url)

        context = await self.read(work)
        if context is None or (page and not context["reviews"].items):
            return self.not_found(request, lang)
        return self.render(request, "clinic.html", lang, rest, context, query={"page": page + 1 if page else None},
                           title=context["name"], leave=f"clinic-{clinic_id}", open_=f"page-clinic-{clinic_id}")

    async def doctor(self, request: web.Request) -> web.Response:
        lang, l10n = self._lang(request)
        doctor_id, page = _int(request.match_info["id"]), _page(request)
        rest = f"/doctor/{doctor_id}"
        url = self.absolute(request, self.path(lang, rest))

        async def work(repo: Repositories) -> dict[str, Any] | None:
            doctor = await repo.directory.doctor(doctor_id)
            if doctor is None or not doctor.active:
                return None
            clinic_url = self.absolute(request, self.path(lang, f"/clinic/{doctor.clinic_id}"))
            return await content.doctor_page(repo, l10n, self.settings, doctor, page, url, clinic_url)

        context = await self.read(work)
        if context is None or not context["clinic"].active or (page and not context["reviews"].items):
            return self.not_found(request, lang)
        return self.render(request, "doctor.html", lang, rest, context, query={"page": page + 1 if page else None},
                           title=l10n("web.doctor_title", name=context["doctor"].full_name,
                                      specialty=context["specialty_name"]),
                           leave=f"doctor-{doctor_id}", open_=f"page-doctor-{doctor_id}")

    async def top_index(self, request: web.Request) -> web.Response:
        lang, l10n = self._lang(request)
        found = await self.read(lambda repo: content.specialties(repo, l10n))
        return self.render(request, "top_index.html", lang, "/top/", {"specialties": found},
                           title=l10n("web.top_title"))

    async def top(self, request: web.Request) -> web.Response:
        lang, l10n = self._lang(request)
        specialty_id, page = _int(request.match_info["id"]), _page(request)
        district_id = _int(request.query.get("district", "0"))

        async def work(repo: Repositories) -> dict[str, Any] | None:
            specialty = await repo.directory.specialty(specialty_id)
            district = await repo.directory.district(district_id) if district_id else None
            if specialty is None or (district_id and district is None):
                return None
            return await content.top_page(repo, l10n, self.settings, specialty, district, page)

        context = await self.read(work)
        if context is None or page >= context["pages"]:
            return self.not_found(request, lang)
        return self.render(request, "top.html", lang, f"/top/{specialty_id}", context,
                           query={"district": district_id or None, "page": page + 1 if page else None},
                           title=l10n("web.top_list_title", specialty=context["specialty_name"],
                                      scope=context["scope"]),
                           open_=f"page-top-{specialty_id}" + (f"-{district_id}" if district_id else ""))

    async def sitemap(self, request: web.Request) -> web.Response:
        paths = await self.read(lambda repo: content.sitemap_entries(repo, self.directory, self.clock()))
        lines = ['<?xml version="1.0" encoding="UTF-8"?>',
                 '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
                 'xmlns:xhtml="http://www.w3.org/1999/xhtml">']
        for rest in paths:
            alternates = "".join(f'<xhtml:link rel="alternate" hreflang="{other}" '
                                 f'href="{self.absolute(request, self.path(other, rest))}"/>' for other in LANGUAGES)
            for lang in LANGUAGES:
                lines.append(f"<url><loc>{self.absolute(request, self.path(lang, rest))}</loc>{alternates}</url>")
        lines.append("</urlset>")
        return self.cached(request, "\n".join(lines).encode(), "application/xml")

    async def robots(self, request: web.Request) -> web.Response:
        body = f"User-agent: *\nAllow: /\nSitemap: {self.absolute(request, self.prefix + '/sitemap.xml')}\n"
        return self.cached(request, body.encode(), "text/plain")

    async def stylesheet(self, request: web.Request) -> web.Response:
        # Versioned by its hash in every page's link: a year is safe.
        return self.cached(request, self.css, "text/css", max_age=365 * 86400)

    def _lang(self, request: web.Request) -> tuple[str, L10n]:
        lang = request.match_info["lang"]
        return lang, self.translator[lang]


def _int(text: str) -> int:
    return int(text) if text.isdigit() and len(text) < 10 else -1


def _page(request: web.Request) -> int:
    """The 0-based page of ?page=N (1-based in the address); a bad value is the first page."""
    number = _int(request.query.get("page", "1"))
    return number - 1 if number >= 1 else 0


def add_web_routes(app: web.Application, settings: Settings, pool: async_sessionmaker[AsyncSession],
                   bot_username: str, *, prefix: str = "",
                   clock: Callable[[], datetime] | None = None) -> Site:
    """Mount the website on `app` (its own aiohttp app, or the webhook server's): `/{kk|ru|en}/...`,
    `/sitemap.xml`, `/robots.txt`, `/static/site.css`, and `/` redirecting to the default language. Give it a
    reader pool (storage.engine.make_read_engine), so page views never queue behind the bot's writes."""
    site = Site(settings, pool, bot_username, prefix=prefix, clock=clock)
    aiohttp_jinja2.setup(app, app_key=JINJA_KEY, loader=jinja2.PackageLoader("bot.web", "templates"),
                         autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    app[SITE_KEY] = site
    base = site.prefix
    app.router.add_get(base + "/" if base else "/", site.root)
    app.router.add_get(f"{base}/{LANG}", site.with_slash)
    app.router.add_get(f"{base}/{LANG}/", site.home)
    app.router.add_get(f"{base}/{LANG}/district/{{id}}", site.district)
    app.router.add_get(f"{base}/{LANG}/clinic/{{id}}", site.clinic)
    app.router.add_get(f"{base}/{LANG}/doctor/{{id}}", site.doctor)
    app.router.add_get(f"{base}/{LANG}/top/", site.top_index)
    app.router.add_get(f"{base}/{LANG}/top/{{id}}", site.top)
    app.router.add_get(f"{base}/sitemap.xml", site.sitemap)
    app.router.add_get(f"{base}/robots.txt", site.robots)
    app.router.add_get(f"{base}/static/site.css", site.stylesheet)
    return site


def make_web_app(settings: Settings, pool: async_sessionmaker[AsyncSession], bot_username: str, **kwargs: Any
                 ) -> web.Application:
    app = web.Application()
    add_web_routes(app, settings, pool, bot_username, **kwargs)
    return app
