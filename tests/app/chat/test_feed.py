"""The feed of one socket: replay then live, no duplicates, gaps filled, losses said and repaired."""
from app.chat.feed import Feed
from app.streaming.bus import Replay


def ev(seq, kind="content", message_id="m1", **extra):
    return {"seq": seq, "type": kind, "message_id": message_id, "conversation_id": "c", **extra}


class Harness:
    def __init__(self, kept=(), stored=None):
        self.delivered = []
        self.kept = {e["seq"]: e for e in kept}
        self.stored = stored or {}
        self.recovered = []
        self.fetched = []  # (first, last) of every range the feed asked the buffer for
        self.pending = []  # recoveries started but not yet run (the test runs them)
        self.feed = Feed("c", self.delivered.append, self.fetch, self.recover, spawn=self.pending.append)

    def fetch(self, first, last):
        self.fetched.append((first, last))
        return [self.kept[s] for s in range(first, last + 1) if s in self.kept]

    def recover(self, message_id):
        self.recovered.append(message_id)
        return self.stored.get(message_id)

    def run_recoveries(self):
        while self.pending:
            self.pending.pop(0)()

    def types(self):
        return [e["type"] for e in self.delivered]


def test_live_events_wait_for_the_replay_and_duplicates_are_dropped():
    h = Harness()
    h.feed.on_live(ev(6))
    h.feed.on_live(ev(7))
    h.feed.go_live(Replay([ev(4), ev(5), ev(6)], True), after_seq=3)
    h.feed.on_live(ev(7))
    h.feed.on_live(ev(8))
    assert [e["seq"] for e in h.delivered] == [4, 5, 6, 7, 8]


def test_a_gap_is_filled_from_the_buffer_when_it_still_has_the_events():
    h = Harness(kept=[ev(4), ev(5), ev(6)])
    h.feed.go_live(Replay([], True), after_seq=2)
    h.feed.on_live(ev(3))
    h.feed.on_live(ev(7))
    assert [e["seq"] for e in h.delivered] == [3, 4, 5, 6, 7] and "events_lost" not in h.types()
    assert h.fetched == [(4, 6)]  # only the gap, once


def test_a_gap_the_buffer_cannot_fill_is_said_and_the_ending_carries_the_stored_answer():
    stored = {"m1": {"type": "done", "message_id": "m1", "content": "the whole answer", "recovered": True}}
    h = Harness(kept=[ev(5)], stored=stored)
    h.feed.go_live(Replay([], True), after_seq=2)
    h.feed.on_live(ev(3, delta="the "))
    h.feed.on_live(ev(6, delta="answer"))  # 4 is gone for good, 5 is still kept
    lost = [e for e in h.delivered if e["type"] == "events_lost"]
    assert [(e["first_seq"], e["last_seq"], e["message_id"]) for e in lost] == [(4, 4, "m1")]
    h.feed.on_live(ev(7, "done", usage={"total_tokens": 3}))
    assert h.types()[-1] != "done"  # held until the stored answer is read
    h.run_recoveries()
    done = h.delivered[-1]
    assert done["type"] == "done" and done["seq"] == 7 and done["usage"] == {"total_tokens": 3}
    assert done["content"] == "the whole answer" and done["recovered"] is True
    h.feed.on_live(ev(8, "progress", message_id="m2"))
    h.feed.on_live(ev(9, "done", message_id="m2"))
    assert [e["seq"] for e in h.delivered[-2:]] == [8, 9] and "content" not in h.delivered[-1]  # m2 lost nothing


def test_events_held_during_recovery_follow_it_in_order():
    h = Harness(stored={"m1": {"type": "done", "message_id": "m1", "content": "x", "recovered": True}})
    h.feed.go_live(Replay([], True), after_seq=0)
    h.feed.on_live(ev(1))
    h.feed.on_live(ev(3, "done"))          # 2 lost -> the ending waits for the stored answer
    h.feed.on_live(ev(4, "progress", message_id="m2"))
    h.feed.on_live(ev(5, message_id="m2"))
    assert [e["seq"] for e in h.delivered if e["type"] != "events_lost"] == [1]
    h.run_recoveries()
    assert [e["seq"] for e in h.delivered if e["type"] != "events_lost"] == [1, 3, 4, 5]


