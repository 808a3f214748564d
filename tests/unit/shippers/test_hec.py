"""Splunk HEC: events and raw lines mapped field by field, HEC's answers and codes, the stop at
the first bad event (what precedes it stored, every event from it on a counted rejection), and
ackIds unique across workers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest

from workbench.codecs.base import ENCODING, INVALID, MALFORMED
from workbench.shippers import hec
from workbench.shippers.base import HttpRequest
from workbench.shippers.hec import HecCodec

CHANNEL = "0f5e2c1a-7d3b-4c8e-9a6f-2b1d4e3c5a70"
NOW_SLACK = dt.timedelta(seconds=30)


def request(body: bytes, path: str = "/services/collector/event", query: dict[str, str] | None = None,
            headers: dict[str, str] | None = None, method: str = "POST") -> HttpRequest:  # fmt: skip
    return HttpRequest(method, path, query or {}, headers or {}, body, peer_host="10.1.2.3")


def events(*objs: Any, sep: bytes = b"\n") -> bytes:
    return sep.join(msgspec.json.encode(o) for o in objs)


def answer(reply: Any) -> dict[str, Any]:
    assert reply.content_type == "application/json"
    return msgspec.json.decode(reply.body)  # type: ignore[no-any-return]


def run(codec: HecCodec, req: HttpRequest, action: str = "event") -> tuple[Any, Any]:
    decoded = codec.decode(action, req)
    assert not hasattr(decoded, "status"), decoded
    return decoded, codec.reply(action, req, decoded)


CODEC = HecCodec(default_service="fallback-svc", worker_id=1)


def test_routes_cover_the_collector_endpoints() -> None:
    table = {(r.method, r.path): r.action for r in HecCodec.routes}
    assert table[("POST", "/services/collector/event")] == "event"
    assert table[("POST", "/services/collector")] == "event"
    assert table[("POST", "/services/collector/event/1.0")] == "event"
    assert table[("POST", "/services/collector/raw")] == "raw"
    assert table[("GET", "/services/collector/health")] == "health"
    assert table[("POST", "/services/collector/ack")] == "ack"
    assert HecCodec.auth_scheme == "Splunk"
    assert HecCodec.name == "hec"


def test_string_event_maps_every_field() -> None:
    body = events({
        "time": 1751320763.123456, "host": "web-1", "source": "/var/log/app.log", "sourcetype": "app:log",
        "index": "main", "event": "charge failed",
        "fields": {"level": "error", "service": "payment-api", "seq": "42", "client_id": "gen-1",
                   "region": "eu-west-1", "count": 3},
    })  # fmt: skip
    decoded, reply = run(CODEC, request(body))
    assert decoded.errors == []
    [e] = decoded.entries
    assert e.timestamp == dt.datetime(2025, 6, 30, 21, 59, 23, 123456, tzinfo=dt.UTC)
    assert e.level == "ERROR"
    assert e.service == "payment-api"
    assert e.host == "web-1"
    assert e.message == "charge failed"
    assert e.seq == 42
    assert e.client_id == "gen-1"
    assert e.attributes == {"region": "eu-west-1", "count": "3", "source": "/var/log/app.log",
                            "sourcetype": "app:log", "index": "main"}  # fmt: skip
    assert reply.status == 200
    assert answer(reply) == {"text": "Success", "code": 0}


def test_fallbacks_peer_host_default_service_info_and_now() -> None:
    before = dt.datetime.now(dt.UTC)
    decoded, _ = run(CODEC, request(events({"event": "hello"})))
    [e] = decoded.entries
    assert (e.host, e.service, e.level, e.message) == ("10.1.2.3", "fallback-svc", "INFO", "hello")
    assert before - NOW_SLACK <= e.timestamp <= before + NOW_SLACK
    assert e.seq is None and e.client_id is None and e.attributes == {}


@pytest.mark.parametrize(
    ("time", "expected"),
    [
        (1700000000, dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)),
        ("1700000000.25", dt.datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=dt.UTC)),
        (1700000000.5, dt.datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=dt.UTC)),
    ],
)
def test_time_as_number_or_string_with_fraction(time: Any, expected: dt.datetime) -> None:
    decoded, _ = run(CODEC, request(events({"event": "x", "time": time})))
    assert decoded.entries[0].timestamp == expected


@pytest.mark.parametrize("key", ["message", "msg", "log", "line"])
def test_object_event_message_key_and_the_rest_to_attributes(key: str) -> None:
    body = events({"event": {key: "the line", "stream": "stdout", "level": "warning", "nested": {"a": 1}}})
    decoded, _ = run(CODEC, request(body))
    [e] = decoded.entries
    assert e.message == "the line"
    assert e.level == "WARN"
    assert e.attributes == {"stream": "stdout", "nested": '{"a":1}'}


def test_object_event_without_a_message_is_the_message_as_json() -> None:
    decoded, _ = run(CODEC, request(events({"event": {"user": "ann", "action": "login"}})))
    [e] = decoded.entries
    assert msgspec.json.decode(e.message) == {"user": "ann", "action": "login"}
    assert e.attributes == {}


def test_fields_win_over_the_event_object_and_unknown_levels_stay_attributes() -> None:
    body = events({"event": {"msg": "m", "severity": "debug", "seq": 1},
                   "fields": {"severity": "verbose", "seq": 9, "user_id": "u1", "trace_id": "t1"}})  # fmt: skip
    [e] = run(CODEC, request(body))[0].entries
    assert (e.level, e.seq, e.user_id, e.trace_id) == ("INFO", 9, "u1", "t1")
    assert e.attributes == {"severity": "verbose"}


def test_a_seq_that_is_not_digits_stays_an_attribute() -> None:
    [e] = run(CODEC, request(events({"event": "m", "fields": {"seq": "12a"}})))[0].entries
    assert e.seq is None and e.attributes == {"seq": "12a"}


@pytest.mark.parametrize("sep", [b"", b" ", b"\n", b"\r\n", b"\n\n\t"])
def test_concatenated_events_with_any_whitespace_or_none(sep: bytes) -> None:
    body = events(*({"event": f"e{i}", "fields": {"seq": i}} for i in range(5)), sep=sep)
    decoded, reply = run(CODEC, request(body))
    assert [e.seq for e in decoded.entries] == [0, 1, 2, 3, 4]
    assert reply.status == 200


def test_query_metadata_is_the_default_of_each_event() -> None:
    body = events({"event": "a"}, {"event": "b", "host": "own", "source": "own-src"})
    query = {"host": "qhost", "source": "qsrc", "sourcetype": "qst", "index": "qidx"}
    a, b = run(CODEC, request(body, query=query))[0].entries
    assert a.host == "qhost" and a.attributes == {"source": "qsrc", "sourcetype": "qst", "index": "qidx"}
    assert b.host == "own" and b.attributes == {"source": "own-src", "sourcetype": "qst", "index": "qidx"}


# --- the stop at the first bad event -----------------------------------------------------------


def good(i: int) -> dict[str, Any]:
    return {"event": f"e{i}", "fields": {"seq": i}}


def test_malformed_event_stores_what_precedes_it_and_counts_the_rest() -> None:
    body = events(good(0), good(1)) + b'\n{"event": "broken' + b"\n" + events(good(3))
    decoded, reply = run(CODEC, request(body))
    assert [e.seq for e in decoded.entries] == [0, 1]
    [err] = decoded.errors  # after a JSON break the body cannot be split: one rejection covers it
    assert (err.index, err.reason) == (2, MALFORMED)
    assert err.raw.startswith(b'{"event": "broken')
    assert reply.status == 400
    assert answer(reply) == {"text": "Invalid data format", "code": 6, "invalid-event-number": 2}


@pytest.mark.parametrize(
    ("bad", "code", "text"),
    [
        ({"time": 1}, 12, "Event field is required"),
        ({"event": ""}, 13, "Event field cannot be blank"),
        ({"event": None}, 13, "Event field cannot be blank"),
        ({"event": "x", "fields": ["a"]}, 15, "Error in handling indexed fields"),
        ({"event": "x", "time": "yesterday"}, 6, "Invalid data format"),
        (["not", "an", "object"], 6, "Invalid data format"),
    ],
)
def test_refused_event_answers_its_code_and_every_later_event_is_a_rejection(
    bad: Any, code: int, text: str
) -> None:
    body = events(good(0), bad, good(2), good(3))
    decoded, reply = run(CODEC, request(body))
    assert [e.seq for e in decoded.entries] == [0]
    assert [e.index for e in decoded.errors] == [1, 2, 3]
    assert decoded.errors[0].reason in (INVALID, MALFORMED)
    assert all("not stored" in e.detail for e in decoded.errors[1:])
    assert answer(reply) == {"text": text, "code": code, "invalid-event-number": 1}
    assert reply.status == 400


def test_schema_invalid_event_stops_like_a_refused_one() -> None:
    too_many = {"event": "x", "fields": {f"k{i}": "v" for i in range(129)}}
    decoded, reply = run(CODEC, request(events(good(0), good(1), too_many, good(3))))
    assert [e.seq for e in decoded.entries] == [0, 1]
    assert [(e.index, e.reason) for e in decoded.errors] == [(2, INVALID), (3, INVALID)]
    assert answer(reply)["invalid-event-number"] == 2


def test_event_that_is_not_utf8_is_an_encoding_rejection_and_the_rest_are_counted() -> None:
    body = events(good(0)) + b'\n{"event":"caf\xe9"}\n' + events(good(2), good(3))
    decoded, reply = run(CODEC, request(body))
    assert [e.seq for e in decoded.entries] == [0]
    assert [(e.index, e.reason) for e in decoded.errors] == [(1, ENCODING), (2, INVALID), (3, INVALID)]
    assert decoded.errors[0].raw == b'{"event":"caf\xe9"}'
    assert decoded.errors[2].raw == msgspec.json.encode(good(3))
    assert answer(reply) == {"text": "Invalid data format", "code": 6, "invalid-event-number": 1}


def test_a_break_after_a_refused_event_is_counted_once_more() -> None:
    body = events(good(0), {"event": ""}, good(2)) + b'\n{"event": oops}'
    decoded, _ = run(CODEC, request(body))
    assert [e.index for e in decoded.errors] == [1, 2, 3]
    assert decoded.errors[2].reason == MALFORMED


@pytest.mark.parametrize("body", [b"", b"  \n\t"])
def test_no_data(body: bytes) -> None:
    reply = CODEC.decode("event", request(body))
    assert (reply.status, answer(reply)) == (400, {"text": "No data", "code": 5})


# --- raw ---------------------------------------------------------------------------------------


def test_raw_lines_each_an_entry_with_query_metadata() -> None:
    query = {"channel": CHANNEL, "host": "h1", "source": "src", "sourcetype": "st", "time": "1700000000"}
    decoded, reply = run(
        CODEC, request(b"first line\r\nsecond line\n\n", "/services/collector/raw", query), "raw"
    )
    assert [e.message for e in decoded.entries] == ["first line", "second line"]
    for e in decoded.entries:
        assert (e.host, e.service, e.level) == ("h1", "fallback-svc", "INFO")
        assert e.timestamp == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)
        assert e.attributes == {"source": "src", "sourcetype": "st"}
    assert answer(reply)["code"] == 0 and "ackId" in answer(reply)


def test_raw_channel_from_the_header_and_peer_host() -> None:
    req = request(b"one\n", "/services/collector/raw", headers={"x-splunk-request-channel": CHANNEL})
    decoded, _ = run(CODEC, req, "raw")
    assert decoded.entries[0].host == "10.1.2.3"


def test_raw_without_a_channel_is_code_10() -> None:
    reply = CODEC.decode("raw", request(b"line\n", "/services/collector/raw"))
    assert (reply.status, answer(reply)) == (400, {"text": "Data channel is missing", "code": 10})


def test_a_channel_that_is_not_a_guid_is_code_11() -> None:
    reply = CODEC.decode("event", request(events(good(0)), query={"channel": "not-a-guid"}))
    assert (reply.status, answer(reply)) == (400, {"text": "Invalid data channel", "code": 11})


def test_raw_line_not_utf8_stops_there() -> None:
    decoded, reply = run(
        CODEC, request(b"ok\n\xff\xfe\nafter\n", "/services/collector/raw", {"channel": CHANNEL}), "raw"
    )
    assert [e.message for e in decoded.entries] == ["ok"]
    assert [(e.index, e.reason) for e in decoded.errors] == [(1, ENCODING), (2, INVALID)]
    assert answer(reply)["invalid-event-number"] == 1


# --- health, acks, auth, busy ------------------------------------------------------------------


def test_health() -> None:
    reply = CODEC.decode("health", request(b"", "/services/collector/health", method="GET"))
    assert (reply.status, answer(reply)) == (200, {"text": "HEC is healthy", "code": 17})


def test_ack_ids_are_given_with_a_channel_and_unique_across_workers() -> None:
    workers = [HecCodec("s", worker_id=w) for w in range(4)]
    ids = []
    for _ in range(50):
        for codec in workers:
            req = request(events(good(0)), headers={"x-splunk-request-channel": CHANNEL})
            ids.append(answer(run(codec, req)[1])["ackId"])
    assert len(set(ids)) == len(ids)
    assert all(isinstance(i, int) and 0 <= i < 2**53 for i in ids)
    assert "ackId" not in answer(run(CODEC, request(events(good(0))))[1])  # no channel, no ack


def test_ack_ids_of_a_restarted_worker_do_not_repeat_its_predecessors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1_800_000_000_000]
    monkeypatch.setattr(hec, "_now_ms", lambda: clock[0])
    first = HecCodec("s", worker_id=2)
    req = request(events(good(0)), query={"channel": CHANNEL})
    old = [answer(run(first, req)[1])["ackId"] for _ in range(100)]  # a burst: ids run ahead of the clock
    assert old == sorted(set(old))
    clock[0] += 1000  # the worker died and its successor started a second later
    again = HecCodec("s", worker_id=2)
    assert answer(run(again, req)[1])["ackId"] > max(old)


def test_ack_query_answers_every_id_true() -> None:
    req = request(
        b'{"acks":[0,7,123456789]}', "/services/collector/ack", headers={"x-splunk-request-channel": CHANNEL}
    )
    reply = CODEC.decode("ack", req)
    assert (reply.status, answer(reply)) == (200, {"acks": {"0": True, "7": True, "123456789": True}})


@pytest.mark.parametrize("body", [b"{}", b'{"acks":"1"}', b'{"acks":[true]}', b"[1]", b"nope"])
def test_bad_ack_query_is_code_6(body: bytes) -> None:
    reply = CODEC.decode("ack", request(body, "/services/collector/ack", {"channel": CHANNEL}))
    assert (reply.status, answer(reply)["code"]) == (400, 6)


def test_ack_query_without_a_channel_is_code_10() -> None:
    reply = CODEC.decode("ack", request(b'{"acks":[1]}', "/services/collector/ack"))
    assert answer(reply)["code"] == 10


@pytest.mark.parametrize(
    ("authorization", "status", "code"),
    [
        (None, 401, 2),
        ("Basic", 401, 3),
        ("Token abc", 401, 3),
        ("Splunk wrong", 403, 4),
        ("Bearer wrong", 403, 4),
    ],
)
def test_unauthorized_answers(authorization: str | None, status: int, code: int) -> None:
    headers = {} if authorization is None else {"authorization": authorization}
    reply = CODEC.unauthorized(request(b"", headers=headers))
    assert (reply.status, answer(reply)["code"]) == (status, code)


def test_busy_is_503_code_9() -> None:
    reply = CODEC.busy(request(b""))
    assert (reply.status, answer(reply)) == (503, {"text": "Server is busy", "code": 9})
    assert ("retry-after", "1") in reply.headers


def test_too_large_is_413() -> None:
    reply = CODEC.too_large(request(b""), "body over 16 MiB")
    assert reply.status == 413 and "16 MiB" in answer(reply)["text"]
