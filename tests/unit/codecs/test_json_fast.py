"""The compiled JSON lines transcoder against msgspec: what it takes, it stores as msgspec would.

``workbench.speedups._json.transcode(chunk, end)`` validates and writes the stored lines in one
pass. Its invariant, checked by ``agreed`` on every case here: whenever it returns
``(data, n)``, msgspec decodes the chunk into ``n`` valid entries and ``normalise`` (what the
ingestor stores: msgspec's encoding, timestamps in UTC) writes ``data`` byte for byte; with
another ``end``, each line's closing ``}\\n`` is that ``end``. Declining (None) is always allowed;
the golden cases also check it did not decline, so a transcoder that declined everything could
not pass.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from pathlib import Path

import msgspec
import pytest
from codec_strategies import (
    ANY_TEXT,
    FUZZ,
    MAX_ATTRIBUTE_VALUE,
    MAX_ATTRIBUTES,
    MAX_MESSAGE,
    MAX_SEQ,
    MAX_SHORT,
    PROPERTY,
    batches,
    entries,
    make_entry,
    sample_batch,
)
from hypothesis import given
from hypothesis import strategies as st

from workbench import model, speedups
from workbench.codecs import json as json_codec
from workbench.codecs.json import JsonCodec
from workbench.generator.patterns import LogFactory
from workbench.generator.pool import Pool
from workbench.ingestor.decoding import normalise
from workbench.speedups._json import transcode

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

CODEC = JsonCodec()
LINES = msgspec.json.Decoder(model.LogEntry)
# what the ingestor passes: the batch's fields spliced in where each line closes
TAIL = (
    b',"received_at":"2025-07-01T12:00:00.000001Z","format":"json","transport":"tls","peer":"10.0.0.1:5"}\n'
)


def agreed(chunk: bytes) -> tuple[bytes, int] | None:
    """The transcoder's result, checked against msgspec whenever it is not None."""
    got = transcode(chunk, b"}\n")
    if got is None:
        assert transcode(chunk, TAIL) is None
        return None
    data, n = got
    entries = LINES.decode_lines(chunk)  # raises if the transcoder took something invalid
    assert len(entries) == n
    assert data == normalise(entries)
    assert transcode(chunk, TAIL) == (data.replace(b"}\n", TAIL), n)
    return got


def taken(chunk: bytes) -> bytes:
    got = agreed(chunk)
    assert got is not None, chunk[:300]
    return got[0]


def test_the_transcoder_is_compiled() -> None:
    """`make venv` compiles it (Cython, gcc); without it the ingestor decodes and re-encodes every line."""
    assert speedups.available() == dict.fromkeys(speedups.MODULES, True)
    assert CODEC.fast


STAMP = "2025-06-30T21:59:23.123Z"
BASE = (
    f'"timestamp":"{STAMP}","level":"ERROR","service":"payment-api","message":"charge failed","host":"web-1"'
)


def line(*extra: str, base: str = BASE) -> bytes:
    return ("{" + ",".join((base, *extra)) + "}\n").encode("utf-8")


FULL = CODEC.encode(
    [
        make_entry(
            session_id="s-1",
            trace_id="4bf92f35",
            client_id="gen-1",
            seq=MAX_SEQ,
            attributes={"region": "eu-west-1", "k": ""},
        )
    ]
)
PAIR = r"\ud83d\ude00"  # one code point, 12 bytes of JSON
ESCAPES = r"q\" b\\ s\/ \b\f\n\r\t \u00e9\u20AC\ud83d\ude00 \u0000\u001F\u001f\u0041 \u2028\u007f"

# Python's json.dumps as it comes: ", " and ": ", every non-ASCII character escaped
SENT = {"message": "café 😀\x01", "timestamp": STAMP, "level": "WARN", "service": "s", "host": "h", "seq": 0}
PYTHON_SENDER = (json.dumps(SENT) + "\n").encode()

