"""A small parser of ``.proto`` text (proto2/proto3), enough to validate and compare schemas.

It understands ``syntax``, ``package``, ``import``, ``option``, messages (nested), enums, fields
with labels, ``map<K, V>``, ``oneof`` and ``reserved``; services, ``extend`` and extension ranges
are parsed past and ignored. It does not need protoc, so the registry has no runtime dependency
on grpcio-tools. Errors carry the line number so that a 42201 tells the user where to look.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SCALAR_TYPES = frozenset(
    [
        "double",
        "float",
        "int32",
        "int64",
        "uint32",
        "uint64",
        "sint32",
        "sint64",
        "fixed32",
        "fixed64",
        "sfixed32",
        "sfixed64",
        "bool",
        "string",
        "bytes",
    ]
)
_MAX_FIELD_NUMBER = 2**29 - 1
_TOKEN = re.compile(
    r"""(?P<ws>\s+)|(?P<comment>//[^\n]*|/\*.*?\*/)|(?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')"""
    r"""|(?P<num>[-+]?(?:0[xX][0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|inf|nan)\b)"""
    r"""|(?P<ident>\.?[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)|(?P<sym>[{}\[\]()<>;=,:.\-+])""",
    re.DOTALL,
)


class ProtoParseError(ValueError):
    """The text is not a valid .proto file; the message names the line."""


@dataclass(slots=True)
class ProtoField:
    name: str
    number: int
    type: str  # scalar name, or the type name as written (resolved to a full name when possible)
    label: str  # "", "optional", "required", "repeated", "map"
    oneof: str | None = None
    map_key: str | None = None


@dataclass(slots=True)
class ProtoEnum:
    full_name: str
    values: dict[str, int] = field(default_factory=dict)
    reserved_numbers: set[int] = field(default_factory=set)
    reserved_names: set[str] = field(default_factory=set)


@dataclass(slots=True)
class ProtoMessage:
    full_name: str
    fields: list[ProtoField] = field(default_factory=list)
    reserved_numbers: set[int] = field(default_factory=set)
    reserved_ranges: list[tuple[int, int]] = field(default_factory=list)
    reserved_names: set[str] = field(default_factory=set)

    def is_reserved(self, number: int) -> bool:
        return number in self.reserved_numbers or any(lo <= number <= hi for lo, hi in self.reserved_ranges)


@dataclass(slots=True)
class ProtoFile:
    syntax: str = "proto2"
    package: str = ""
    imports: list[str] = field(default_factory=list)
    messages: dict[str, ProtoMessage] = field(default_factory=dict)
    enums: dict[str, ProtoEnum] = field(default_factory=dict)


