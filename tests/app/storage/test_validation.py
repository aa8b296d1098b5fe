"""Names the storage layer accepts and refuses: keys (traversal attempts above all), bucket names,
prefixes and content types."""
import pytest

from app.storage.errors import InvalidName
from app.storage.validation import (
    check_bucket_name,
    check_content_type,
    check_key,
    check_prefix,
    check_start_after,
)

GOOD_KEYS = ["a", "report.txt", "sales/2024/q1.csv", "..hidden", "a..b/c", "x/.../y", "名前/ファイル.txt",
             "with space.txt", "a" * 1024, "é" * 512, "C/d", "notes:v2"]
BAD_KEYS = ["", "../etc/passwd", "a/../../b", "..", ".", "./a", "a/./b", "a/..", "/etc/passwd", "/", "a//b",
            "a/", "a\\b", "..\\..\\windows", "C:\\x", "C:x", "a\x00b", "a\nb", "a\rb", "a\tb", "\x1b[31m",
            "a\x7fb", "a\u202eb", "a\u200bb", "a\u2028b", "a\ufffdb", "a" * 1025, "é" * 513, None, 5, ["a"]]


@pytest.mark.parametrize("key", GOOD_KEYS)
def test_good_keys_are_accepted_unchanged(key):
    assert check_key(key) == key


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_traversal_absolute_control_and_overlong_keys_are_refused(key):
    with pytest.raises(InvalidName):
        check_key(key)


def test_refusals_say_what_is_wrong():
    with pytest.raises(InvalidName, match=r"'\.\.' segments"):
        check_key("../secret")
    with pytest.raises(InvalidName, match="relative"):
        check_key("/etc/passwd")
    with pytest.raises(InvalidName, match="U\\+0000"):
        check_key("a\x00b")
    with pytest.raises(InvalidName, match="1024 bytes"):
        check_key("k" * 2000)
    with pytest.raises(InvalidName, match="backslash"):
        check_key("a\\b")


@pytest.mark.parametrize("name", ["reports", "ab", "a-b", "0day", "x" * 63])
def test_good_bucket_names(name):
    assert check_bucket_name(name) == name


@pytest.mark.parametrize("name", ["", "a", "-ab", "Reports", "a_b", "a.b", "a/b", "../x", "x" * 64, "ré", None, 3])
def test_bad_bucket_names(name):
    with pytest.raises(InvalidName, match="bucket name"):
        check_bucket_name(name)


@pytest.mark.parametrize("prefix", ["", None, "sales/", "sales/2024", "a..b"])
def test_good_prefixes(prefix):
    assert check_prefix(prefix) == (prefix or "")


@pytest.mark.parametrize("prefix", ["../", "a/../", "/abs", "a//", "a\x00", "a\\", 7])
def test_bad_prefixes(prefix):
    with pytest.raises(InvalidName):
        check_prefix(prefix)


def test_start_after_is_only_a_comparison_value_but_still_printable():
    assert check_start_after("../anything") == "../anything"
    with pytest.raises(InvalidName):
        check_start_after("a\x00")


@pytest.mark.parametrize(("value", "expected"), [
    (None, "application/octet-stream"), ("", "application/octet-stream"), ("text/plain", "text/plain"),
    ("Text/CSV", "text/csv"), ("text/plain; charset=utf-8", "text/plain; charset=utf-8"),
    ("application/vnd.api+json", "application/vnd.api+json")])
def test_content_types(value, expected):
    assert check_content_type(value, "application/octet-stream") == expected


@pytest.mark.parametrize("value", ["text", "text/plain\r\nX-Evil: 1", "a/b; c", "../..", "t" * 300, 5])
def test_bad_content_types(value):
    with pytest.raises(InvalidName, match="media type"):
        check_content_type(value, "x/y")
