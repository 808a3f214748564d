"""The wire protocol of the ingestion port: optional format header, framing, limits, detection.

One TCP port takes every format (``docs/protocol.md`` is the reference):

* A connection may open with one ASCII header line naming its format and options::

      LOGWB/1 format=proto framing=length schema_id=3 ack=1 client=gen-7\\n

* Without it the format and framing are detected from the first bytes: a NUL first byte means
  uint32 length-prefixed binary frames (avro when the payload starts with the magic byte 0,
  protobuf otherwise); ``LEN <PRI>`` is RFC 5425/6587 octet-counted syslog; otherwise newline
  framing, the format told by ``codecs.detect`` (syslog, JSON, journald JSON, journald export,
  raw). So standard syslog senders over TLS and newline JSON senders need not know the header.

Framings: ``lines`` (newline-terminated records, CR stripped), ``octet`` (RFC 6587 octet
counting), ``length`` (big-endian uint32 length then the payload, each payload a batch),
``export`` (journald export entries, ended by an empty line). Limits: ``max_line_bytes`` for a
line or an octet-counted message (over it, the record is skipped and counted, the stream goes
on); ``max_frame_bytes`` for a length-prefixed frame (over it the stream cannot be trusted and
the connection is closed). An octet count over ``max_frame_bytes`` cannot be trusted either and
closes the connection too.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from workbench.codecs.base import TOO_LARGE, RecordError
from workbench.codecs.detect import detect_line
from workbench.codecs.journald import split_export_stream
from workbench.errors import FramingError
from workbench.formats import BINARY_FORMATS, DEFAULT_FRAMING, FORMATS, FRAMINGS

_octet_frames: Callable[[bytes, int], tuple[list[bytes], int]] | None
_stored_octet: Callable[[bytes, int, bytes], tuple[bytes, int, int]] | None
try:
    from workbench.speedups._syslog import octet_frames as _octet_frames
    from workbench.speedups._syslog import stored_octet as _stored_octet
except ImportError:  # not compiled: the Python loop splits every frame
    _octet_frames = _stored_octet = None

MAGIC = b"LOGWB/1 "
MAX_HEADER_BYTES = 512
DEFAULT_MAX_LINE_BYTES = 1 << 20  # 1 MiB
DEFAULT_MAX_FRAME_BYTES = 16 << 20  # 16 MiB
LENGTH = struct.Struct(">I")
_OPTION = re.compile(r"[a-z_]+=[!-~]*")
_OCTET_START = re.compile(rb"\d{1,10} <\d{1,3}>")
_OCTET_PREFIX = re.compile(rb"\d{1,10}(?: (?:<\d{0,3})?)?")  # could still become _OCTET_START


class BrokenStreamError(FramingError):
    """A stream broken beyond repair, raised by ``Splitter.feed``.

    ``payloads`` are the complete payloads split from the same ``feed`` call before the broken
    point: a caller decodes them before it closes the connection, so that the good frames of
    the read that also carried the break are not lost.
    """

    def __init__(self, message: str, payloads: list[bytes]) -> None:
        super().__init__(message)
        self.payloads = payloads


@dataclass(frozen=True, slots=True)
class Header:
    """What a connection says (or is detected to be): format, framing and options."""

    format: str
    framing: str
    schema_id: int | None = None
    ack: bool = False
    client: str | None = None
    detected: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        parts = [f"format={self.format}", f"framing={self.framing}"]
        if self.schema_id is not None:
            parts.append(f"schema_id={self.schema_id}")
        if self.ack:
            parts.append("ack=1")
        if self.client:
            parts.append(f"client={self.client}")
        parts.extend(f"{k}={v}" for k, v in self.extra.items())
        return MAGIC + " ".join(parts).encode("ascii") + b"\n"


def make_header(fmt: str, *, framing: str | None = None, schema_id: int | None = None,
                ack: bool = False, client: str | None = None) -> Header:  # fmt: skip
    """A validated header for a sender; ack mode needs length framing (one ack per frame)."""
    framing = framing or DEFAULT_FRAMING.get(fmt)
    header = Header(fmt, framing or "", schema_id, ack, client)
    _check(header)
    return header


def _check(h: Header) -> None:
    if h.format not in FORMATS:
        raise FramingError(f"unknown format {h.format!r} in header; known: {', '.join(FORMATS)}")
    if h.framing not in FRAMINGS:
        raise FramingError(f"unknown framing {h.framing!r} in header; known: {', '.join(FRAMINGS)}")
    if h.format in BINARY_FORMATS and h.framing != "length":
        raise FramingError(f"format {h.format} needs framing=length, not {h.framing}")
    if h.ack and h.framing != "length":
        raise FramingError("ack=1 needs framing=length: acknowledgements count frames")


def parse_header(line: bytes) -> Header:
    """Parse a header line (with or without its newline). Raises ``FramingError``."""
    if not line.startswith(MAGIC):
        raise FramingError("not a format header (expected it to start with 'LOGWB/1 ')")
    try:
        text = line[len(MAGIC) :].rstrip(b"\r\n").decode("ascii")
    except UnicodeDecodeError:
        raise FramingError("format header is not ASCII") from None
    options: dict[str, str] = {}
    for token in text.split():
        if not _OPTION.fullmatch(token):
            raise FramingError(f"bad header option {token[:40]!r} (expected name=value)")
        key, _, value = token.partition("=")
        options[key] = value
    fmt = options.pop("format", None)
    if fmt is None:
        raise FramingError("format header names no format (format=...)")
    framing = options.pop("framing", None) or DEFAULT_FRAMING.get(fmt, "")
    schema = options.pop("schema_id", None)
    if schema is not None and not schema.isdigit():
        raise FramingError(f"schema_id must be a number, not {schema[:20]!r}")
    ack = options.pop("ack", "0")
    if ack not in ("0", "1", "true", "false"):
        raise FramingError(f"ack must be 0 or 1, not {ack[:20]!r}")
    header = Header(
        format=fmt,
        framing=framing,
        schema_id=int(schema) if schema is not None else None,
        ack=ack in ("1", "true"),
        client=options.pop("client", None),
        extra=options,
    )
    _check(header)
    return header


def detect_stream(head: bytes, eof: bool = False) -> Header | None:
    """The header a connection's first bytes declare or imply; None when more bytes are needed.

    Raises ``FramingError`` for a header line that is too long or wrong.
    """
    if not head:
        return None if not eof else Header("raw", "lines", detected=True)
    if head.startswith(MAGIC) or (MAGIC.startswith(head) and not eof):
        nl = head.find(b"\n", 0, MAX_HEADER_BYTES)
        if nl < 0:
            if len(head) >= MAX_HEADER_BYTES or eof:
                raise FramingError(f"format header is not ended by a newline within {MAX_HEADER_BYTES} bytes")
            return None
        return parse_header(head[: nl + 1])
    if head[0] == 0:
        if len(head) < LENGTH.size + 1:
            return None if not eof else Header("proto", "length", detected=True)
        fmt = "avro" if head[LENGTH.size] == 0 else "proto"
        return Header(fmt, "length", detected=True)
    # octet counting is decided on its first bytes: a quiet sender may not send a newline for long
    if _OCTET_START.match(head):
        return Header("syslog", "octet", detected=True)
    if _OCTET_PREFIX.fullmatch(head) and not eof:
        return None
    nl = head.find(b"\n")
    if nl < 0 and len(head) < 2048 and not eof:
        return None
    first = head[: nl if nl >= 0 else len(head)]
    fmt = detect_line(first if first.strip() else head.lstrip()[:2048])
    if fmt == "journald" and first.lstrip()[:1] != b"{":
        return Header("journald", "export", detected=True)
    return Header(fmt, "lines", detected=True)


def header_length(head: bytes) -> int:
    """Bytes the header line takes at the start of a stream (0 when there is none)."""
    return head.find(b"\n") + 1 if head.startswith(MAGIC) else 0


# --- framing -----------------------------------------------------------------------------


class Splitter:
    """Incremental framer: ``feed`` bytes, get complete payloads; oversize records are counted.

    ``feed`` returns payloads to decode: for ``lines`` one chunk of many complete lines per call
    (codecs split it in bulk); for the others one payload per record or frame. Records skipped
    for their size are appended to ``errors`` (reason ``too_large``), and the stream goes on.
    A stream that cannot be resynchronised raises ``FramingError``.
    """

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                 max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:  # fmt: skip
        self.max_line_bytes = max_line_bytes
        self.max_frame_bytes = max_frame_bytes
        self.buffer = b""
        self.errors: list[RecordError] = []

    def feed(self, data: bytes) -> list[bytes]:
        raise NotImplementedError

    def pending_bytes(self) -> int:
        """Bytes received of a record not complete yet (the idle timeout measures record progress)."""
        return len(self.buffer)

    def finish(self) -> list[bytes]:
        """Payloads left at the end of the stream; raises ``FramingError`` for a cut-off frame."""
        if self.buffer.strip():
            raise FramingError(f"stream ended inside a frame ({len(self.buffer)} bytes left over)")
        return []

    def _too_large(self, size: int, sample: bytes, limit: int) -> None:
        detail = f"record of {size} bytes is over the limit of {limit} bytes"
        self.errors.append(RecordError(0, TOO_LARGE, detail, sample[:256]))


class LineSplitter(Splitter):
    """Newline framing; a line longer than ``max_line_bytes`` is skipped up to its newline."""

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                 max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:  # fmt: skip
        super().__init__(max_line_bytes, max_frame_bytes)
        self._discarding = 0  # bytes of an over-long line skipped so far
        self._sample = b""

    def pending_bytes(self) -> int:
        return len(self.buffer) + self._discarding

    def feed(self, data: bytes) -> list[bytes]:
        if self._discarding:
            nl = data.find(b"\n")
            if nl < 0:
                self._discarding += len(data)
                return []
            self._too_large(self._discarding + nl, self._sample, self.max_line_bytes)
            self._discarding = 0
            data = data[nl + 1 :]
        buf = self.buffer + data if self.buffer else data
        cut = buf.rfind(b"\n") + 1
        chunk, rest = buf[:cut], buf[cut:]
        if len(rest) > self.max_line_bytes:
            self._discarding, self._sample, rest = len(rest), rest[:256], b""
        self.buffer = rest
        if len(chunk) > self.max_line_bytes:
            chunk = self._drop_long_lines(chunk)
        return [chunk] if chunk else []

    def _drop_long_lines(self, chunk: bytes) -> bytes:
        lines = chunk.split(b"\n")
        if max(map(len, lines)) <= self.max_line_bytes:
            return chunk
        kept = []
        for line in lines:
            if len(line) > self.max_line_bytes:
                self._too_large(len(line), line, self.max_line_bytes)
            else:
                kept.append(line)
        return b"\n".join(kept)

    def finish(self) -> list[bytes]:
        if self._discarding:
            self._too_large(self._discarding, self._sample, self.max_line_bytes)
            self._discarding = 0
        rest, self.buffer = self.buffer, b""
        return [rest + b"\n"] if rest.strip() else []


class OctetSplitter(Splitter):
    """RFC 6587 octet counting (``LEN SP MSG``); over-long messages are skipped by their count."""

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                 max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:  # fmt: skip
        super().__init__(max_line_bytes, max_frame_bytes)
        self._skip = 0  # bytes of an over-long message still to skip
        self._skipped = 0  # bytes of it skipped so far

    def pending_bytes(self) -> int:
        return len(self.buffer) + (self._skipped if self._skip else 0)

    def take_stored(self, data: bytes, end: bytes) -> tuple[bytes, int, bytes]:
        """The leading frames of what is buffered plus ``data`` that the compiled RFC 5424
        transcoder takes, as stored lines ending with ``end`` (framing, decoding and the schema
        checks in one C call): (lines, count, the bytes left to ``feed``). Nothing is taken while
        an over-long message is being skipped, nor without the compiled module."""
        if self._skip or _stored_octet is None or not data:
            return b"", 0, data
        buf = self.buffer + data if self.buffer else data
        lines, count, pos = _stored_octet(buf, self.max_line_bytes, end)
        if not count:
            return b"", 0, data
        self.buffer = b""
        return lines, count, buf[pos:]

    def feed(self, data: bytes) -> list[bytes]:
        if self._skip:
            taken = min(self._skip, len(data))
            self._skip -= taken
            self._skipped += taken
            data = data[taken:]
        buf = self.buffer + data if self.buffer else data
        out: list[bytes] = []
        pos, end = 0, len(buf)
        if _octet_frames is not None:  # the well-formed frames in C; the loop below does the rest
            out, pos = _octet_frames(buf, self.max_line_bytes)
        while pos < end:
            if buf[pos] in (10, 13):  # some senders end each frame with a newline too
                pos += 1
                continue
            space = buf.find(b" ", pos, pos + 11)
            if space < 0:
                if end - pos >= 11 or not buf[pos:end].isdigit():
                    raise BrokenStreamError(f"octet count expected, found {buf[pos : pos + 12]!r}", out)
                break
            digits = buf[pos:space]
            if not digits.isdigit():
                raise BrokenStreamError(f"octet count expected, found {buf[pos : pos + 12]!r}", out)
            length = int(digits)
            start = space + 1
            if length > self.max_frame_bytes:
                raise BrokenStreamError(
                    f"octet count {length} is over the frame limit of {self.max_frame_bytes} bytes "
                    "(a lying count, or not an octet-counted stream)",
                    out,
                )
            if length > self.max_line_bytes:
                self._too_large(length, buf[start : start + 256], self.max_line_bytes)
                available = end - start
                if available >= length:
                    pos = start + length
                    continue
                self._skip, self._skipped = length - available, available
                pos = end
                break
            if start + length > end:
                break
            out.append(buf[start : start + length])
            pos = start + length
        self.buffer = buf[pos:]
        return out


class LengthSplitter(Splitter):
    """Big-endian uint32 length prefixes; a frame over ``max_frame_bytes`` ends the stream."""

    def feed(self, data: bytes) -> list[bytes]:
        buf = self.buffer + data if self.buffer else data
        out: list[bytes] = []
        pos, end = 0, len(buf)
        while end - pos >= 4:
            (length,) = LENGTH.unpack_from(buf, pos)
            if length > self.max_frame_bytes:
                raise BrokenStreamError(
                    f"frame length {length} is over the limit of {self.max_frame_bytes} bytes "
                    "(a lying length prefix, or not a length-prefixed stream)",
                    out,
                )
            if pos + 4 + length > end:
                break
            if length:
                out.append(buf[pos + 4 : pos + 4 + length])
            pos += 4 + length
        self.buffer = buf[pos:]
        return out

    def finish(self) -> list[bytes]:
        if self.buffer:  # binary: even whitespace bytes are part of a cut-off frame
            raise FramingError(f"stream ended inside a frame ({len(self.buffer)} bytes left over)")
        return []


class ExportSplitter(Splitter):
    """journald export entries (an empty line ends each); one payload per batch of entries."""

    def feed(self, data: bytes) -> list[bytes]:
        buf = self.buffer + data if self.buffer else data
        entries, used, error = split_export_stream(buf)
        # each entry ends with its last field's newline; one more makes the empty line that ends it
        out = [b"\n".join(entries) + b"\n"] if entries else []
        if error is not None:
            raise BrokenStreamError(f"journald export stream: {error}", out)
        self.buffer = buf[used:]
        if len(self.buffer) > self.max_frame_bytes:
            raise BrokenStreamError(
                f"journald export entry over the limit of {self.max_frame_bytes} bytes", out
            )
        return out

    def finish(self) -> list[bytes]:
        rest, self.buffer = self.buffer, b""
        return [rest] if rest.strip() else []


SPLITTERS: dict[str, type[Splitter]] = {
    "lines": LineSplitter,
    "octet": OctetSplitter,
    "length": LengthSplitter,
    "export": ExportSplitter,
}


def splitter_for(header: Header, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                 max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> Splitter:  # fmt: skip
    return SPLITTERS[header.framing](max_line_bytes, max_frame_bytes)


def frame(payload: bytes) -> bytes:
    """One length-prefixed frame."""
    return LENGTH.pack(len(payload)) + payload


def octet_frame(message: bytes) -> bytes:
    return b"%d %s" % (len(message), message)


# --- ack mode ----------------------------------------------------------------------------
# With ``ack=1`` in the header the receiver answers on the same connection, in order, one
# ASCII line per processed frame batch: ``ACK <n>\n`` where n is the cumulative number of
# frames of this connection that are written to the OS (stored, or rejected and counted).
# A sender keeps every frame after the last acknowledged one and resends those on reconnect.

ACK_PREFIX = b"ACK "


def ack_line(frames_done: int) -> bytes:
    return b"ACK %d\n" % frames_done


def parse_acks(buffer: bytes) -> tuple[int | None, bytes]:
    """The highest cumulative ack in ``buffer`` and the unparsed rest (a partial line)."""
    cut = buffer.rfind(b"\n") + 1
    highest: int | None = None
    for line in buffer[:cut].split(b"\n"):
        if line.startswith(ACK_PREFIX) and line[4:].strip().isdigit():
            highest = int(line[4:])
        elif line.strip():
            raise FramingError(f"unexpected reply from the receiver: {line[:80]!r}")
    return highest, buffer[cut:]
