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
    assert "sent {{secret:redacted}} to the server" in lines and "bad key {{secret:redacted}}" in lines
    assert lines.count("canary-log-value") == 1 and "after: canary-log-value" in lines
