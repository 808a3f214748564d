"""The systematic pass: every target on every seed, cut and lied to, under the sanitizers.

    python tests/fuzz/systematic.py [TARGET ...]      (through ``sanitizer.run``: ``make fuzz``)

Where a coverage-guided fuzzer finds a bug by chance, this pass makes each input on purpose:

* every seed under every selector (each tail, each frame limit);
* every seed cut at every length, from the end and from the start (the batch seed, whose
  entries are seeds too, at every third length);
* lying length prefixes and counts: each octet count, protobuf length, MessagePack str, bin,
  array and map length (in the shortest form and the next wider one) and Avro block count or
  string length in a seed replaced by values near the truth and at the integer limits
  (0, n - 1, n + 1, 2^31, 2^63 - 1, -2^63, 2^64 - 1 ...); in HEC's JSON each number replaced by
  the limits of int64, of the time range and of float formats;
* output sizes swept across buffer boundaries: entries whose text grows a byte at a time, in
  characters the transcoders escape (6 bytes out for 1 in) and in plain ones.

Run with ``WB_TIGHT_BUFFERS=1`` every reservation ends on an allocation boundary, so any byte
written past one is reported at once; with 0 the production growth is what is exercised. It
prints one line per target (inputs run, inputs accepted) and exits 1 on a finding, with its input.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import seeds
import targets

from workbench import model
from workbench.codecs.avro import AvroCodec
from workbench.codecs.json import JsonCodec
from workbench.codecs.proto import ProtoCodec, varint
from workbench.codecs.proto import _varint as read_uvarint
from workbench.codecs.raw import RawCodec
from workbench.codecs.syslog import SyslogCodec

SELECTORS = range(len(targets.TAILS) * len(targets.FRAME_LIMITS))
LIES = (0, 1, 127, 128, (1 << 31) - 1, 1 << 31, 1 << 32, (1 << 63) - 1, 1 << 63, (1 << 64) - 1)
# numbers a HEC body's numbers are replaced by: int64's edges, years 1 and 9999 in seconds, the
# float forms only ``time`` takes, -0, and what is not JSON
JSON_NUMBER_LIES = (b"0", b"-0", b"-1", b"9223372036854775807", b"9223372036854775808", b"-9223372036854775808",
                    b"-9223372036854775809", b"18446744073709551616", b"253402300799.999999", b"253402300800",
                    b"-62135596800", b"-62135596801", b"1e400", b"1.5e-7", b"0.0000005", b"1700000000.0000005",
                    b"01", b"1.", b"NaN")  # fmt: skip
JSON_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
CUT_STEP_OF_THE_BATCH = 3
SIGNED_LIES = (0, 1, -1, 2, -2, 128, -128, -129, 129, (1 << 31), -(1 << 31), (1 << 63) - 1, -(1 << 63))


def uvarint(v: int) -> bytes:
    """A varint of v as 64 bits (a negative one as its two's complement, as protobuf writes it)."""
    return varint(v & ((1 << 64) - 1))


def zigzag(v: int) -> bytes:
    return uvarint((v << 1) ^ (v >> 63))


# --- where the lengths and counts of a seed are ---------------------------------------------------


def octet_counts(p: bytes) -> Iterator[tuple[int, int, int]]:
    """(start, end, value) of each octet count of a well-framed octet-counted stream."""
    pos = 0
    while pos < len(p):
        space = p.find(b" ", pos)
        if space < 0 or not p[pos:space].isdigit():
            return
        n = int(p[pos:space])
        yield pos, space, n
        pos = space + 1 + n


def proto_lengths(
    p: bytes, pos: int = 0, end: int | None = None, depth: int = 0
) -> Iterator[tuple[int, int, int]]:
    """(start, end, value) of each length prefix of length-delimited fields, nested ones included."""
    end = len(p) if end is None else end
    while pos < end:
        key, pos = read_uvarint(p, pos)
        wire = key & 7
        if wire == 0:
            _, pos = read_uvarint(p, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            start = pos
            n, pos = read_uvarint(p, pos)
            yield start, pos, n
            if depth < 2 and key >> 3 in (1, 9):  # entries, and their attribute map entries
                yield from proto_lengths(p, pos, pos + n, depth + 1)
            pos += n
        else:
            return


def avro_counts(p: bytes, pos: int) -> Iterator[tuple[int, int, int]]:
    """(start, end, value) of each zigzag count and length of an array of bundled LogEntry records."""

    def z() -> int:
        nonlocal pos
        start = pos
        u, pos = read_uvarint(p, pos)
        value = (u >> 1) ^ -(u & 1)
        found.append((start, pos, value))
        return value

    def string() -> None:
        nonlocal pos
        n = z()
        if n < 0 or pos + n > len(p):
            raise ValueError("not a well-formed array (a reproducer of a lie)")
        pos += n

    def optional() -> None:
        if z() == 1:
            string()

    found: list[tuple[int, int, int]] = []
    while True:
        count = z()
        if count == 0:
            break
        if count < 0:
            count = -count
            z()
        if count > len(p):
            raise ValueError("not a well-formed array (a reproducer of a lie)")
        for _ in range(count):
            z()  # timestamp
            z()  # level
            for _ in range(3):
                string()
            for _ in range(3):
                optional()
            while True:
                m = z()
                if m == 0:
                    break
                if m < 0:
                    m = -m
                    z()
                if m > len(p):
                    raise ValueError("not a well-formed array (a reproducer of a lie)")
                for _ in range(2 * m):
                    string()
            optional()
            if z() == 1:
                z()
    yield from found


def nested_lengths(
    p: bytes, pos: int = 0, end: int | None = None, depth: int = 0
) -> list[tuple[int, int, int]]:
    """(start, end, value) of every length prefix of a protobuf message whose fields nest deeper
    than LogBatch's (OTLP: request, resource, scope, record, attribute, value): each
    length-delimited field is read as a message too, and its prefixes kept when it reads as one."""
    end = len(p) if end is None else end
    found: list[tuple[int, int, int]] = []
    while pos < end:
        key, pos = read_uvarint(p, pos)
        wire = key & 7
        if wire == 0:
            _, pos = read_uvarint(p, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            start = pos
            n, pos = read_uvarint(p, pos)
            if pos + n > end:
                raise ValueError("a length past the message (a reproducer of a lie)")
            found.append((start, pos, n))
            if depth < 6:
                with contextlib.suppress(IndexError, ValueError):  # a string, not a message
                    found.extend(nested_lengths(p, pos, pos + n, depth + 1))
            pos += n
        else:
            raise ValueError("not a message")
        if pos > end:
            raise ValueError("a field past the message")
    return found


# MessagePack: the header byte of each length form (fix: the low bits of the first byte), the
# size of its length field, and the largest length a fix form holds
MSGPACK_FORMS = {"str": (0xA0, 31, (0xD9, 1), (0xDA, 2), (0xDB, 4)), "bin": (None, 0, (0xC4, 1), (0xC5, 2), (0xC6, 4)),
                 "array": (0x90, 15, None, (0xDC, 2), (0xDD, 4)), "map": (0x80, 15, None, (0xDE, 2), (0xDF, 4))}  # fmt: skip
MSGPACK_FIXED = {0xC0: 0, 0xC2: 0, 0xC3: 0, 0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2,
                 0xD2: 4, 0xD3: 8, 0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17}  # fmt: skip
MSGPACK_LIES = (0, 1, 15, 16, 31, 32, 255, 256, (1 << 16) - 1, 1 << 16, (1 << 31) - 1, 1 << 31, (1 << 32) - 1)


def msgpack_lengths(p: bytes) -> list[tuple[int, int, str, int]]:
    """(start, end, form, length) of every length header of a MessagePack stream (objects one after
    another, as a Forward stream or PackedForward entries are): str, bin, array and map lengths at
    every depth. An ext's length is left as it is."""
    found: list[tuple[int, int, str, int]] = []
    header = {
        code: (form, size) for form, spec in MSGPACK_FORMS.items() for code, size in filter(None, spec[2:])
    }

    def one(pos: int) -> int:
        b = p[pos]
        if b <= 0x7F or b >= 0xE0:
            return pos + 1
        if b in MSGPACK_FIXED:
            return pos + 1 + MSGPACK_FIXED[b]
        if b in (0xC7, 0xC8, 0xC9):  # ext 8/16/32: length, type, data
            size = {0xC7: 1, 0xC8: 2, 0xC9: 4}[b]
            return pos + 2 + size + int.from_bytes(p[pos + 1 : pos + 1 + size], "big")
        if 0xA0 <= b <= 0xBF:
            form, n, end = "str", b & 31, pos + 1
        elif 0x90 <= b <= 0x9F:
            form, n, end = "array", b & 15, pos + 1
        elif 0x80 <= b <= 0x8F:
            form, n, end = "map", b & 15, pos + 1
        elif b in header:
            form, size = header[b]
            end = pos + 1 + size
            n = int.from_bytes(p[pos + 1 : end], "big")
        else:
            raise ValueError(f"0x{b:02x} is not MessagePack")
        if end > len(p):
            raise IndexError("a header past the end")
        found.append((pos, end, form, n))
        if form in ("str", "bin"):
            return end + n
        for _ in range(n * (2 if form == "map" else 1)):
            end = one(end)
        return end

    pos = 0
    while pos < len(p):
        pos = one(pos)
    if pos > len(p):
        raise IndexError("an object past the end")
    return found


def msgpack_header(form: str, n: int) -> list[bytes]:
    """Every header of ``form`` that can say length n: the fix form, then each wider one."""
    fix, fix_max, *wide = MSGPACK_FORMS[form]
    out = [bytes([fix | n])] if fix is not None and n <= fix_max else []
    return out + [
        bytes([code]) + n.to_bytes(size, "big") for code, size in filter(None, wide) if n < 1 << (8 * size)
    ]


def lied(
    p: bytes, spans: Iterator[tuple[int, int, int]], encodings: Callable[[int], list[bytes]]
) -> Iterator[bytes]:
    """The payload with one length or count replaced, for each place and each lie."""
    for start, end, value in list(spans):
        for enc in encodings(value):
            yield p[:start] + enc + p[end:]


def lies_for(target: str, seed: bytes) -> Iterator[bytes]:
    sel, p = seed[:1], seed[1:]
    if target == "syslog_octet":

        def texts(n: int) -> list[bytes]:
            return [str(v).encode() for v in (0, max(n - 1, 0), n + 1, n + 2, 9999999999, 1 << 31)] + [
                b"-1",
                b"00",
            ]

        yield from (sel + v for v in lied(p, octet_counts(p), texts))
    elif target in ("proto", "proto_count"):

        def varints(n: int) -> list[bytes]:
            overlong = b"\xff" * 10 + b"\x01"
            return [uvarint(v) for v in (max(n - 1, 0), n + 1, *LIES)] + [overlong, uvarint(n)[:-1] + b"\x80"]

        try:
            spans = list(proto_lengths(p))
        except (IndexError, ValueError):
            return
        for v in lied(p, iter(spans), varints):
            yield sel + v
    elif target in ("otlp", "loki_push"):

        def otlp_varints(n: int) -> list[bytes]:
            return [uvarint(v) for v in (max(n - 1, 0), n + 1, *LIES)] + [uvarint(n)[:-1] + b"\x80"]

        try:
            spans = nested_lengths(p)
        except (IndexError, ValueError):
            return
        yield from (sel + v for v in lied(p, iter(spans), otlp_varints))
    elif target in ("hec", "loki_json", "es_bulk", "otlp_json", "gelf"):
        for m in JSON_NUMBER.finditer(p):
            for lie in JSON_NUMBER_LIES:
                yield sel + p[: m.start()] + lie + p[m.end() :]
    elif target == "forward":
        try:
            spans = msgpack_lengths(p)
        except (IndexError, ValueError):
            return
        for start, end, form, n in spans:
            for enc in msgpack_header(form, n)[1:2]:  # the truth in a wider form than needed (allowed)
                yield sel + p[:start] + enc + p[end:]
            for v in (max(n - 1, 0), n + 1, *MSGPACK_LIES):
                for enc in msgpack_header(form, v)[:2]:  # the shortest form and the next wider one
                    yield sel + p[:start] + enc + p[end:]
    elif target == "avro":

        def zigzags(n: int) -> list[bytes]:
            return [zigzag(v) for v in (n - 1, n + 1, -n, *SIGNED_LIES)]

        try:
            spans = list(avro_counts(p, 5))
        except (IndexError, ValueError):
            return
        yield from (sel + v for v in lied(p, iter(spans), zigzags))


# --- output sizes across buffer boundaries --------------------------------------------------------


def padded_entries(k: int) -> list[Any]:
    """Entries whose text grows with k: escaped characters (x6 out) and plain ones."""
    base = dt.datetime(2025, 6, 30, 21, 0, tzinfo=dt.UTC)
    e = model.LogEntry
    return [
        e(timestamp=base, level="INFO", service="app", message="\x01" * k, host="h",
          attributes={"syslog.msgid": "MID"}),
        e(timestamp=base, level="WARN", service="s" * (1 + k % 40), message="m" * k + '"' * (k % 5), host="h",
          attributes={"a": "\x02" * k, "syslog.facility": "3"}),
        e(timestamp=base, level="ERROR", service="svc", message="é" * k, host="x" * (k % 50),
          user_id="u" * (k % 30), seq=k),
    ]  # fmt: skip


ENCODERS: dict[str, Callable[[list[Any]], bytes]] = {
    "json": JsonCodec().encode,
    "raw": RawCodec().encode,
    "syslog_lines": SyslogCodec(octet_counting=False).encode,
    "syslog_octet": SyslogCodec(octet_counting=True).encode,
    "proto": ProtoCodec().encode,
    "proto_count": ProtoCodec().encode,
    "avro": AvroCodec().encode,
    "otlp": seeds.otlp_encode,
    "otlp_json": seeds.otlp_json_encode,
    "hec": seeds.hec_encode,
    "forward": seeds.forward_encode,
    "loki_json": seeds.loki_json_encode,
    "loki_push": seeds.loki_push_encode,
    "es_bulk": seeds.es_bulk_encode,
    "gelf": seeds.gelf_encode,
}


def boundary_inputs(target: str, widths: int = 96) -> Iterator[bytes]:
    encode = ENCODERS[target]
    for k in range(widths):
        es = padded_entries(k)
        for payload in (encode(es), *(encode([x]) for x in es)):
            for sel in range(len(targets.TAILS)):
                yield bytes([sel]) + payload


# --- the pass -------------------------------------------------------------------------------------


def inputs(target: str) -> Iterator[bytes]:
    found = targets.seeds(target)
    if not found:
        raise SystemExit(f"no seeds for {target}: run python tests/fuzz/seeds.py")
    longest = max(len(seed) for seed in found)
    for seed in found:
        for sel in SELECTORS:
            yield bytes([sel]) + seed[1:]
        # the longest seed is the batch of every entry, each of which is also a seed of its own
        # (cut at every length there): its cuts are taken at every third length
        step = CUT_STEP_OF_THE_BATCH if len(seed) == longest and len(found) > 1 else 1
        for k in range(0, len(seed), step):
            yield seed[:k]
            yield seed[:1] + seed[1 + k :]
        yield from lies_for(target, seed)
    yield from boundary_inputs(target)


def main(names: list[str]) -> int:
    total = 0
    for name in names or list(targets.TARGETS):
        run = targets.TARGETS[name]
        n = took = 0
        t0 = time.monotonic()
        for data in inputs(name):
            try:
                took += run(data)
            except targets.Finding as exc:
                print(f"FINDING {name}: {exc}\n  input: {data.hex()}", flush=True)
                return 1
            n += 1
        total += n
        print(f"{name}: {n} inputs, {took} accepted, {time.monotonic() - t0:.1f} s", flush=True)
    print(f"systematic pass: {total} inputs, no finding", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