def test_a_lost_ending_is_rebuilt_before_the_next_turn():
    stored = {"m1": {"type": "error", "code": "PROVIDER_ERROR", "message_id": "m1", "content": "partial",
                     "recovered": True}}
    h = Harness(stored=stored)
    h.feed.go_live(Replay([], True), after_seq=0)
    h.feed.on_live(ev(1, "progress"))
    h.feed.on_live(ev(2))
    h.feed.on_live(ev(5, "progress", message_id="m2"))  # 3-4 (m1's ending among them) are gone
    h.run_recoveries()
    assert h.types() == ["progress", "content", "events_lost", "error", "progress"]
    rebuilt = h.delivered[3]
    assert rebuilt["message_id"] == "m1" and rebuilt["content"] == "partial" and rebuilt["seq"] == 2
    assert h.delivered[-1]["seq"] == 5 and h.recovered == ["m1"]


def test_a_loss_the_publisher_reports_marks_the_turn():
    h = Harness(stored={"m1": {"type": "done", "message_id": "m1", "content": "all of it", "recovered": True}})
    h.feed.go_live(Replay([], True), after_seq=0)
    h.feed.on_live(ev(1))
    h.feed.on_live(ev(2, "events_lost"))
    h.feed.on_live(ev(3, "done"))
    h.run_recoveries()
    assert h.types() == ["content", "events_lost", "done"] and h.delivered[-1]["content"] == "all of it"


def test_an_incomplete_replay_is_said():
    h = Harness(stored={"m1": {"type": "done", "message_id": "m1", "content": "abc", "recovered": True}})
    h.feed.go_live(Replay([ev(9), ev(10, "done")], False), after_seq=4)
    h.run_recoveries()
    assert h.types() == ["events_lost", "content", "done"]
    assert (h.delivered[0]["first_seq"], h.delivered[0]["last_seq"]) == (5, 8)
    assert h.delivered[-1]["content"] == "abc"


def test_catch_up_after_a_reconnect_delivers_what_pubsub_dropped():
    h = Harness()
    h.feed.go_live(Replay([], True), after_seq=0)
    h.feed.on_live(ev(1))
    h.feed.catch_up([ev(2), ev(3)])
    h.feed.on_live(ev(3))
    h.feed.on_live(ev(4))
    assert [e["seq"] for e in h.delivered] == [1, 2, 3, 4]


def test_a_recovery_that_finds_nothing_still_delivers_the_live_ending():
    h = Harness(stored={})
    h.feed.go_live(Replay([], True), after_seq=0)
    h.feed.on_live(ev(1))
    h.feed.on_live(ev(3, "done"))
    h.run_recoveries()
    assert h.types() == ["content", "events_lost", "done"] and "content" not in h.delivered[-1]



def test_a_resume_behind_what_was_published_when_the_buffer_is_gone_is_told_and_repaired():
    stored = {"m1": {"type": "done", "message_id": "m1", "content": "all of it", "recovered": True,
                     "usage": {"total_tokens": 3}}}
    h = Harness(stored=stored)
    h.feed.go_live(Replay([], True), after_seq=5, known_through=42, latest_message="m1")
    h.run_recoveries()
    assert h.types() == ["events_lost", "done"]
    lost, done = h.delivered
    assert (lost["first_seq"], lost["last_seq"], lost["seq"]) == (6, 42, 42)  # never behind chat_started's 42
    assert done["content"] == "all of it" and done["seq"] == 42
    h.feed.on_live(ev(43, "progress", message_id="m2"))
    assert h.delivered[-1]["seq"] == 43