GOLDEN = {
    "encoder, every field": FULL,
    "encoder, sample batch": CODEC.encode(sample_batch()),
    "keys reversed": (
        json.dumps(dict(reversed(json.loads(FULL).items())), separators=(",", ":")) + "\n"
    ).encode(),
    "whitespace": b' \t{ "timestamp" :\t"2025-06-30T21:59:23Z" ,"level":"INFO",\r"service" : "s" , "message":"m",'
    b'"host":"" ,"attributes" : { "a" : "1" , "b":"2" } , "seq" :  7 }  \r\n',
    "nulls and empty attributes": line(
        '"user_id":null',
        '"session_id":null',
        '"trace_id":null',
        '"client_id":null',
        '"seq":null',
        '"attributes":{}',
    ),
    "escapes": line(
        f'"user_id":"{ESCAPES}"',
        f'"attributes":{{"{ESCAPES}":"{ESCAPES}","\\u0041":"x"}}',
        base=BASE.replace("charge failed", ESCAPES),
    ),
    "raw unicode, DEL, U+2028": line(base=BASE.replace("charge failed", "café 日本 😀 \x7f \u2028")),
    "ensure_ascii sender": PYTHON_SENDER,
    "+02:00 offset": line(base=BASE.replace(STAMP, "2025-06-30T21:59:23+02:00")),
    "-05:30 across midnight": line(base=BASE.replace(STAMP, "2025-06-30T21:59:23.5-05:30")),
    "-00:00, 6 fraction digits": line(base=BASE.replace(STAMP, "2025-06-30T21:59:23.000001-00:00")),
    "one fraction digit": line(base=BASE.replace(STAMP, "2025-06-30T21:59:23.1Z")),
    "zero fraction": line(base=BASE.replace(STAMP, "2025-06-30T21:59:23.000Z")),
    "leap day": line(base=BASE.replace(STAMP, "2024-02-29T00:00:00Z")),
    "CRLF, blank lines, no final newline": (
        b"\r\n \n\t\r\n" + FULL.replace(b"\n", b"\r\n") + b"\n \n" + FULL.strip()
    ),
    "every level": b"".join(line(base=BASE.replace("ERROR", level)) for level in model.LEVELS),
    "limits": line(
        f'"user_id":"{"x" * MAX_SHORT}"',
        '"seq":9223372036854775807',
        '"attributes":{' + ",".join(f'"k{i}":"é"' for i in range(MAX_ATTRIBUTES)) + "}",
        base=BASE.replace("payment-api", "é" * MAX_SHORT).replace("charge failed", "é" * MAX_MESSAGE),
    ),
    "longest attribute value": line(f'"attributes":{{"k":"{"😀" * MAX_ATTRIBUTE_VALUE}"}}'),
    "empty attributes": line('"attributes":{}'),
    "a null, fields in order": line('"user_id":null', '"seq":1'),
    "surrogate pairs at the limit": line('"user_id":"' + PAIR * MAX_SHORT + '"'),
    "seq 0 and padded": line('"seq":0') + line('"seq":          42'),
    "empty": b"",
}


@pytest.mark.parametrize("chunk", GOLDEN.values(), ids=GOLDEN.keys())
def test_golden_lines_take_the_fast_path_and_match_msgspec(chunk: bytes) -> None:
    taken(chunk)


def test_what_is_stored_for_an_offset_is_the_instant_in_utc() -> None:
    data = taken(GOLDEN["-05:30 across midnight"])
    assert data.startswith(b'{"timestamp":"2025-07-01T03:29:23.500000Z","level":"ERROR"')


DAY_STAMPS = {  # a stamp of the day read before, and whether it is taken
    "2025-06-30T21:59:23Z": True,
    "2025-06-30T23:59:59.999999Z": True,
    "2025-06-30T23:59:59.000000Z": True,  # msgspec leaves a zero fraction out
    "2025-06-30T23:59:59.100Z": True,
    "2025-06-30T23:59:59+00:00": True,
    "2025-06-30T24:00:00Z": False,
    "2025-06-30T23:60:00Z": False,
    "2025-06-30T23:59:60Z": False,
    "2025-06-30T23:5a:00Z": False,
    "2025-06-30T23-59:00Z": False,
    "2025-06-30t23:59:59Z": False,
    "2025-06-30T23:59:59z": False,
    "2025-06-30T23:59:59.12345aZ": False,
    "2025-06-30T23:59:59.1234567Z": False,
}


