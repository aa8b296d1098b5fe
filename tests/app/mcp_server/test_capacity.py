"""CallCapacity: a caller's share of concurrent tool calls, given back however the call ends."""
import pytest

from app.mcp_server.capacity import CallCapacity, TooManyCalls


def test_a_caller_past_its_share_is_refused_and_others_are_not():
    capacity = CallCapacity(threads=4, per_caller=2)
    with capacity.slot("user:a"), capacity.slot("user:a"):
        with pytest.raises(TooManyCalls, match="at most 2 per user"):
            with capacity.slot("user:a"):
                pass
        with capacity.slot("user:b"):
            pass
    with pytest.raises(RuntimeError):
        with capacity.slot("user:a"), capacity.slot("user:a"):
            raise RuntimeError("a call that failed")
    with capacity.slot("user:a"), capacity.slot("user:a"):  # both slots came back
        pass
