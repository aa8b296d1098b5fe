"""Secrets at rest: AES-256-GCM under a key per purpose, each value bound to its row."""
import pytest

from app.secrets.sealing import SealError, SecretBox

MASTER = "m" * 40


def test_a_sealed_value_opens_only_with_the_same_key_purpose_and_row():
    box = SecretBox(MASTER, "ai.providers.api_key")
    sealed = box.seal("sk-secret-value", "row-1")
    assert sealed.startswith("v1.") and "sk-secret-value" not in sealed
    assert box.open(sealed, "row-1") == "sk-secret-value"
    assert box.seal("sk-secret-value", "row-1") != sealed  # a fresh nonce every time
    for opener, context in ((box, "row-2"), (SecretBox(MASTER, "settings.system"), "row-1"),
                            (SecretBox("n" * 40, "ai.providers.api_key"), "row-1")):
        with pytest.raises(SealError) as caught:
            opener.open(sealed, context)
        assert "sk-secret-value" not in str(caught.value)


@pytest.mark.parametrize("token", ["", "v1.", "v2.AAAA", "plain text", "v1.!!!!", "v1.QUJD"])
def test_malformed_or_tampered_text_is_a_seal_error(token):
    with pytest.raises(SealError):
        SecretBox(MASTER, "p").open(token, "row")


def test_one_flipped_byte_is_detected():
    box = SecretBox(MASTER, "p")
    sealed = box.seal("value", "row")
    body = bytearray(sealed.encode())
    body[-3] = ord("A") if body[-3] != ord("A") else ord("B")
    with pytest.raises(SealError):
        box.open(body.decode(), "row")
