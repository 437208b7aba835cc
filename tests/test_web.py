"""The public website: every page type in kk, ru and en, what it shows (the bot's own public texts, scores and
rankings), what it never shows (personal data), and how it is found and cached."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from html.parser import HTMLParser

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.l10n import Translator
from bot.web import make_web_app
from tests import web_data
from tests.conftest import App
from tests.web_data import Seeded

VOID = {"meta", "link", "br", "img", "input", "hr", "source", "wbr"}
T = Translator()
RU, EN = T["ru"], T["en"]


@pytest.fixture
async def seeded(app: App) -> Seeded:
    return await web_data.seed(app)


@pytest.fixture
async def client(app: App, seeded: Seeded) -> AsyncIterator[TestClient]:
    web_app = make_web_app(app.settings, app.pool, web_data.USERNAME, clock=app.clock)
    async with TestClient(TestServer(web_app)) as client:
        yield client


class Page(HTMLParser):
    """What a person (or a crawler) gets from a page: its visible text, links, headings and JSON-LD."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.html, self.texts, self.links, self.headings, self.jsonld = html, [], [], [], []
        self.lang, self._in, self._script = None, [], None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "html":
            self.lang = values.get("lang")
        if tag == "a":
            self.links.append(values.get("href"))
        if tag == "script":
            self._script = values.get("type")
        if tag not in VOID:
            self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._in:
            del self._in[len(self._in) - 1 - self._in[::-1].index(tag):]
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self.jsonld.append(json.loads(data))
            return
        if "head" in self._in and "title" not in self._in:
            return
        if data.strip():
            self.texts.append(data.strip())
            if self._in and self._in[-1] in ("h1", "h2", "h3"):
                self.headings.append((self._in[-1], data.strip()))

    @property
    def text(self) -> str:
        return " ".join(self.texts)


async def get(client: TestClient, path: str, status: int = 200) -> Page:
    response = await client.get(path)
    body = await response.text()
    assert response.status == status, (path, response.status, body[:500])
    return Page(body)


async def test_smoke(client: TestClient, seeded: Seeded) -> None:
    page = await get(client, f"/ru/clinic/{seeded.clinic.id}")
    print(page.text)
