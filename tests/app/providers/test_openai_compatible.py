"""The OpenAI-compatible stream reader: what a provider sends of the wrong shape is its fault
(PROVIDER_ERROR), never a crash of ours, and token counts stay countable."""
from types import SimpleNamespace as NS

import pytest

from app.providers.base import ProviderError, TextDelta, Usage
from app.providers.openai_compatible import _OpenAIStream


class Raw:
    def __init__(self, chunks):
        self._chunks = chunks

    def __iter__(self):
        return iter(self._chunks)

    def close(self):
        pass


def chunk(content=None, finish=None, usage=None, choices=None):
    if choices is None:
        choices = [NS(delta=NS(content=content, tool_calls=None), finish_reason=finish)]
    return NS(choices=choices, usage=usage)


def read(chunks):
    return list(_OpenAIStream(Raw(chunks)))


@pytest.mark.parametrize("bad", [
    NS(choices=[None], usage=None),
    NS(choices=[5], usage=None),
    chunk(content=42),
    chunk(content=["a", "b"]),
    NS(choices=[NS(delta="hello", finish_reason=None)], usage=None),
    NS(choices=[NS(delta=NS(content=None, tool_calls="x"), finish_reason=None)], usage=None),
])
def test_a_chunk_of_the_wrong_shape_is_a_provider_error(bad):
    with pytest.raises(ProviderError, match="malformed"):
        read([chunk("fine "), bad])


def test_a_stream_with_no_answer_at_all_is_a_provider_error():
    with pytest.raises(ProviderError, match="without an answer"):
        read([])
    with pytest.raises(ProviderError, match="without an answer"):
        read([NS(choices=[], usage=None)])


@pytest.mark.parametrize("counts,expected", [
    ((2**40, 5), Usage(2**31 - 1, 5)),
    ((-1000, 3.7), Usage(0, 3)),
    (("lots", None), Usage(0, 0)),
    ((float("nan"), True), Usage(0, 0)),
])
def test_token_counts_are_kept_countable(counts, expected):
    usage = NS(prompt_tokens=counts[0], completion_tokens=counts[1])
    pieces = read([chunk("hi", finish="stop"), NS(choices=[], usage=usage)])
    assert pieces == [TextDelta("hi"), expected]