@pytest.mark.parametrize("stamp", DAY_STAMPS)
def test_a_stamp_of_a_day_already_read_is_checked_all_the_same(stamp: str) -> None:
    """The transcoder remembers the last day it read in UTC form: a line of that day is checked
    by its time alone, which must agree with put_rfc3339."""
    first = line(base=BASE.replace(STAMP, "2025-06-30T21:59:23.123456Z"))
    chunk = first + line(base=BASE.replace(STAMP, stamp)) + first
    assert (agreed(chunk) is not None) == DAY_STAMPS[stamp]


# one escape in lines otherwise in msgspec's form: those it writes otherwise must be rewritten
ONE_ESCAPE = [r"\/", r"\u00e9", r"\u0041", r"\u000a", r"\u0008", r"\u001F", r"\u001f", r"\u0000", r"\u0022",
              r"\u005c", r"\u005C", r"\ud83d\ude00", r"\u2028", r"\u007f", r"\"", r"\\", r"\b", r"\t"]  # fmt: skip


@pytest.mark.parametrize("escape", ONE_ESCAPE)
def test_each_escape_is_stored_as_msgspec_writes_it(escape: str) -> None:
    message = BASE.replace("charge failed", f"a{escape}b")
    taken(line(f'"attributes":{{"k{escape}":"v{escape}"}}', base=message))
    taken(line(f'"user_id":"{escape}"'))


@pytest.mark.parametrize("stamp", [STAMP, "2025-06-30T21:59:23.5+01:00"])
@pytest.mark.parametrize("attributes", [18, 19, 20])
def test_whitespace_runs_around_the_most_a_line_keeps_are_all_left_out(stamp: str, attributes: int) -> None:
    """A line in msgspec's form is copied less its whitespace runs, up to a number of them; a
    line with more is written field by field. ", " and ": " make 10 + 2 x attributes runs here."""
    record = json.loads(line(base=BASE.replace(STAMP, stamp)))
    record["attributes"] = {f"k{i}": "v" for i in range(attributes)}
    taken((json.dumps(record) + "\n").encode())


