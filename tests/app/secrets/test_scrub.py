"""Known secret values out of text, events and log records; nothing to do costs nothing."""
import io
import json
import logging
from urllib.parse import quote

from app.secrets import scrub
from app.secrets.scrub import NO_SECRETS, Scrubber

VALUE = "s3cr3t/k+y=\"x\""


def test_every_form_of_a_value_becomes_its_placeholder():
    scrubber = Scrubber({"api.key": [VALUE], "short.one": ["s3cr3t"]})
    text = f"raw {VALUE} url {quote(VALUE, safe='')} json {json.dumps(VALUE)} part s3cr3t"
    assert scrubber.text(text) == ('raw {{secret:api.key}} url {{secret:api.key}} json "{{secret:api.key}}" '
                                   "part {{secret:short.one}}")
    assert scrubber.value({"a": [VALUE, 1, None], VALUE: "k"}) == {"a": ["{{secret:api.key}}", 1, None],
                                                                  "{{secret:api.key}}": "k"}


def test_events_are_left_alone_unless_a_value_is_in_them():
    scrubber = Scrubber({"k": ["canary-123"]})
    clean = {"type": "content", "delta": "hello"}
    assert scrubber.event(clean) is clean
    assert scrubber.event({"type": "tool_result", "data": {"preview": "x canary-123 y"}}) == \
        {"type": "tool_result", "data": {"preview": "x {{secret:k}} y"}}
    assert not NO_SECRETS and NO_SECRETS.event(clean) is clean and NO_SECRETS.text("canary-123") == "canary-123"


def test_log_records_are_scrubbed_while_a_turn_holds_the_values():
    scrub.install_log_scrubbing()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.scrub")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        with scrub.held(Scrubber({"k": ["canary-log-value"]})):
            logger.info("sent %s to the server", "canary-log-value")
            try:
                raise ValueError("bad key canary-log-value")
            except ValueError:
                logger.exception("failed")
        logger.info("after: %s", "canary-log-value")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue()
    assert "sent {{secret:k}} to the server" in lines and "bad key {{secret:k}}" in lines
    assert lines.count("canary-log-value") == 1 and "after: canary-log-value" in lines


def test_a_value_held_by_one_turn_is_not_scrubbed_from_another_turns_log_lines():
    # A user's secret may be any word: held process-wide, "refused" vanished from every turn's logs.
    import threading

    scrub.install_log_scrubbing()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.scrub.contexts")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    holding, done = threading.Event(), threading.Event()

    def alices_turn():
        with scrub.held(Scrubber({"k": ["refused-words"]})):
            logger.info("alice: refused-words")
            holding.set()
            done.wait(5)

    alice = threading.Thread(target=alices_turn)
    alice.start()
    try:
        assert holding.wait(5)
        logger.info("bob: request refused-words by the guard")
    finally:
        done.set()
        alice.join(5)
        logger.removeHandler(handler)
    lines = stream.getvalue()
    assert "alice: {{secret:k}}" in lines and "bob: request refused-words by the guard" in lines


def test_a_secret_of_digits_is_scrubbed_where_sql_returns_it_as_a_number():
    scrubber = Scrubber({"pin": ["73194628"], "zeros": ["00001234"]})
    event = {"type": "query_result", "data": [{"n": 73194628, "f": 73194628.0, "s": "73194628", "other": 1234,
                                               "flag": True}]}
    assert scrubber.event(event)["data"] == [{"n": "{{secret:pin}}", "f": "{{secret:pin}}", "s": "{{secret:pin}}",
                                              "other": 1234, "flag": True}]


def test_quotes_escaped_as_jinja_and_go_write_them_and_php_style_urlencoding_are_scrubbed():
    scrubber = Scrubber({"k": ["it's-a-\"secret\"~*"]})
    for echoed in ("it&#39;s-a-&#34;secret&#34;~*", "it%27s-a-%22secret%22%7E%2A"):
        assert scrubber.text(f"key: {echoed}.") == "key: {{secret:k}}."
