# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Splunk HEC event requests (``/services/collector/event``) straight to stored JSON lines.

``transcode(body, default_service, default_host, source, sourcetype, index, now_micros, end_line)``
returns (the JSON lines that ``workbench.shippers.hec.HecCodec`` would store for the body, each
ending with ``end_line``, their count), or ``None`` as soon as anything is outside the plain case;
the codec then decodes the body with msgspec and maps each event in Python, which says which
event is bad and why. The mapping is the codec's (its docstring and ``docs/protocol.md`` have the
table); this module only writes it faster. ``default_host`` is the query's ``host`` or else the
peer; ``source``, ``sourcetype`` and ``index`` are the query's (``None``: not given); ``now_micros``
is the time of an event without one.

The plain case, event by event (JSON objects one after another, JSON whitespace between them or
none):

* top-level keys only ``event``, ``time``, ``host``, ``source``, ``sourcetype``, ``index`` and
  ``fields``, each once;
* ``event`` a string with a character that is not whitespace, or a flat object (values strings,
  integers, booleans, null): its ``message``/``msg``/``log``/``line`` string that is not empty is
  the message, and without one the object is, as msgspec writes it; its ``line`` may be such a
  flat object itself (Docker's splunk driver with ``splunk-format=json``) when the object holds a
  message, and is given once;
* ``time`` absent, null, a JSON number, or a string of digits, ``.``, ``e``, ``+`` and ``-`` that
  Python's ``float`` reads, giving an instant in years 1-9999; ``host``, ``source``,
  ``sourcetype`` and ``index`` strings, integers, booleans or null;
* ``fields`` absent, null or a flat object as above;
* integers within int64 and not ``-0`` (a fraction or an exponent only in ``time``: the
  mapping writes other numbers as msgspec formats floats), no ``NaN`` or ``Infinity``;
* a ``level``/``severity`` string of ASCII without quotes, backslashes or control characters (its
  level word is read after ``str.strip`` and ``str.lower``: Unicode's spaces and cases are left to
  Python), a ``seq`` of digits within int64; ``time`` strings without those characters either;
  at most 160 keys in any one object;
* what the schema admits (``_buffer.pxi``'s limits: service 1-256 code points, host and the
  optional fields up to 256, the message up to 65536, at most 128 attributes of up to 8192).

Anything else (nested objects and arrays, floats outside ``time``, keys outside the list, text
the schema refuses, a body that is not JSON) declines the whole request. Duplicate keys inside ``event``, its ``line`` and ``fields`` are read as a Python
dict reads them (the last value, in the first one's place); the mapping's dict updates
(``line`` into the event, ``fields``, the metadata) keep that order too.

Time: ``round(seconds * 1_000_000)`` on a float, as ``timestamp_from_seconds`` does: the text of a
number with a fraction or an exponent (or of a string) is read by ``PyOS_string_to_double``, the
function behind Python's ``float`` (msgspec's correctly rounded parse gives the same double), then
multiplied by 1e6 in double precision and rounded half to even (``rint``); an integer is
multiplied exactly, as Python multiplies ints. The usual ``seconds.micros`` text takes a shortcut
proven to give the same integer (``exact_micros``).

Reading past the body is never needed: a bytes object ends with a NUL, which no token can
continue, so the scanners stop there without a bounds check (the string scans' 16-byte loads
check the length).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport PyObject
from libc.math cimport rint
from libc.stdlib cimport free, malloc
from libc.string cimport memchr, memcmp, memcpy

include "_buffer.pxi"
include "_jsontext.pxi"

cdef extern from "Python.h":
    double PyOS_string_to_double(const char* s, char** endptr, PyObject* overflow_exception) except? -1.0

cdef enum:
    # what a JSON value is
    V_ABSENT = 0  # a top-level key not given
    V_NULL = 1
    V_STRING = 2
    V_INT = 3
    V_TRUE = 4
    V_FALSE = 5
    V_FLOAT = 6  # a number with a fraction or an exponent (only ``time`` takes one)
    V_OBJECT = 7
    TEXT_RAW = 4  # a string flag: UTF-8 text that is not a JSON string body (the request's defaults)
    MAX_PAIRS = 160  # keys of one object that are read (more: declined)
    MAX_WORK = 3 * MAX_PAIRS + 3
    MAX_INT_DIGITS = 19
    MAX_TIME_TEXT = 32
    # the top-level keys
    K_EVENT = 0
    K_TIME = 1
    K_HOST = 2
    K_SOURCE = 3
    K_SOURCETYPE = 4
    K_INDEX = 5
    K_FIELDS = 6
    N_KEYS = 7
    # the entry's optional strings, in the order they are written, and what promotes to them
    O_USER = 0
    O_SESSION = 1
    O_TRACE = 2
    O_CLIENT = 3
    N_OPTIONAL = 4
    K_SEQ = 4
    K_NONE = -1


cdef struct Value:
    int kind
    const unsigned char* p  # a string's JSON body (TEXT_RAW: its text), a number's token
    Py_ssize_t n
    int flags  # ESCAPED, REWRITTEN (scan_string), TEXT_RAW
    Py_ssize_t chars  # a string's code points
    long long i  # an integer's value


cdef struct Pair:
    const unsigned char* key  # its JSON body
    Py_ssize_t key_n
    int key_flags
    Py_ssize_t text_at  # where its written form is in ``texts`` when it has escapes; -1: the body is
    Py_ssize_t text_n
    bint alive  # not taken out of the dict (``pop``)
    Value value


cdef struct Context:
    Value service  # the codec's default service (TEXT_RAW)
    Value host  # the query's host, else the peer
    Value meta[3]  # the query's source, sourcetype, index (V_ABSENT: not given)
    long long now
    const char* tail  # how each line ends
    Py_ssize_t ntail
    Buf texts  # the written form of keys with escapes (one form per text: compared as bytes)
    Buf whole  # an event object without a message, as msgspec writes it: the message
    bint seen_line
    int n_event
    int n_line
    int n_fields
    int n_work
    Pair event[MAX_PAIRS]
    Pair line[MAX_PAIRS]
    Pair fields[MAX_PAIRS]
    Pair work[MAX_WORK]  # the mapping's ``pairs`` dict


# --- reading ------------------------------------------------------------------------------------

cdef inline Py_ssize_t ws(const unsigned char* s, Py_ssize_t i) noexcept:
    """Past JSON whitespace (the NUL after the body stops it)."""
    while s[i] == 32 or s[i] == 10 or s[i] == 13 or s[i] == 9:
        i += 1
    return i


cdef Py_ssize_t scan_number(const unsigned char* s, Py_ssize_t pos, Value* v) noexcept:
    """A JSON number at s[pos] into v (V_INT with its value, or V_FLOAT); the position after it,
    or -1 when it is not JSON or an integer not taken here (-0, outside int64)."""
    cdef Py_ssize_t i = pos, digits, k
    cdef bint negative = s[i] == 45
    cdef unsigned long long value = 0
    if negative:
        i += 1
    if s[i] == 48:
        i += 1
    elif 49 <= s[i] <= 57:
        while is_digit(s[i]):
            i += 1
    else:
        return -1
    digits = i - pos - negative
    v.p = s + pos
    v.kind = V_INT
    if s[i] == 46:
        i += 1
        if not is_digit(s[i]):
            return -1
        while is_digit(s[i]):
            i += 1
        v.kind = V_FLOAT
    if s[i] == 101 or s[i] == 69:
        i += 1
        if s[i] == 43 or s[i] == 45:
            i += 1
        if not is_digit(s[i]):
            return -1
        while is_digit(s[i]):
            i += 1
        v.kind = V_FLOAT
    v.n = i - pos
    v.chars = v.n
    v.flags = 0
    if v.kind == V_INT:
        if digits > MAX_INT_DIGITS or (negative and s[pos + 1] == 48):
            return -1
        for k in range(pos + negative, pos + negative + digits):
            value = value * 10 + (s[k] - 48)  # (19 digits fit 64 unsigned bits)
        if value > 9223372036854775807ULL + negative:
            return -1
        v.i = <long long>(0ULL - value) if negative else <long long>value
    return i


cdef Py_ssize_t scalar(const unsigned char* s, Py_ssize_t pos, Py_ssize_t size, Value* v) noexcept:
    """A string, number, true, false or null at s[pos] into v; the position after it, or -1."""
    cdef unsigned char c = s[pos]
    cdef Py_ssize_t stop
    if c == 34:
        stop = scan_string(s, pos + 1, size, &v.chars, &v.flags)
        if stop < 0:
            return -1
        v.kind = V_STRING
        v.p = s + pos + 1
        v.n = stop - pos - 1
        return stop + 1
    if c == 45 or is_digit(c):
        return scan_number(s, pos, v)
    v.p = s + pos
    v.flags = 0
    # each byte is read only when the one before matched, so never past the NUL
    if c == 116 and s[pos + 1] == 114 and s[pos + 2] == 117 and s[pos + 3] == 101:
        v.kind = V_TRUE
        v.n = v.chars = 4
        return pos + 4
    if c == 102 and s[pos + 1] == 97 and s[pos + 2] == 108 and s[pos + 3] == 115 and s[pos + 4] == 101:
        v.kind = V_FALSE
        v.n = v.chars = 5
        return pos + 5
    if c == 110 and s[pos + 1] == 117 and s[pos + 2] == 108 and s[pos + 3] == 108:
        v.kind = V_NULL
        v.n = v.chars = 0
        return pos + 4
    return -1


cdef inline const unsigned char* key_text(Context* c, Pair* p) noexcept:
    """A key's written form (its text, one form per text)."""
    if p.text_at < 0:
        return p.key
    return <const unsigned char*>c.texts.data + p.text_at


cdef inline bint same_key(Context* c, Pair* a, Pair* b) noexcept:
    return a.text_n == b.text_n and memcmp(key_text(c, a), key_text(c, b), a.text_n) == 0


cdef inline bint key_is(Context* c, Pair* p, const char* name, Py_ssize_t n) noexcept:
    return p.text_n == n and memcmp(key_text(c, p), name, n) == 0


cdef int set_pair(Context* c, Pair* pairs, int* count, Pair* p) noexcept:
    """``pairs[key] = value`` as a dict does it: in the place of the key when it is there, else at
    the end; -1 when the list is full."""
    cdef int i
    for i in range(count[0]):
        if pairs[i].alive and same_key(c, &pairs[i], p):
            pairs[i].value = p.value
            return 0
    if count[0] >= MAX_WORK or (pairs != c.work and count[0] >= MAX_PAIRS):
        return -1
    pairs[count[0]] = p[0]
    count[0] += 1
    return 0


cdef Py_ssize_t flat(Context* c, const unsigned char* s, Py_ssize_t pos, Py_ssize_t size, Pair* pairs,
                     int* count, bint in_event) except -2:
    """The object at s[pos] (``{``) into ``pairs``: scalar values only, but for a ``line`` object
    in the event (read into ``c.line``). The position after it, or -1."""
    cdef Pair p
    cdef Py_ssize_t stop, chars
    cdef char* d
    pos = ws(s, pos + 1)
    if s[pos] == 125:
        return pos + 1
    while True:
        if s[pos] != 34:
            return -1
        stop = scan_string(s, pos + 1, size, &chars, &p.key_flags)
        if stop < 0:
            return -1
        p.key = s + pos + 1
        p.key_n = stop - pos - 1
        p.alive = True
        if p.key_flags & ESCAPED:
            p.text_at = c.texts.len
            d = put_text(reserve(&c.texts, p.key_n), s, pos + 1, stop, p.key_flags)
            commit(&c.texts, d, "hec key")
            p.text_n = c.texts.len - p.text_at
        else:
            p.text_at = -1
            p.text_n = p.key_n
        pos = ws(s, stop + 1)
        if s[pos] != 58:
            return -1
        pos = ws(s, pos + 1)
        if in_event and key_is(c, &p, b"line", 4):
            if c.seen_line:  # given twice: which one the dict keeps decides its kind; not ours
                return -1
            c.seen_line = True
            if s[pos] == 123:
                pos = flat(c, s, pos, size, c.line, &c.n_line, False)
                p.value.kind = V_OBJECT
            else:
                pos = scalar(s, pos, size, &p.value)
        else:
            pos = scalar(s, pos, size, &p.value)
        if pos < 0 or p.value.kind == V_FLOAT or set_pair(c, pairs, count, &p) < 0:
            return -1
        pos = ws(s, pos)
        if s[pos] == 44:
            pos = ws(s, pos + 1)
        elif s[pos] == 125:
            return pos + 1
        else:
            return -1


cdef int top_key(const unsigned char* k, Py_ssize_t n) noexcept:
    if n == 5 and memcmp(k, b"event", 5) == 0:
        return K_EVENT
    if n == 4 and memcmp(k, b"time", 4) == 0:
        return K_TIME
    if n == 4 and memcmp(k, b"host", 4) == 0:
        return K_HOST
    if n == 6 and memcmp(k, b"source", 6) == 0:
        return K_SOURCE
    if n == 10 and memcmp(k, b"sourcetype", 10) == 0:
        return K_SOURCETYPE
    if n == 5 and memcmp(k, b"index", 5) == 0:
        return K_INDEX
    if n == 6 and memcmp(k, b"fields", 6) == 0:
        return K_FIELDS
    return -1


# --- the mapping --------------------------------------------------------------------------------

cdef bint is_space(int cp) noexcept:
    """Whether ``str.isspace`` holds for the code point."""
    if cp < 128:
        return (9 <= cp <= 13) or (28 <= cp <= 32)
    return cp == 0x85 or cp == 0xA0 or cp == 0x1680 or (0x2000 <= cp <= 0x200A) or cp == 0x2028 \
        or cp == 0x2029 or cp == 0x202F or cp == 0x205F or cp == 0x3000


cdef bint blank_text(Value* v) noexcept:
    """Whether a string's text is empty or whitespace only (``str.strip`` leaves nothing)."""
    cdef const unsigned char* p = v.p
    cdef Py_ssize_t i = 0, n = v.n
    cdef unsigned char c, e
    cdef int cp
    while i < n:
        c = p[i]
        if c == 32:
            i += 1
        elif c == 92:
            e = p[i + 1]
            if e == 116 or e == 110 or e == 114 or e == 102:
                i += 2
            elif e == 117 and is_space(hex4(p, i + 2)):  # (a surrogate is not a space)
                i += 6
            else:
                return False
        elif c < 0x80:
            return False
        elif c < 0xE0:
            cp = ((c & 0x1F) << 6) | (p[i + 1] & 0x3F)
            if not is_space(cp):
                return False
            i += 2
        elif c < 0xF0:
            cp = ((c & 0x0F) << 12) | ((p[i + 1] & 0x3F) << 6) | (p[i + 2] & 0x3F)
            if not is_space(cp):
                return False
            i += 3
        else:
            return False  # beyond the BMP: never a space
    return True


cdef int find(Context* c, const char* name, Py_ssize_t n) noexcept:
    """The place of a key in the mapping's dict, or -1."""
    cdef int i
    for i in range(c.n_work):
        if c.work[i].alive and key_is(c, &c.work[i], name, n):
            return i
    return -1


cdef int pop_text(Context* c, const char* a, Py_ssize_t an, const char* b, Py_ssize_t bn,
                  const char* d, Py_ssize_t dn, const char* e, Py_ssize_t en) noexcept:
    """``mapping.pop_text``: the first of the names (up to four; n 0 ends them) whose value is a
    string that is not empty, taken out; its place, or -1."""
    cdef const char* names[4]
    cdef Py_ssize_t lens[4]
    cdef int k, i
    names[0], names[1], names[2], names[3] = a, b, d, e
    lens[0], lens[1], lens[2], lens[3] = an, bn, dn, en
    for k in range(4):
        if lens[k] == 0:
            break
        i = find(c, names[k], lens[k])
        if i >= 0 and c.work[i].value.kind == V_STRING and c.work[i].value.n > 0:
            c.work[i].alive = False
            return i
    return -1


cdef int text_of(Context* c, Value* v, const unsigned char** p, Py_ssize_t* n) except -2:
    """A string's text: its body, or for one with escapes its written form in ``c.texts``, which
    is the text when it holds no backslash; -1 when it does (a quote, a backslash or a control
    character: let Python say what ``strip`` or ``float`` make of it). The pointer is good until
    ``c.texts`` grows."""
    cdef Py_ssize_t at
    cdef char* d
    if not v.flags & ESCAPED:
        p[0] = v.p
        n[0] = v.n
        return 0
    at = c.texts.len
    d = put_text(reserve(&c.texts, v.n), v.p, 0, v.n, v.flags)
    commit(&c.texts, d, "hec text")
    p[0] = <const unsigned char*>c.texts.data + at
    n[0] = c.texts.len - at
    return -1 if memchr(p[0], 92, n[0]) != NULL else 0


cdef int SYSLOG_LEVEL[8]
SYSLOG_LEVEL[:] = [5, 5, 5, 4, 3, 2, 2, 1]  # FATAL FATAL FATAL ERROR WARN INFO INFO DEBUG


cdef int word_level(const unsigned char* p, Py_ssize_t n) noexcept:
    """``level_from_text``'s word table on lowercase ASCII; -1 when it is not a level word."""
    if n == 5 and memcmp(p, b"trace", 5) == 0:
        return 0
    if n == 5 and memcmp(p, b"debug", 5) == 0:
        return 1
    if (n == 4 and memcmp(p, b"info", 4) == 0) or (n == 11 and memcmp(p, b"information", 11) == 0) \
            or (n == 13 and memcmp(p, b"informational", 13) == 0) or (n == 6 and memcmp(p, b"notice", 6) == 0):
        return 2
    if (n == 4 and memcmp(p, b"warn", 4) == 0) or (n == 7 and memcmp(p, b"warning", 7) == 0):
        return 3
    if (n == 5 and memcmp(p, b"error", 5) == 0) or (n == 3 and memcmp(p, b"err", 3) == 0):
        return 4
    if (n == 5 and (memcmp(p, b"fatal", 5) == 0 or memcmp(p, b"alert", 5) == 0 or memcmp(p, b"emerg", 5) == 0
                    or memcmp(p, b"panic", 5) == 0)) or (n == 8 and memcmp(p, b"critical", 8) == 0) \
            or (n == 4 and memcmp(p, b"crit", 4) == 0) or (n == 9 and memcmp(p, b"emergency", 9) == 0):
        return 5
    return -1


cdef int level_of(Context* c, Value* v) except -3:
    """``level_from_text(value, "")``: 0-5, -1 for none, -2 when not sure (declined)."""
    cdef Py_ssize_t a = 0, b, i
    cdef const unsigned char* p
    cdef unsigned char low[16]
    cdef unsigned char ch
    if v.kind == V_INT:
        return SYSLOG_LEVEL[v.i] if 0 <= v.i <= 7 else -1
    if v.kind != V_STRING:
        return -1  # null, booleans
    if text_of(c, v, &p, &b) < 0:
        return -2
    for i in range(b):
        if p[i] >= 0x80:  # Unicode whitespace and case: Python's business
            return -2
    # text without a control character: only spaces to strip
    while a < b and p[a] == 32:
        a += 1
    while b > a and p[b - 1] == 32:
        b -= 1
    if b - a == 1 and is_digit(p[a]):
        return SYSLOG_LEVEL[p[a] - 48] if p[a] <= 55 else -1
    if b - a > 13:
        return -1
    for i in range(b - a):
        ch = p[a + i]
        low[i] = ch + 32 if 65 <= ch <= 90 else ch
    return word_level(low, b - a)


cdef int pop_level(Context* c) except -2:
    """``mapping.pop_level`` over level, severity: 0-5 (INFO when none), -1 when not sure."""
    cdef int k, i, level
    for k in range(2):
        i = find(c, b"level", 5) if k == 0 else find(c, b"severity", 8)
        if i < 0:
            continue
        level = level_of(c, &c.work[i].value)
        if level == -2:
            return -1
        if level >= 0:
            c.work[i].alive = False
            return level
    return 2


cdef int known(Context* c, Pair* p) noexcept:
    """The entry field a key promotes to (``mapping.KNOWN_FIELDS``), or K_NONE."""
    if key_is(c, p, b"seq", 3):
        return K_SEQ
    if key_is(c, p, b"client_id", 9):
        return O_CLIENT
    if key_is(c, p, b"user_id", 7) or key_is(c, p, b"user.id", 7):
        return O_USER
    if key_is(c, p, b"session_id", 10) or key_is(c, p, b"session.id", 10):
        return O_SESSION
    if key_is(c, p, b"trace_id", 8) or key_is(c, p, b"trace.id", 8):
        return O_TRACE
    return K_NONE


cdef int seq_of(Context* c, Value* v, long long* seq) except -2:
    """1 when the value is a seq (a non-negative integer, or ASCII digits), 0 when it stays, -1
    when not sure (digits past int64: the schema refuses those)."""
    cdef Py_ssize_t i, a = 0, n
    cdef const unsigned char* p
    cdef unsigned long long u = 0
    if v.kind == V_INT:
        if v.i < 0:
            return 0
        seq[0] = v.i
        return 1
    if v.kind != V_STRING or v.n == 0:
        return 0
    if text_of(c, v, &p, &n) < 0:
        return 0  # a quote, a backslash or a control character: not digits
    for i in range(n):
        if not is_digit(p[i]):
            return 0
    if n > 64:  # (Python's int() refuses over 4300 digits)
        return -1
    while a < n - 1 and p[a] == 48:
        a += 1
    if n - a > 19:
        return -1
    for i in range(a, n):
        u = u * 10 + (p[i] - 48)
    if u > 9223372036854775807ULL:
        return -1
    seq[0] = <long long>u
    return 1


cdef bint exact_micros(const unsigned char* p, Py_ssize_t n, long long* micros) noexcept:
    """``round(float(text) * 1_000_000)`` without a float, for ``[-]digits[.digits]`` with at most
    6 fraction digits whose value M in µs is below 2^51 (until 2041): float(text) is N / 10^k
    correctly rounded and the product is rounded once more, so it is M(1 + d) with
    |d| <= 2^-52 + 2^-106, less than 0.5 away from the integer M, and round() gives M. False
    when the text is not in that shape (the caller takes the float path)."""
    cdef Py_ssize_t i = 0, k = -1
    cdef unsigned long long m = 0
    cdef bint negative = n > 0 and p[0] == 45
    i = negative
    if i >= n or not is_digit(p[i]):
        return False
    while i < n:
        if is_digit(p[i]):
            if m >= 1ULL << 51:
                return False
            m = m * 10 + (p[i] - 48)
            if k >= 0:
                k += 1
        elif p[i] == 46 and k < 0:
            k = 0
        else:
            return False
        i += 1
    if k > 6:
        return False
    for i in range(6 - (k if k > 0 else 0)):
        if m >= 1ULL << 51:
            return False
        m *= 10
    if m >= 1ULL << 51:
        return False
    micros[0] = -<long long>m if negative else <long long>m
    return True


cdef int micros_from_text(const unsigned char* p, Py_ssize_t n, long long* micros) except -2:
    """``round(float(text) * 1_000_000)``; -1 when it is not a number or out of range."""
    cdef char buf[MAX_TIME_TEXT + 1]
    cdef double x
    cdef Py_ssize_t i
    cdef unsigned char ch
    if n == 0 or n > MAX_TIME_TEXT:
        return -1
    if exact_micros(p, n, micros):
        return 0
    for i in range(n):
        ch = p[i]
        if not (is_digit(ch) or ch == 46 or ch == 101 or ch == 69 or ch == 43 or ch == 45):
            return -1  # (no whitespace, underscores, inf or nan: float's other forms)
    memcpy(buf, p, n)
    buf[n] = 0
    try:
        x = PyOS_string_to_double(buf, NULL, NULL) * 1000000.0
    except ValueError:
        return -1
    if not (-9.0e18 < x < 9.0e18):  # inf and nan fail too
        return -1
    micros[0] = <long long>rint(x)  # half to even, as round() rounds
    return 0


cdef int micros_of(Context* c, Value* t, long long* micros) except -2:
    """The event's time in µs (``timestamp_from_seconds``), or -1."""
    cdef const unsigned char* p
    cdef Py_ssize_t n
    if t.kind == V_ABSENT or t.kind == V_NULL:
        micros[0] = c.now
        return 0
    if t.kind == V_INT:
        if t.n - (t.p[0] == 45) > 12:  # beyond year 9999 anyway
            return -1
        micros[0] = t.i * 1000000
        return 0
    if t.kind == V_FLOAT:
        return micros_from_text(t.p, t.n, micros)
    if t.kind == V_STRING:
        if text_of(c, t, &p, &n) < 0:
            return -1
        return micros_from_text(p, n, micros)
    return -1


cdef int put_value(Buf* out, Value* v) except -1:
    """A value as a JSON string body, as ``attributes_of`` and msgspec write it."""
    cdef char* d
    if v.kind == V_STRING:
        if v.flags & TEXT_RAW:
            put_escaped(out, v.p, v.n)
        elif v.flags & ESCAPED:
            d = reserve(out, v.n)  # the text is never longer than its JSON (put_text)
            commit(out, put_text(d, v.p, 0, v.n, v.flags), "hec value")
        else:
            put(out, <const char*>v.p, v.n)
    elif v.kind == V_INT:
        put(out, <const char*>v.p, v.n)
    elif v.kind == V_TRUE:
        put(out, b"true", 4)
    elif v.kind == V_FALSE:
        put(out, b"false", 5)
    return 0


cdef int put_key(Buf* out, Pair* p) except -1:
    cdef char* d
    if p.key_flags & ESCAPED:
        d = reserve(out, p.key_n)
        commit(out, put_text(d, p.key, 0, p.key_n, p.key_flags), "hec key")
    else:
        put(out, <const char*>p.key, p.key_n)
    return 0


cdef int put_optional(Buf* out, const char* name, Py_ssize_t n, Value* v) except -1:
    put(out, name, n)
    put_value(out, v)
    put_byte(out, 34)
    return 0


cdef int whole_object(Context* c, Value* message) except -2:
    """The event object as ``msgspec.json.encode`` writes it (the dict's keys in order) into
    ``c.whole``, as the message; -1 when it holds an object (a ``line`` object)."""
    cdef int i
    cdef Value* v
    c.whole.len = 0
    put_byte(&c.whole, 123)
    for i in range(c.n_event):
        v = &c.event[i].value
        if v.kind == V_OBJECT:
            return -1
        if i:
            put_byte(&c.whole, 44)
        put_byte(&c.whole, 34)
        put_key(&c.whole, &c.event[i])
        put(&c.whole, b'":', 2)
        if v.kind == V_STRING:
            put_byte(&c.whole, 34)
            put_value(&c.whole, v)
            put_byte(&c.whole, 34)
        elif v.kind == V_NULL:
            put(&c.whole, b"null", 4)
        else:
            put_value(&c.whole, v)
    put_byte(&c.whole, 125)
    message.kind = V_STRING
    message.p = <const unsigned char*>c.whole.data  # (nothing writes to c.whole until the next event)
    message.n = c.whole.len
    message.flags = TEXT_RAW
    message.chars = utf8_chars(message.p, message.n)
    return 0


cdef int write_event(Context* c, Buf* out, Value* top) except -2:
    """The stored line of one event read into ``c`` and ``top``; -1 when it is not the plain case
    (the line is left unfinished: the caller drops the output)."""
    cdef Value message, service, host
    cdef Value* opt[N_OPTIONAL]
    cdef Value* v
    cdef Pair mp
    cdef int i, k, level, field, got, n_attrs = 0
    cdef bint has_seq = False, first = True
    cdef long long seq = 0, micros = 0
    cdef const char* META_NAMES[3]
    META_NAMES[0], META_NAMES[1], META_NAMES[2] = b"source", b"sourcetype", b"index"
    c.n_work = 0
    # the event: its message, and an object's keys as the first pairs
    if top[K_EVENT].kind == V_STRING:
        if blank_text(&top[K_EVENT]):
            return -1
        message = top[K_EVENT]
    elif top[K_EVENT].kind == V_OBJECT:
        for i in range(c.n_event):
            if c.event[i].value.kind != V_OBJECT:  # the line object is taken out, its keys put in
                c.work[c.n_work] = c.event[i]
                c.n_work += 1
        for i in range(c.n_line):
            if set_pair(c, c.work, &c.n_work, &c.line[i]) < 0:
                return -1
        i = pop_text(c, b"message", 7, b"msg", 3, b"log", 3, b"line", 4)
        if i >= 0:
            message = c.work[i].value
        else:  # the whole object is the message, as msgspec writes it, and no pair is kept
            if whole_object(c, &message) < 0:
                return -1
            c.n_work = 0
    else:
        return -1
    if top[K_FIELDS].kind == V_OBJECT:
        for i in range(c.n_fields):
            if set_pair(c, c.work, &c.n_work, &c.fields[i]) < 0:
                return -1
    elif top[K_FIELDS].kind != V_ABSENT and top[K_FIELDS].kind != V_NULL:
        return -1
    level = pop_level(c)
    if level < 0:
        return -1
    i = pop_text(c, b"service", 7, b"service.name", 12, b"", 0, b"", 0)
    service = c.work[i].value if i >= 0 else c.service
    host = top[K_HOST] if top[K_HOST].kind == V_STRING and top[K_HOST].n > 0 else c.host
    if top[K_HOST].kind == V_FLOAT or top[K_HOST].kind == V_OBJECT:
        return -1
    # source, sourcetype, index: the event's (null: none), else the query's
    for k in range(3):
        v = &top[K_SOURCE + k] if top[K_SOURCE + k].kind != V_ABSENT else &c.meta[k]
        if v.kind == V_ABSENT or v.kind == V_NULL:
            continue
        if v.kind == V_FLOAT or v.kind == V_OBJECT:
            return -1
        mp.key = <const unsigned char*>META_NAMES[k]
        mp.key_n = mp.text_n = 6 if k == 0 else (10 if k == 1 else 5)
        mp.key_flags = 0
        mp.text_at = -1
        mp.alive = True
        mp.value = v[0]
        if set_pair(c, c.work, &c.n_work, &mp) < 0:
            return -1
    if micros_of(c, &top[K_TIME], &micros) < 0:
        return -1
    # promote seq, client_id, user_id, session_id, trace_id (mapping.promote: the last one wins)
    for i in range(N_OPTIONAL):
        opt[i] = NULL
    for i in range(c.n_work):
        if not c.work[i].alive:
            continue
        field = known(c, &c.work[i])
        v = &c.work[i].value
        if field == K_NONE:
            if v.kind != V_NULL:
                n_attrs += 1
            continue
        if field == K_SEQ:
            got = seq_of(c, v, &seq)
            if got < 0:
                return -1
            if got:
                has_seq = True
                c.work[i].alive = False
            elif v.kind != V_NULL:
                n_attrs += 1
            continue
        if v.kind == V_NULL:
            continue  # stays, and attributes leave a None out
        opt[field] = v
        c.work[i].alive = False
    # the schema's limits
    if service.chars < 1 or service.chars > MAX_STRING or host.chars > MAX_STRING \
            or message.chars > MAX_MESSAGE or n_attrs > MAX_ATTRIBUTES:
        return -1
    for i in range(N_OPTIONAL):
        if opt[i] != NULL and opt[i].chars > MAX_STRING:
            return -1
    for i in range(c.n_work):
        if c.work[i].alive and c.work[i].value.chars > MAX_ATTRIBUTE_VALUE:
            return -1
    put(out, b'{"timestamp":"', 14)
    if put_timestamp(out, micros) < 0:
        return -1
    put(out, b'","level":"', 11)
    puts(out, entry_level(level))
    put(out, b'","service":"', 13)
    put_value(out, &service)
    put(out, b'","message":"', 13)
    put_value(out, &message)
    put(out, b'","host":"', 10)
    put_value(out, &host)
    put_byte(out, 34)
    if opt[O_USER] != NULL:
        put_optional(out, b',"user_id":"', 12, opt[O_USER])
    if opt[O_SESSION] != NULL:
        put_optional(out, b',"session_id":"', 15, opt[O_SESSION])
    if opt[O_TRACE] != NULL:
        put_optional(out, b',"trace_id":"', 13, opt[O_TRACE])
    if n_attrs:
        put(out, b',"attributes":{', 15)
        for i in range(c.n_work):
            if not c.work[i].alive or c.work[i].value.kind == V_NULL:
                continue
            if not first:
                put_byte(out, 44)
            first = False
            put_byte(out, 34)
            put_key(out, &c.work[i])
            put(out, b'":"', 3)
            put_value(out, &c.work[i].value)
            put_byte(out, 34)
        put_byte(out, 125)
    if opt[O_CLIENT] != NULL:
        put_optional(out, b',"client_id":"', 14, opt[O_CLIENT])
    if has_seq:
        put(out, b',"seq":', 7)
        put_int(out, seq)
    put(out, c.tail, c.ntail)
    return 0


cdef Py_ssize_t event(Context* c, Buf* out, const unsigned char* s, Py_ssize_t pos, Py_ssize_t size) except -2:
    """Read the event object at s[pos] (``{``) and write its line; the position after it, or -1."""
    cdef Value top[N_KEYS]
    cdef int k, seen = 0
    cdef Py_ssize_t stop, chars, name_n
    cdef const unsigned char* name
    cdef Value key
    for k in range(N_KEYS):
        top[k].kind = V_ABSENT
    c.n_event = c.n_line = c.n_fields = 0
    c.seen_line = False
    c.texts.len = 0
    pos = ws(s, pos + 1)
    if s[pos] == 125:
        return -1  # no event field
    while True:
        if s[pos] != 34:
            return -1
        stop = scan_string(s, pos + 1, size, &chars, &key.flags)
        if stop < 0:
            return -1
        key.kind = V_STRING
        key.p = s + pos + 1
        key.n = stop - pos - 1
        if text_of(c, &key, &name, &name_n) < 0:
            return -1
        k = top_key(name, name_n)
        if k < 0 or seen & (1 << k):
            return -1
        seen |= 1 << k
        pos = ws(s, stop + 1)
        if s[pos] != 58:
            return -1
        pos = ws(s, pos + 1)
        if s[pos] == 123 and k == K_EVENT:
            pos = flat(c, s, pos, size, c.event, &c.n_event, True)
            top[k].kind = V_OBJECT
        elif s[pos] == 123 and k == K_FIELDS:
            pos = flat(c, s, pos, size, c.fields, &c.n_fields, False)
            top[k].kind = V_OBJECT
        else:
            pos = scalar(s, pos, size, &top[k])
        if pos < 0:
            return -1
        pos = ws(s, pos)
        if s[pos] == 44:
            pos = ws(s, pos + 1)
        elif s[pos] == 125:
            break
        else:
            return -1
    if top[K_EVENT].kind == V_ABSENT or write_event(c, out, top) < 0:
        return -1
    return pos + 1


cdef int raw_text(Value* v, object text) except -1:
    """A default (bytes, UTF-8) as a TEXT_RAW string, V_ABSENT for None; -1 when not UTF-8."""
    cdef bytes b
    if text is None:
        v.kind = V_ABSENT
        return 0
    b = text
    v.kind = V_STRING
    v.p = <const unsigned char*>PyBytes_AS_STRING(b)
    v.n = PyBytes_GET_SIZE(b)
    v.flags = TEXT_RAW
    v.chars = utf8_chars(v.p, v.n)
    return 0 if v.chars >= 0 else -1


def transcode(bytes body not None, bytes default_service not None, bytes default_host not None,
              source, sourcetype, index, long long now_micros, bytes end_line not None = b"}\n"):
    """(stored JSON lines, each ending with ``end_line``, count) of a HEC event body, or None (see
    the module docstring). The defaults are UTF-8 bytes; ``source``, ``sourcetype`` and ``index``
    may be None (not in the query)."""
    cdef const unsigned char* s = <const unsigned char*>PyBytes_AS_STRING(body)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(body), pos = 0, count = 0
    cdef Buf out
    cdef Context* c = <Context*>malloc(sizeof(Context))
    if c == NULL:
        raise MemoryError()
    out.data = NULL
    c.texts.data = NULL
    c.whole.data = NULL
    try:
        # (the bytes objects stay referenced by the caller for the call)
        if raw_text(&c.service, default_service) < 0 or raw_text(&c.host, default_host) < 0 \
                or raw_text(&c.meta[0], source) < 0 or raw_text(&c.meta[1], sourcetype) < 0 \
                or raw_text(&c.meta[2], index) < 0:
            return None
        c.now = now_micros
        c.tail = PyBytes_AS_STRING(end_line)
        c.ntail = PyBytes_GET_SIZE(end_line)
        buf_open(&out, size + size // 2 + 4096)
        buf_open(&c.texts, 256)
        buf_open(&c.whole, 256)
        while True:
            pos = ws(s, pos)
            if pos >= size:
                break
            if s[pos] != 123:
                return None
            pos = event(c, &out, s, pos, size)
            if pos < 0:
                return None
            count += 1
        if count == 0:  # no event: HEC's "No data", the codec's answer
            return None
        return PyBytes_FromStringAndSize(out.data, out.len), count
    finally:
        free(out.data)
        free(c.texts.data)
        free(c.whole.data)
        free(c)