def _bench_body() -> bytes:
    path = Path(__file__).resolve().parents[3] / "bench" / "ingest.py"
    spec = importlib.util.spec_from_file_location("bench_ingest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _, body, _ = module.payload_for("json", logs=600)
    return body  # type: ignore[no-any-return]


def test_the_bench_payload_takes_the_fast_path() -> None:
    body = _bench_body()
    assert taken(body).count(b"\n") == 600


def test_generator_output_takes_the_fast_path() -> None:
    """The generator's pool: space-padded ``seq``, a patched client id and timestamp."""
    factory = LogFactory(seed=7)
    pool = Pool("json", model.to_entries([factory.next() for _ in range(300)]), 100, 9, length_framed=False)
    rendered = pool.render(pool.client_buffer("gen-ab-07"), 0, 3, 42, 1_750_000_000_123_456)
    assert b'"seq":          42' in rendered
    assert taken(rendered).count(b"\n") == 300


def test_stored_is_the_transcoder_behind_the_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    payload = CODEC.encode(sample_batch())
    data, n = taken(payload), len(sample_batch())
    assert CODEC.stored(payload, TAIL) == (data.replace(b"}\n", TAIL), n)
    assert CODEC.stored(payload + b"not json\n", TAIL) is None
    assert JsonCodec(fast=False).stored(payload, TAIL) is None
    monkeypatch.setattr(json_codec, "STORE_DIRECT", False)  # another schema loaded: msgspec validates
    assert CODEC.stored(payload, TAIL) is None


def test_the_arguments_are_bytes() -> None:
    for chunk, end in ((None, b"}\n"), (FULL, None), (bytearray(FULL), b"}\n")):
        with pytest.raises(TypeError):
            transcode(chunk, end)  # type: ignore[arg-type]


# invalid lines: declined, and msgspec says they are invalid
INVALID = {
    "Feb 30": line(base=BASE.replace(STAMP, "2025-02-30T21:59:23Z")),
    "Feb 29 of a common year": line(base=BASE.replace(STAMP, "2100-02-29T21:59:23Z")),
    "hour 24": line(base=BASE.replace(STAMP, "2025-06-30T24:00:00Z")),
    "second 60": line(base=BASE.replace(STAMP, "2025-06-30T23:59:60Z")),
    "offset +24:00": line(base=BASE.replace(STAMP, "2025-06-30T21:59:23+24:00")),
    "no time zone": line(base=BASE.replace(STAMP, "2025-06-30T21:59:23")),
    "non-UTF-8": line(base=BASE).replace(b"charge", b"ch\xffrge"),
    "truncated UTF-8": line(base=BASE).replace(b"charge", b"charg\xc3"),
    "overlong UTF-8": line(base=BASE).replace(b"charge", b"\xc0\xafcharge"),
    "UTF-8 surrogate": line(base=BASE).replace(b"charge", b"\xed\xa0\x80charge"),
    "lone high surrogate escape": line(base=BASE.replace("charge", r"\ud83dcharge")),
    "lone low surrogate escape": line(base=BASE.replace("charge", r"\ude00charge")),
    "high surrogate then a letter escape": line(base=BASE.replace("charge", r"\ud83d\u0041")),
    "bad escape": line(base=BASE.replace("charge", r"\x41")),
    "short \\u escape": line(base=BASE.replace("charge", r"\u41g")),
    "raw tab in a string": line(base=BASE.replace("charge", "\tcharge")),
    "raw NUL in a string": line(base=BASE.replace("charge", "\x00charge")),
    "257-char host": line(base=BASE.replace("web-1", "h" * (MAX_SHORT + 1))),
    "257 two-byte chars in user_id": line(f'"user_id":"{"é" * (MAX_SHORT + 1)}"'),
    "257 surrogate pairs in user_id": line('"user_id":"' + PAIR * (MAX_SHORT + 1) + '"'),
    "65537 two-byte chars in message": line(base=BASE.replace("charge failed", "é" * (MAX_MESSAGE + 1))),
    "65537 chars, 65536 of them escapes": line(base=BASE.replace("charge failed", "\\n" * MAX_MESSAGE + "x")),
    "8193-char attribute value": line(f'"attributes":{{"k":"{"é" * (MAX_ATTRIBUTE_VALUE + 1)}"}}'),
    "129 attributes": line(
        '"attributes":{' + ",".join(f'"k{i}":"v"' for i in range(MAX_ATTRIBUTES + 1)) + "}"
    ),
    "empty service": line(base=BASE.replace("payment-api", "")),
    "seq 2**63": line(f'"seq":{2**63}'),
    "seq 20 digits": line('"seq":10000000000000000000'),
    "negative seq": line('"seq":-1'),
    "seq 1.0": line('"seq":1.0'),
    "seq 1e3": line('"seq":1e3'),
    "seq 007": line('"seq":007'),
    'seq "7"': line('"seq":"7"'),
    "level info": line(base=BASE.replace("ERROR", "info")),
    "level null": line(base=BASE.replace('"ERROR"', "null")),
    "unknown key": line('"severity":"high"'),
    "missing message": line(base=BASE.replace(',"message":"charge failed"', "")),
    "null message": line(base=BASE.replace('"charge failed"', "null")),
    "null attributes": line('"attributes":null'),
    "attribute value null": line('"attributes":{"k":null}'),
    "attribute value number": line('"attributes":{"k":1}'),
    "nested attributes": line('"attributes":{"k":{"a":"b"}}'),
    "trailing garbage": line(base=BASE).replace(b"}\n", b"}x\n"),
    "trailing comma": line(base=BASE + ","),
    "not an object": b'["x"]\n',
    "unclosed object": line(base=BASE)[:-2] + b"\n",
    "a line that is not JSON": line(base=BASE) + b"hello\n",
    "vertical tab line": line(base=BASE) + b"\x0b\n",
    "a BOM": b"\xef\xbb\xbf" + line(base=BASE),
}


@pytest.mark.parametrize("chunk", INVALID.values(), ids=INVALID.keys())
def test_invalid_lines_are_declined(chunk: bytes) -> None:
    assert transcode(chunk, b"}\n") is None
    assert transcode(GOLDEN["encoder, sample batch"] + chunk, b"}\n") is None
    with pytest.raises((msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError)):
        LINES.decode_lines(chunk)


# valid for msgspec, declined all the same: rare shapes (msgspec then decodes them), or ones it
# stores differently from what they say (a duplicate key: it keeps the last value)
DECLINED = {
    "duplicate key": line('"message":"again"'),
    "duplicate attribute": line('"attributes":{"k":"1","k":"2"}'),
    "duplicate attribute spelled with an escape": line('"attributes":{"k":"1","\\u006b":"2"}'),
    "duplicate null": line('"user_id":null', '"user_id":"u"'),
    "escaped key": line('"user\\u005fid":"u"'),
    "escaped level": line(base=BASE.replace("ERROR", "\\u0045RROR")),
    "lowercase t and z": line(base=BASE.replace(STAMP, "2025-06-30t21:59:23z")),
    "space for T": line(base=BASE.replace(STAMP, "2025-06-30 21:59:23Z")),
    "7 fraction digits": line(base=BASE.replace(STAMP, "2025-06-30T21:59:23.1234567Z")),
    "offset without colon": line(base=BASE.replace(STAMP, "2025-06-30T21:59:23+0200")),
    "out of range once in UTC": line(base=BASE.replace(STAMP, "0001-01-01T00:00:00+00:01")),
    "seq -0": line('"seq":-0'),
    "two objects on a line": line(base=BASE)[:-1] + line(base=BASE),
    "an object over two lines": line(base=BASE).replace(b',"host"', b',\n"host"'),
}


@pytest.mark.parametrize("chunk", DECLINED.values(), ids=DECLINED.keys())
def test_rare_shapes_are_declined_though_msgspec_takes_them(chunk: bytes) -> None:
    assert transcode(chunk, b"}\n") is None
    assert LINES.decode_lines(chunk)


# --- properties ------------------------------------------------------------------------------

WS = st.text(st.sampled_from(" \t\r"), max_size=2)


@st.composite
def respelled(draw: st.DrawFn, entry: object) -> bytes:
    """One entry as another sender might write it: keys in any order, whitespace between tokens,
    null optional fields, ASCII-only escapes, an offset or a short fraction in the timestamp."""
    record = msgspec.to_builtins(entry)
    for name in (*model.OPTIONAL_STRINGS, "seq"):
        if name not in record and draw(st.booleans()):
            record[name] = None
    if "attributes" not in record and draw(st.booleans()):
        record["attributes"] = {}
    ts = entry.timestamp  # type: ignore[attr-defined]
    minutes = draw(st.integers(-23 * 60 - 59, 23 * 60 + 59))
    try:
        local = ts.astimezone(dt.timezone(dt.timedelta(minutes=minutes)))
        stamp = local.isoformat()
    except OverflowError:  # beyond year 1 or 9999 in that zone
        stamp = ts.isoformat()
    if ts.microsecond:
        head, _, rest = stamp.partition(".")
        fraction, zone = rest[:6].rstrip("0"), rest[6:]
        stamp = f"{head}.{fraction}{zone}"
    record["timestamp"] = stamp.replace("+00:00", draw(st.sampled_from(["Z", "+00:00", "-00:00"])))
    in_order = sorted(record, key=model.FIELDS.index)
    keys = in_order if draw(st.booleans()) else draw(st.permutations(in_order))
    ascii_only = draw(st.booleans())
    colon, comma = draw(WS) + ":" + draw(WS), draw(WS) + "," + draw(WS)

    def dump(value: object) -> str:
        if isinstance(value, dict):
            inner = comma.join(dump(k) + colon + dump(v) for k, v in value.items())
            return "{" + draw(WS) + inner + draw(WS) + "}"
        return json.dumps(value, ensure_ascii=ascii_only)

    text = "{" + draw(WS) + comma.join(dump(k) + colon + dump(record[k]) for k in keys) + draw(WS) + "}"
    return (draw(WS) + text + draw(WS) + draw(st.sampled_from(["\n", "\r\n"]))).encode("utf-8")


@PROPERTY
@given(batches())
def test_any_entry_our_codec_encodes_takes_the_fast_path(batch: list) -> None:
    taken(CODEC.encode(batch))


@PROPERTY
@given(st.data(), batches(max_size=3))
def test_any_entry_as_other_senders_write_it_takes_the_fast_path(data: st.DataObject, batch: list) -> None:
    chunk = b"".join(data.draw(respelled(e)) for e in batch)
    assert taken(chunk).count(b"\n") == len(batch)


LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats()
    | ANY_TEXT
    | st.sampled_from(
        ["INFO", "", "2025-06-30T21:59:23Z", "2025-02-30T00:00:00+01:00", "\ud800", "x" * (MAX_SHORT + 1)]
    )
)
JSON_VALUES = LEAVES | st.lists(LEAVES, max_size=2) | st.dictionaries(ANY_TEXT, LEAVES, max_size=3)
KEYS = st.sampled_from(model.FIELDS) | ANY_TEXT
VALID = json.loads(FULL)


