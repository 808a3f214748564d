"""The Forward codec's mapping, its four modes and EventTime, and how detection tells Forward
from our formats."""

from __future__ import annotations

import gzip

import msgpack
import pytest

from workbench.ingestor.http1 import sniff
from workbench.shippers.forward import EventTime, ForwardCodec, ForwardError, decode_event_time, parse_message

T = 1_751_320_763


def _roundtrip(obj: object) -> object:
    return msgpack.unpackb(msgpack.packb(obj), ext_hook=decode_event_time, strict_map_key=False)


def _event_time(seconds: int, nanos: int) -> msgpack.ExtType:
    return msgpack.ExtType(0, seconds.to_bytes(4, "big") + nanos.to_bytes(4, "big"))


def test_docker_records_map_onto_the_entry() -> None:
    record = {"container_id": "ab" * 32, "container_name": "/shop", "source": "stderr", "log": "boom"}
    message = parse_message(_roundtrip(["docker.shop", _event_time(T, 123_456_789), record]), 1 << 20)
    decoded = ForwardCodec().events(message, "10.0.0.9")
    (entry,) = decoded.entries
    assert (entry.message, entry.service, entry.host, entry.level) == ("boom", "shop", "10.0.0.9", "INFO")
    assert entry.timestamp.timestamp() == pytest.approx(T + 0.123456)
    assert entry.attributes == {"container_id": "ab" * 32, "container_name": "/shop", "source": "stderr",
                                "tag": "docker.shop"}  # fmt: skip


def test_every_mode_gives_the_same_entries() -> None:
    events = [
        [T + i, {"message": f"m{i}", "seq": i, "client_id": "c", "level": "warn", "host": "h"}]
        for i in range(3)
    ]
    packed = b"".join(msgpack.packb(e) for e in events)
    modes = [
        ["t", events],
        ["t", packed, {"size": 3}],
        ["t", gzip.compress(packed[:20]) + gzip.compress(packed[20:]), {"compressed": "gzip"}],  # two members
    ]
    for mode in modes:
        decoded = ForwardCodec().events(parse_message(_roundtrip(mode), 1 << 20), "peer")
        assert [(e.seq, e.message, e.level, e.host, e.service) for e in decoded.entries] == [
            (i, f"m{i}", "WARN", "h", "t") for i in range(3)
        ]


def test_bad_events_are_rejected_one_by_one_and_bad_messages_whole() -> None:
    message = parse_message(
        _roundtrip(["t", [[T, {"message": "ok"}], [T, "not a map"], ["soon", {"a": 1}]]]), 1 << 20
    )
    decoded = ForwardCodec().events(message, "peer")
    assert len(decoded.entries) == 1 and [(e.index, e.reason) for e in decoded.errors] == [(1, "malformed"),
                                                                                            (2, "invalid")]  # fmt: skip
    for bad in ({"a": 1}, [1, 2], ["t"]):
        with pytest.raises(ForwardError):
            parse_message(_roundtrip(bad), 1 << 20)
    with pytest.raises(ForwardError) as exc:
        parse_message(["t", gzip.compress(b"\0" * (4 << 20)), {"compressed": "gzip"}], 1 << 20)
    assert exc.value.reason == "too_large"


def test_text_that_is_not_utf8_is_an_encoding_rejection() -> None:
    raw = msgpack.packb(["t", [[T, {"log": b"\xff\xfe"}]]], use_bin_type=True)
    message = parse_message(msgpack.unpackb(raw, ext_hook=decode_event_time), 1 << 20)
    assert [e.reason for e in ForwardCodec().events(message, "p").errors] == ["encoding"]
    assert isinstance(decode_event_time(0, b"\0" * 8), EventTime)


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (msgpack.packb(["tag", 1, {}]), "forward"),
        (msgpack.packb(["tag", []]), "forward"),
        (b"\xdc\x00\x03\xa3tag", "forward"),
        (b"\x93", None),  # too short to tell
        (b"\x93\x01\x02\x03", "stream"),  # an array that does not start with a tag
        ("\u0700 syriac text\n".encode(), "stream"),  # 0xdc as a UTF-8 lead byte
        (b'{"version":"1.1","short_message":"a"}\0', "gelf"),
        (b'{"message":"a"}\n{"b":"\0"}', "stream"),
        (b'{"message":"a', None),
    ],
)
def test_detection(head: bytes, kind: str | None) -> None:
    assert sniff(head) == kind