def tokenize(text: str) -> list[tuple[str, str, int]]:
    """``(kind, value, line)`` tokens without whitespace and comments."""
    tokens: list[tuple[str, str, int]] = []
    pos, line = 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ProtoParseError(f"line {line}: unexpected character {text[pos]!r}")
        kind = m.lastgroup or ""
        value = m.group()
        if kind not in ("ws", "comment"):
            tokens.append((kind, value, line))
        line += value.count("\n")
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.file = ProtoFile()
        self._syntax_seen = False

    # -- token helpers -------------------------------------------------------------------------
    def _line(self) -> int:
        if self.pos < len(self.tokens):
            return self.tokens[self.pos][2]
        return self.tokens[-1][2] if self.tokens else 1

    def error(self, message: str) -> ProtoParseError:
        return ProtoParseError(f"line {self._line()}: {message}")

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def next(self) -> str:
        if self.pos >= len(self.tokens):
            raise self.error("unexpected end of file")
        value = self.tokens[self.pos][1]
        self.pos += 1
        return value

    def expect(self, value: str) -> None:
        got = self.next()
        if got != value:
            self.pos -= 1
            raise self.error(f"expected {value!r}, found {got!r}")

    def ident(self, what: str) -> str:
        if self.pos >= len(self.tokens) or self.tokens[self.pos][0] != "ident":
            raise self.error(f"expected {what}, found {self.peek()!r}")
        return self.next()

    def integer(self, what: str) -> int:
        if self.pos >= len(self.tokens) or self.tokens[self.pos][0] != "num":
            raise self.error(f"expected {what}, found {self.peek()!r}")
        token = self.next()
        try:
            return int(token, 0)
        except ValueError:
            self.pos -= 1
            raise self.error(f"expected an integer {what}, found {token!r}") from None

    def skip_statement(self) -> None:
        """Skip to the end of a statement or past a balanced block."""
        depth = 0
        while True:
            token = self.next()
            if token == "{":
                depth += 1
            elif token == "}":
                depth -= 1
                if depth <= 0:
                    return
            elif token == ";" and depth == 0:
                return

    def skip_options(self) -> None:
        if self.peek() == "[":
            depth = 0
            while True:
                token = self.next()
                depth += token == "["
                depth -= token == "]"
                if depth == 0:
                    return

    # -- grammar -------------------------------------------------------------------------------
    def parse(self) -> ProtoFile:
        if not self.tokens:
            raise ProtoParseError("empty .proto text: expected at least one message or enum")
        while self.peek() is not None:
            token = self.next()
            if token == "syntax" or token == "edition":
                self.expect("=")
                self.file.syntax = self.next().strip("\"'")
                if self.file.syntax not in ("proto2", "proto3"):
                    raise self.error(f"unsupported syntax {self.file.syntax!r}: use proto2 or proto3")
                self.expect(";")
            elif token == "package":
                self.file.package = self.ident("a package name")
                self.expect(";")
            elif token == "import":
                if self.peek() in ("public", "weak"):
                    self.next()
                self.file.imports.append(self.next().strip("\"'"))
                self.expect(";")
            elif token == "option":
                self.skip_statement()
            elif token == "message":
                self.message(self.file.package)
            elif token == "enum":
                self.enum(self.file.package)
            elif token in ("service", "extend"):
                self.skip_statement()
            elif token == ";":
                continue
            else:
                self.pos -= 1
                raise self.error(f"unexpected {token!r} at top level")
        if not self.file.messages and not self.file.enums:
            raise ProtoParseError("the .proto text defines no message or enum")
        return self.file

    @staticmethod
    def _join(scope: str, name: str) -> str:
        return f"{scope}.{name}" if scope else name

    def _define(self, full_name: str) -> None:
        if full_name in self.file.messages or full_name in self.file.enums:
            raise self.error(f"{full_name!r} is already defined")

    def message(self, scope: str) -> None:
        name = self.ident("a message name")
        full = self._join(scope, name)
        self._define(full)
        msg = ProtoMessage(full)
        self.file.messages[full] = msg
        self.expect("{")
        self._message_body(msg, oneof=None)

    def _message_body(self, msg: ProtoMessage, oneof: str | None) -> None:
        while True:
            token = self.peek()
            if token is None:
                raise self.error(f"message {msg.full_name!r} is not closed with '}}'")
            if token == "}":
                self.next()
                return
            if token == ";":
                self.next()
            elif token == "message" and oneof is None:
                self.next()
                self.message(msg.full_name)
            elif token == "enum" and oneof is None:
                self.next()
                self.enum(msg.full_name)
            elif token in ("option", "extensions", "extend") or (token == "group"):
                self.next()
                self.skip_statement()
            elif token == "reserved":
                self.next()
                self.reserved(msg.reserved_numbers, msg.reserved_ranges, msg.reserved_names)
            elif token == "oneof" and oneof is None:
                self.next()
                oneof_name = self.ident("a oneof name")
                self.expect("{")
                self._message_body(msg, oneof=oneof_name)
            else:
                self.field(msg, oneof)

    def field(self, msg: ProtoMessage, oneof: str | None) -> None:
        label = ""
        if self.peek() in ("optional", "required", "repeated"):
            label = self.next()
            if oneof is not None:
                raise self.error(f"a field inside oneof {oneof!r} cannot be {label}")
            if label == "required" and self.file.syntax == "proto3":
                raise self.error("'required' fields are not allowed in proto3")
        map_key = None
        if self.peek() == "map":
            self.next()
            self.expect("<")
            map_key = self.ident("a map key type")
            if map_key not in SCALAR_TYPES or map_key in ("double", "float", "bytes"):
                raise self.error(f"invalid map key type {map_key!r}")
            self.expect(",")
            type_name = self.ident("a map value type")
            self.expect(">")
            label = "map"
        else:
            type_name = self.ident("a field type")
        name = self.ident("a field name")
        self.expect("=")
        number = self.integer("field number")
        if not 1 <= number <= _MAX_FIELD_NUMBER:
            raise self.error(f"field {name!r} number {number} is outside 1..{_MAX_FIELD_NUMBER}")
        if 19000 <= number <= 19999:
            raise self.error(
                f"field {name!r} number {number} is in the range 19000-19999 reserved by protobuf"
            )
        self.skip_options()
        self.expect(";")
        for other in msg.fields:
            if other.number == number:
                raise self.error(f"field {name!r} reuses number {number} of field {other.name!r}")
            if other.name == name:
                raise self.error(f"field name {name!r} is used twice in {msg.full_name!r}")
        if msg.is_reserved(number) or name in msg.reserved_names:
            raise self.error(f"field {name!r} = {number} uses a reserved name or number")
        msg.fields.append(ProtoField(name, number, type_name, label, oneof, map_key))

    def enum(self, scope: str) -> None:
        name = self.ident("an enum name")
        full = self._join(scope, name)
        self._define(full)
        enum = ProtoEnum(full)
        self.file.enums[full] = enum
        self.expect("{")
        while True:
            token = self.next()
            if token == "}":
                break
            if token == ";":
                continue
            if token == "option":
                self.skip_statement()
            elif token == "reserved":
                ranges: list[tuple[int, int]] = []
                self.reserved(enum.reserved_numbers, ranges, enum.reserved_names)
                for lo, hi in ranges:
                    enum.reserved_numbers.update(range(lo, min(hi, lo + 10_000) + 1))
            else:
                self.pos -= 1
                value_name = self.ident("an enum value name")
                self.expect("=")
                number = self.integer("enum value number")
                self.skip_options()
                self.expect(";")
                if value_name in enum.values:
                    raise self.error(f"enum value {value_name!r} is defined twice in {full!r}")
                if not enum.values and self.file.syntax == "proto3" and number != 0:
                    raise self.error(f"the first value of proto3 enum {full!r} must be 0")
                enum.values[value_name] = number
        if not enum.values:
            raise self.error(f"enum {full!r} has no values")

    def reserved(self, numbers: set[int], ranges: list[tuple[int, int]], names: set[str]) -> None:
        while True:
            kind = self.tokens[self.pos][0] if self.pos < len(self.tokens) else ""
            if kind == "str":
                names.add(self.next().strip("\"'"))
            elif kind == "ident":
                names.add(self.next())  # editions write reserved names bare
            else:
                lo = self.integer("reserved number")
                if self.peek() == "to":
                    self.next()
                    hi = _MAX_FIELD_NUMBER if self.peek() == "max" else None
                    if hi is None:
                        hi = self.integer("reserved range end")
                    else:
                        self.next()
                    ranges.append((lo, hi))
                else:
                    numbers.add(lo)
            token = self.next()
            if token == ";":
                return
            if token != ",":
                self.pos -= 1
                raise self.error(f"expected ',' or ';' in reserved, found {token!r}")


def _resolve(file: ProtoFile, scope: str, name: str) -> str | None:
    """The full name a type reference points to, following protobuf's scoping (innermost first)."""
    if name.startswith("."):
        target = name[1:]
        return target if target in file.messages or target in file.enums else None
    parts = scope.split(".") if scope else []
    while True:
        candidate = ".".join([*parts, name])
        if candidate in file.messages or candidate in file.enums:
            return candidate
        if not parts:
            return None
        parts.pop()


def parse_proto(text: str) -> ProtoFile:
    """Parse and check ``text``; type references are resolved to full names (``ProtoParseError``)."""
    file = _Parser(text).parse()
    for msg in file.messages.values():
        for f in msg.fields:
            if f.type in SCALAR_TYPES:
                continue
            resolved = _resolve(file, msg.full_name, f.type)
            if resolved is not None:
                f.type = resolved
            elif not file.imports:
                raise ProtoParseError(f"field {msg.full_name}.{f.name}: unknown type {f.type!r}")
            # with imports, an unresolved name is assumed to live in an imported file
    return file