@PROPERTY
@given(
    st.lists(
        st.tuples(st.sets(KEYS, max_size=2), st.dictionaries(KEYS, JSON_VALUES, max_size=3)),
        min_size=1,
        max_size=3,
    )
)
def test_json_of_any_record_is_taken_only_as_msgspec_takes_it(changes: list) -> None:
    """Valid records with fields left out or set to any JSON value, and any key added."""
    chunk = b""
    for dropped, changed in changes:
        record = {k: v for k, v in VALID.items() if k not in dropped} | changed
        chunk += json.dumps(record, ensure_ascii=False).encode("utf-8", "surrogatepass") + b"\n"
    agreed(chunk)


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes_are_taken_only_as_msgspec_takes_them(chunk: bytes) -> None:
    agreed(chunk)
    agreed(FULL + chunk)


SMALL = entries(big_message="m" * 300, big_attributes={"k": "v" * 300})  # mutations land anywhere
# bytes that matter to the scanner: structure, escapes, UTF-8 leads and continuations, line ends
NASTY = b'"\\{}[],: \t\r\n\x00\x1f\x7fu/0123456789abcdefABCDEF-+.eEnZT\xc2\xa0\xc3\xe0\xed\xf0\xf4\xf5\xff\x80\xbf'


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid payload with a few bytes deleted, inserted, replaced or repeated."""
    batch = draw(batches(SMALL, max_size=2))
    data = bytearray(
        draw(st.sampled_from([CODEC.encode(batch), FULL, GOLDEN["escapes"], GOLDEN["whitespace"]]))
    )
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["delete", "insert", "replace", "repeat"]))
        byte = draw(st.sampled_from(NASTY))
        if op == "delete":
            del data[at : at + 1]
        elif op == "insert":
            data.insert(at, byte)
        elif op == "replace":
            data[at : at + 1] = bytes([byte])
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 8))]
    return bytes(data)


@FUZZ
@given(mutated())
def test_mutated_lines_are_taken_only_as_msgspec_takes_them(chunk: bytes) -> None:
    agreed(chunk)
