"""How long urgency classification takes per text (CPU, after the dictionaries are loaded): prints milliseconds."""

from __future__ import annotations

import json
import time
from pathlib import Path

from bot.services.urgency import UrgencyRules

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    rules = UrgencyRules.load()
    lines = (ROOT / "tests/data/urgency_eval.jsonl").read_text("utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines if line.strip()]
    started = time.perf_counter()
    rules.classify(texts[0])
    print(f"first call (loads the dictionaries): {(time.perf_counter() - started) * 1000:.0f} ms")
    for _ in range(2):
        started = time.perf_counter()
        for text in texts:
            rules.classify(text)
        elapsed = (time.perf_counter() - started) * 1000 / len(texts)
    print(f"per text, {len(texts)} texts: {elapsed:.1f} ms")
    long = " ".join(texts[:30])
    started = time.perf_counter()
    rules.classify(long)
    print(f"one text of {len(long)} characters: {(time.perf_counter() - started) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
