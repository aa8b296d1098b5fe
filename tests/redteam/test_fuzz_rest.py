"""REST fuzzing against the live web process: random and structure-aware requests on every route in
the Flask url_map (path arguments, methods, query strings, headers, bodies). No answer may be an HTTP
500 or carry INTERNAL_ERROR, every request must be answered, and /health must answer 200 afterwards.
The seed is printed in the summary; REDTEAM_SEED=<n> replays a run."""
from __future__ import annotations

import http.client
import json
import os
import random
from collections import Counter
from urllib.parse import quote, urlencode, urlsplit

import pytest

from app.factory import close_app, create_app
from tests.conftest import ALICE, TEST_SERVICE_KEY, token_for
from tests.redteam.fuzz_values import Fuzz

# gunicorn's defaults (limit_request_line, limit_request_field_size).
GUNICORN_REQUEST_LINE, GUNICORN_FIELD = 4094, 8190
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE", "PROPFIND")
QUERY_KEYS = ("limit", "offset", "cursor", "before", "after", "since", "until", "q", "namespace", "user_id", "status",
              "chatbot", "page", "per_page", "order", "sort", "token", "from", "to", "day", "kb", "tag")
BODY_KEYS = ("name", "namespace", "key", "value", "code", "chatbots", "content", "title", "metadata", "tags", "url",
             "model", "api_key", "kind", "base_url", "is_default", "description", "dry_run", "delete_missing",
             "documents", "source", "owner_id", "embedder", "chunk_size", "chunk_overlap", "secret", "config")


def _seed() -> int:
    return int(os.environ.get("REDTEAM_SEED") or random.SystemRandom().randrange(2**32))


@pytest.fixture(scope="module")
def routes(database):
    """(rule, methods, argument names) of every route, read from the application itself."""
    app = create_app(database)
    try:
        return [(rule.rule, sorted(rule.methods - {"HEAD", "OPTIONS"}), sorted(rule.arguments))
                for rule in app.url_map.iter_rules() if rule.endpoint != "static"]
    finally:
        close_app(app)


def _q(value: str, safe: str = "") -> str:
    # Lone surrogates are sent as the bytes a careless client would write.
    return quote(value, safe=safe, errors="surrogatepass")


def _path(fz: Fuzz, rule: str, arguments: list[str]) -> str:
    path = rule
    for name in arguments:
        value = fz.text(30) if fz.chance(0.7) else str(fz.number())
        path = path.replace(f"<{name}>", _q(value)).replace(f"<path:{name}>", _q(value, "/"))
        # Converters such as <int:x> or <uuid:x>.
        for converter in ("int", "uuid", "string", "float", "any"):
            path = path.replace(f"<{converter}:{name}>", _q(value))
    if fz.chance(0.05):
        path += fz.pick(("/", "//", "/..", "/%2e%2e", "/" + _q(fz.text(20))))
    return path


def _headers(fz: Fuzz) -> dict[str, str]:
    headers = {}
    auth = fz.rng.randrange(6)
    if auth == 1:
        headers["Authorization"] = f"Bearer {token_for(ALICE)}"
    elif auth == 2:
        headers["X-Service-Key"] = TEST_SERVICE_KEY
    elif auth == 3:
        headers["Authorization"] = fz.pick(("Bearer", "Bearer " + fz.text(60), "Basic Zm9vOmJhcg==", "Bearer a.b.c",
                                            "bearer " + "x" * 9000))
    elif auth == 4:
        headers["X-Service-Key"] = fz.text(40)
    if fz.chance(0.3):
        headers["Origin"] = fz.pick(("http://evil.example", "null", "http://127.0.0.1", fz.text(20)))
    if fz.chance(0.2):
        headers["Accept"] = fz.pick(("*/*", "text/html", "application/xml", fz.text(20)))
    if fz.chance(0.1):
        headers["If-None-Match"] = fz.text(20)
    # http.client refuses header values it cannot send (newlines, non-latin-1): those go in the body.
    return {k: v for k, v in headers.items() if v.isprintable() and v.isascii()}


def _body(fz: Fuzz) -> tuple[bytes | None, str | None]:
    kind = fz.rng.randrange(7)
    if kind == 0:
        return None, None
    if kind == 1:
        return fz.raw_bytes(), fz.pick((None, "application/json", "application/octet-stream", "text/plain"))
    if kind == 2:
        return fz.deep().encode(), "application/json"
    if kind == 3:
        return fz.json_text(fz.value()).encode(), "application/json"
    if kind == 4:
        return fz.json_text(fz.value()).encode(), fz.pick(("text/plain", "application/x-www-form-urlencoded",
                                                           "multipart/form-data; boundary=x", "application/json; charset=latin-1"))
    # Structure-aware: an object with the fields the APIs take, each of a random type.
    body = {key: fz.value() for key in fz.rng.sample(BODY_KEYS, fz.rng.randrange(1, 6))}
    if kind == 6 and "chatbots" in body:
        body["chatbots"] = [{"name": fz.text(10), "code": fz.text(200)}]
    # Never a real namespace: a sync with delete_missing must not empty the namespaces other tests use.
    body["namespace"] = f"fz-{fz.rng.getrandbits(32)}"
    body["delete_missing"] = False
    return fz.json_text(body).encode(), "application/json"


