"""Random values for the fuzzers, all drawn from one seeded `random.Random`, so a failing case is
reproduced by running again with the printed seed (REDTEAM_SEED)."""
from __future__ import annotations

import json
import random
import uuid

NASTY_STRINGS = (
    "", " ", "\x00", "a\x00b", "\ud800", "\udfff", "😀" * 50, "\u202e\u0644\u0627", "../../../etc/passwd", "%00",
    "%2e%2e%2f", "'; DROP TABLE orders; --", "{{secret:x}}", "{{system:jwt_secret}}", "<script>alert(1)</script>",
    "${jndi:ldap://x}", "\r\nX-Injected: 1", "null", "true", "NaN", "-1", "1e309", "0x7fffffff", "*", "default",
    "tests", "a" * 70_000, "ß\u0301\u0000\u200b", "\\u0000", "\t\n", "%s%s%s%n", "1' OR '1'='1",
)
NUMBERS = (0, -1, 1, 2**31, 2**53, 2**53 + 1, 2**63, 10**30, -10**30, 1.5, -0.0, 1e308, float("inf"), float("nan"))


class Fuzz:
    def __init__(self, seed: int):
        self.seed = seed
        self.rng = random.Random(seed)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, items):
        return items[self.rng.randrange(len(items))]

    def text(self, max_len: int = 40) -> str:
        kind = self.rng.randrange(5)
        if kind == 0:
            return self.pick(NASTY_STRINGS)
        if kind == 1:
            return "".join(chr(self.rng.randrange(0x20, 0x7F)) for _ in range(self.rng.randrange(max_len)))
        if kind == 2:
            # Any code point, surrogates included: what a JSON escape can smuggle in.
            return "".join(chr(self.rng.randrange(0x110000)) for _ in range(self.rng.randrange(max_len)))
        if kind == 3:
            return str(uuid.UUID(int=self.rng.getrandbits(128)))
        return self.pick(("shop", "tests", "default", "sql-assistant", "fz-" + str(self.rng.getrandbits(32))))

    def number(self):
        return self.pick(NUMBERS) if self.chance(0.6) else self.rng.randint(-10**6, 10**6)

    def scalar(self):
        kind = self.rng.randrange(5)
        return (None, self.text(), self.number(), self.chance(0.5), self.text(8))[kind]

    def value(self, depth: int = 0):
        if depth > 3 or self.chance(0.55):
            return self.scalar()
        if self.chance(0.5):
            return [self.value(depth + 1) for _ in range(self.rng.randrange(4))]
        return {self.text(12): self.value(depth + 1) for _ in range(self.rng.randrange(4))}

    def deep(self) -> str:
        """A JSON document nested past any parser's comfort."""
        depth = self.pick((100, 1000, 5000, 50_000))
        return "[" * depth + "]" * depth if self.chance(0.5) else '{"a":' * depth + "1" + "}" * depth

    def json_text(self, value) -> str:
        """`value` as JSON text; NaN/Infinity and lone surrogates are written as a lax client would."""
        return json.dumps(value, allow_nan=True, ensure_ascii=True)

    def raw_bytes(self, max_len: int = 300) -> bytes:
        return bytes(self.rng.getrandbits(8) for _ in range(self.rng.randrange(max_len)))
