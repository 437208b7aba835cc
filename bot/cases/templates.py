"""The office's answer templates (bot/data/answer_templates.toml), each in kk, ru and en, chosen while answering."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

TEMPLATES_PATH = Path(__file__).resolve().parents[1] / "data" / "answer_templates.toml"


@dataclass(frozen=True)
class Template:
    id: str
    titles: dict[str, str]
    texts: dict[str, str]


@lru_cache(maxsize=1)
def answer_templates(path: Path = TEMPLATES_PATH) -> tuple[Template, ...]:
    """The office's answer templates (bot/data/answer_templates.toml), each in kk, ru and en."""
    with path.open("rb") as file:
        data = tomllib.load(file)
    return tuple(Template(key, {lang: body[lang]["title"] for lang in ("kk", "ru", "en")},
                          {lang: body[lang]["text"] for lang in ("kk", "ru", "en")})
                 for key, body in data["templates"].items())


def template(template_id: str) -> Template | None:
    return next((t for t in answer_templates() if t.id == template_id), None)