def _query(fz: Fuzz) -> str:
    if not fz.chance(0.6):
        return ""
    pairs = [(fz.pick(QUERY_KEYS) if fz.chance(0.8) else fz.text(10), fz.scalar()) for _ in range(fz.rng.randrange(1, 5))]
    pairs = [(k, "" if v is None else str(v)) for k, v in pairs if k != "namespace"]
    pairs.append(("namespace", f"fz-{fz.rng.getrandbits(16)}"))
    return "?" + urlencode(pairs, errors="surrogatepass") if fz.chance(0.9) else "?" + _q(fz.text(50), "=&")


class Client:
    """One keep-alive connection, sent exactly what the case says (http.client does not normalise paths)."""

    def __init__(self, base: str):
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=15)

    def request(self, method: str, target: str, body: bytes | None, headers: dict) -> tuple[int, str]:
        try:
            self.conn.request(method, target, body=body, headers=headers)
            response = self.conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            if response.getheader("Connection", "").lower() == "close":
                self.reset()
            return response.status, text
        except Exception:
            self.reset()
            raise

    def reset(self) -> None:
        self.conn.close()
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=15)


def test_random_requests_on_every_route_get_no_internal_error(web, routes, scale, report):
    seed = _seed()
    fz = Fuzz(seed)
    statuses: Counter = Counter()
    failures = []
    client = Client(web)
    for case in range(scale.rest_fuzz_cases):
        rule, methods, arguments = fz.pick(routes)
        method = fz.pick(methods) if methods and fz.chance(0.8) else fz.pick(METHODS)
        path = _path(fz, rule, arguments) if fz.chance(0.95) else "/" + _q(fz.text(40), "/")
        body, content_type = _body(fz)
        headers = _headers(fz)
        if content_type:
            headers["Content-Type"] = content_type
        target = path + _query(fz)
        try:
            status, text = client.request(method, target, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            if len(target) > GUNICORN_REQUEST_LINE or any(len(v) > GUNICORN_FIELD for v in headers.values()):
                # gunicorn answers 414/431 and closes while the client is still writing: the reset
                # reaches the client first. A refusal, not a fault.
                statuses["reset (over gunicorn's size limits)"] += 1
                continue
            failures.append(f"case {case}: {method} {target[:200]} -> no answer: {type(exc).__name__}: {exc}")
            continue
        statuses[status] += 1
        if (status >= 500 and status != 503) or "INTERNAL_ERROR" in text:
            failures.append(f"case {case}: {method} {target[:200]} body={body[:200] if body else None!r} "
                            f"-> {status} {text[:300]}")
    health_status, health_text = Client(web).request("GET", "/health", None, {})
    note = f"seed {seed}; statuses " + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items(), key=str))
    report.add("fuzz", f"REST, {len(routes)} routes", scale.rest_fuzz_cases, scale.rest_fuzz_cases - len(failures),
               len(failures), note)
    print(f"REST fuzz seed {seed} (replay with REDTEAM_SEED={seed})")
    assert health_status == 200 and json.loads(health_text), health_text
    assert not failures, f"seed {seed}:\n" + "\n".join(failures[:20])


def test_json_nested_too_deeply_is_a_bad_request_on_every_route_that_takes_a_body(web, routes, report):
    """Found by the fuzzer (the playground's routes answered 500): the json module raises RecursionError,
    which Flask's get_json lets through; app/web/errors.py now answers it like any malformed body."""
    failures = []
    cases = 0
    for rule, methods, arguments in routes:
        path = rule
        for name in arguments:
            path = path.replace(f"<{name}>", "x")
            for converter in ("int", "uuid", "string", "path", "any"):
                path = path.replace(f"<{converter}:{name}>", "00000000-0000-4000-8000-000000000000")
        for method in set(methods) & {"POST", "PUT", "PATCH"}:
            for headers in ({"Authorization": f"Bearer {token_for(ALICE)}"}, {"X-Service-Key": TEST_SERVICE_KEY}):
                cases += 1
                status, text = Client(web).request(method, path + "?namespace=fz-deep", b"[" * 100_000,
                                                   {"Content-Type": "application/json", **headers})
                if status >= 500 and status != 503 or "INTERNAL_ERROR" in text:
                    failures.append(f"{method} {path}: {status} {text[:200]}")
    report.add("fuzz", "REST, JSON nested 100,000 deep", cases, cases - len(failures), len(failures))
    assert cases and not failures, failures
