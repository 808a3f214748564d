# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""JSON lines of log entries straight to their stored lines, validated on the way (Cython).

``transcode(chunk, end)`` reads a payload of JSON lines and writes, for each, the line that
decoding with msgspec into ``LogEntry`` and ``normalise`` would store (fields in the schema's
order, null optional fields and empty ``attributes`` left out, the timestamp in UTC, strings
escaped as msgspec escapes them), with the line's closing ``}\\n`` replaced by ``end``. It
returns ``(lines, count)``, or ``None`` as soon as one line is outside the shape handled here or
breaks the schema (``_buffer.pxi``'s checks); the caller then decodes the payload with msgspec,
which says which record is bad and why. No Python object is made per line.

The shape handled: one object per line, keys in any order, JSON whitespace anywhere in the line
(blank lines skipped); keys without escapes; ``timestamp`` and ``level`` without escapes and the
timestamp in ``put_rfc3339``'s shape; ``seq`` a plain integer (no sign, fraction or exponent);
everything else JSON allows, escapes and surrogate pairs included. Declined although msgspec
might take it: an object spread over several lines or two objects on one line, a duplicate key
(msgspec keeps the last), ``-0``, and the timestamp forms msgspec reads beyond RFC 3339's
strict one (lowercase ``t``/``z``, a space, 7+ fraction digits, ``+0200``).

Reading past a line is never needed: a bytes object ends with a NUL and each line with a
newline, and neither byte can continue any token, so the scanners below stop at them without a
bounds check (``skip_ws`` does not skip a newline: a line ends there).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdlib cimport free
from libc.string cimport memcmp, memcpy

include "_buffer.pxi"

cdef enum:
    # LogEntry's fields, in the order they are stored
    F_TIMESTAMP = 0
    F_LEVEL = 1
    F_SERVICE = 2
    F_MESSAGE = 3
    F_HOST = 4
    F_USER = 5
    F_SESSION = 6
    F_TRACE = 7
    F_ATTRIBUTES = 8
    F_CLIENT = 9
    F_SEQ = 10
    N_FIELDS = 11
    REQUIRED = 0x1F  # timestamp, level, service, message, host
    NULLABLE = (1 << F_USER) | (1 << F_SESSION) | (1 << F_TRACE) | (1 << F_CLIENT) | (1 << F_SEQ)

# bytes a string scan stops at: quote, backslash, control characters (invalid raw), non-ASCII
cdef unsigned char STOP[256]
cdef int _c
for _c in range(256):
    STOP[_c] = _c < 32 or _c == 34 or _c == 92 or _c >= 128


cdef inline Py_ssize_t skip_ws(const unsigned char* s, Py_ssize_t i) noexcept:
    while s[i] == 32 or s[i] == 9 or s[i] == 13:
        i += 1
    return i


cdef inline int hex4(const unsigned char* s, Py_ssize_t i) noexcept:
    """The value of four hex digits at s[i], or -1 (read in order: stops at a line's end)."""
    cdef int v = 0, k
    cdef unsigned char c
    for k in range(4):
        c = s[i + k]
        if 48 <= c <= 57:
            v = v * 16 + (c - 48)
        elif 97 <= (c | 32) <= 102:
            v = v * 16 + ((c | 32) - 87)
        else:
            return -1
    return v


cdef inline int utf8_seq(const unsigned char* s, Py_ssize_t i) noexcept:
    """Length of the UTF-8 sequence at s[i] (a byte >= 0x80), or -1 when Python would not decode
    it (as ``utf8_chars``: overlong forms, surrogates, over U+10FFFF, truncated)."""
    cdef unsigned char c = s[i], c1
    if c < 0xC2:
        return -1
    if c < 0xE0:
        return 2 if s[i + 1] & 0xC0 == 0x80 else -1
    c1 = s[i + 1]
    if c1 & 0xC0 != 0x80:
        return -1
    if c < 0xF0:
        if (c == 0xE0 and c1 < 0xA0) or (c == 0xED and c1 >= 0xA0) or s[i + 2] & 0xC0 != 0x80:
            return -1
        return 3
    if c < 0xF5:
        if (c == 0xF0 and c1 < 0x90) or (c == 0xF4 and c1 >= 0x90) or s[i + 2] & 0xC0 != 0x80 \
                or s[i + 3] & 0xC0 != 0x80:
            return -1
        return 4
    return -1


cdef Py_ssize_t scan_string(const unsigned char* s, Py_ssize_t i, Py_ssize_t* chars, bint* escaped) noexcept:
    """The position of the closing quote of the JSON string whose body starts at s[i], or -1 when
    it is not valid JSON or not valid UTF-8. Sets the code points of the decoded text and whether
    it holds an escape (else its bytes are the text, and msgspec writes them back unchanged)."""
    cdef Py_ssize_t start = i, extra = 0  # bytes that do not start a code point of the text
    cdef unsigned char c, e
    cdef int cp, n
    escaped[0] = False
    while True:
        while not STOP[s[i]]:
            i += 1
        c = s[i]
        if c == 34:
            chars[0] = i - start - extra
            return i
        if c == 92:
            escaped[0] = True
            e = s[i + 1]
            if e == 117:  # \uXXXX, a surrogate pair as two of them
                cp = hex4(s, i + 2)
                if cp < 0 or 0xDC00 <= cp <= 0xDFFF:
                    return -1
                if 0xD800 <= cp <= 0xDBFF:
                    if s[i + 6] != 92 or s[i + 7] != 117:
                        return -1
                    cp = hex4(s, i + 8)
                    if cp < 0xDC00 or cp > 0xDFFF:
                        return -1
                    i += 12
                    extra += 11
                else:
                    i += 6
                    extra += 5
            elif e == 34 or e == 92 or e == 47 or e == 98 or e == 102 or e == 110 or e == 114 or e == 116:
                i += 2
                extra += 1
            else:
                return -1
        elif c < 32:  # raw control characters are not JSON (and a line's end is one)
            return -1
        else:
            n = utf8_seq(s, i)
            if n < 0:
                return -1
            i += n
            extra += n - 1


cdef inline char* put_code_point(char* d, int cp) noexcept:
    """One decoded code point as msgspec writes it (``put_escaped`` for ASCII); the end."""
    cdef Buf one
    cdef char c
    if cp < 128:
        if cp >= 32 and cp != 34 and cp != 92:
            d[0] = <char>cp
            return d + 1
        one.data = d
        one.len = 0
        one.cap = 6  # put_escaped writes at most 6 bytes for one, so it never grows this
        c = <char>cp
        put_escaped(&one, <const unsigned char*>&c, 1)
        return d + one.len
    if cp < 0x800:
        d[0] = <char>(0xC0 | (cp >> 6))
        d[1] = <char>(0x80 | (cp & 0x3F))
        return d + 2
    if cp < 0x10000:
        d[0] = <char>(0xE0 | (cp >> 12))
        d[1] = <char>(0x80 | ((cp >> 6) & 0x3F))
        d[2] = <char>(0x80 | (cp & 0x3F))
        return d + 3
    d[0] = <char>(0xF0 | (cp >> 18))
    d[1] = <char>(0x80 | ((cp >> 12) & 0x3F))
    d[2] = <char>(0x80 | ((cp >> 6) & 0x3F))
    d[3] = <char>(0x80 | (cp & 0x3F))
    return d + 4


cdef void put_text(Buf* b, const unsigned char* s, Py_ssize_t i, Py_ssize_t stop, bint escaped) noexcept:
    """The body of a string that ``scan_string`` accepted, as msgspec writes its text. The caller
    has made room for ``stop - i`` bytes: the written form is never longer than the JSON read."""
    cdef char* d
    cdef unsigned char e
    cdef int cp
    if not escaped:
        memcpy(b.data + b.len, s + i, stop - i)
        b.len += stop - i
        return
    d = b.data + b.len
    while i < stop:
        if s[i] != 92:
            d[0] = <char>s[i]
            d += 1
            i += 1
            continue
        e = s[i + 1]
        if e == 117:
            cp = hex4(s, i + 2)
            if 0xD800 <= cp <= 0xDBFF:
                cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4(s, i + 8) - 0xDC00)
                i += 12
            else:
                i += 6
        else:
            i += 2
            if e == 98:
                cp = 8
            elif e == 102:
                cp = 12
            elif e == 110:
                cp = 10
            elif e == 114:
                cp = 13
            elif e == 116:
                cp = 9
            else:  # " \ /
                cp = e
        d = put_code_point(d, cp)
    b.len = d - b.data


cdef inline void put_raw(Buf* b, const char* p, Py_ssize_t n) noexcept:
    """Bytes into room the caller made."""
    memcpy(b.data + b.len, p, n)
    b.len += n


cdef inline int field_of(const unsigned char* k, Py_ssize_t n) noexcept:
    """The field a key names, or -1."""
    if n == 9:
        if memcmp(k, b"timestamp", 9) == 0:
            return F_TIMESTAMP
        if memcmp(k, b"client_id", 9) == 0:
            return F_CLIENT
    elif n == 5:
        if memcmp(k, b"level", 5) == 0:
            return F_LEVEL
    elif n == 7:
        if memcmp(k, b"service", 7) == 0:
            return F_SERVICE
        if memcmp(k, b"message", 7) == 0:
            return F_MESSAGE
        if memcmp(k, b"user_id", 7) == 0:
            return F_USER
    elif n == 4:
        if memcmp(k, b"host", 4) == 0:
            return F_HOST
    elif n == 8:
        if memcmp(k, b"trace_id", 8) == 0:
            return F_TRACE
    elif n == 10:
        if memcmp(k, b"session_id", 10) == 0:
            return F_SESSION
        if memcmp(k, b"attributes", 10) == 0:
            return F_ATTRIBUTES
    elif n == 3:
        if memcmp(k, b"seq", 3) == 0:
            return F_SEQ
    return -1


cdef Py_ssize_t attributes(Buf* ab, const unsigned char* s, Py_ssize_t pos, int* count) except -2:
    """Read the object at s[pos] (``{``) into ``ab`` as msgspec writes its members
    (``"k":"v","k2":"v2"``); the position after it, or -1 when it is not an object of at most
    128 distinct keys with string values of at most 8192 code points."""
    cdef Py_ssize_t key_at[MAX_ATTRIBUTES]
    cdef Py_ssize_t key_len[MAX_ATTRIBUTES]
    cdef Py_ssize_t k0, k1, v0, v1, chars, at, length
    cdef bint key_escaped, value_escaped
    cdef int n = 0, j
    ab.len = 0
    pos = skip_ws(s, pos + 1)
    if s[pos] == 125:
        count[0] = 0
        return pos + 1
    while True:
        if n == MAX_ATTRIBUTES or s[pos] != 34:
            return -1
        k0 = pos + 1
        k1 = scan_string(s, k0, &chars, &key_escaped)
        if k1 < 0:
            return -1
        pos = skip_ws(s, k1 + 1)
        if s[pos] != 58:
            return -1
        pos = skip_ws(s, pos + 1)
        if s[pos] != 34:
            return -1
        v0 = pos + 1
        v1 = scan_string(s, v0, &chars, &value_escaped)
        if v1 < 0 or chars > MAX_ATTRIBUTE_VALUE:
            return -1
        grow(ab, (k1 - k0) + (v1 - v0) + 6)
        if n:
            ab.data[ab.len] = 44
            ab.len += 1
        ab.data[ab.len] = 34
        ab.len += 1
        at = ab.len
        put_text(ab, s, k0, k1, key_escaped)
        length = ab.len - at
        # keys compared as written: one text has one written form (msgspec would keep the last)
        for j in range(n):
            if key_len[j] == length and memcmp(ab.data + key_at[j], ab.data + at, length) == 0:
                return -1
        key_at[n] = at
        key_len[n] = length
        put_raw(ab, b'":"', 3)
        put_text(ab, s, v0, v1, value_escaped)
        ab.data[ab.len] = 34
        ab.len += 1
        n += 1
        pos = skip_ws(s, v1 + 1)
        if s[pos] == 44:
            pos = skip_ws(s, pos + 1)
        elif s[pos] == 125:
            count[0] = n
            return pos + 1
        else:
            return -1


cdef inline void put_string_field(Buf* out, const char* name, Py_ssize_t name_len, const unsigned char* s,
                                  Py_ssize_t* start, Py_ssize_t* stop, bint* escaped, int f) noexcept:
    """``,"name":"text"`` into room the caller made."""
    put_raw(out, name, name_len)
    put_text(out, s, start[f], stop[f], escaped[f])
    out.data[out.len] = 34
    out.len += 1


cdef Py_ssize_t one(Buf* out, Buf* ab, const unsigned char* s, Py_ssize_t pos, Py_ssize_t end,
                    const char* tail, Py_ssize_t tail_len, Py_ssize_t* count) except -2:
    """Write the stored form of the line at s[pos:] (one entry, or nothing for a blank line) and
    return the position after its newline; -1 when the line is declined."""
    cdef Py_ssize_t start[N_FIELDS]
    cdef Py_ssize_t stop[N_FIELDS]
    cdef bint escaped[N_FIELDS]
    cdef Py_ssize_t line = pos, i, chars
    cdef int seen = 0, present = 0, f, n_attributes = 0
    cdef unsigned char c
    pos = skip_ws(s, pos)
    if s[pos] == 10 or pos == end:
        return pos + 1 if pos < end else end
    if s[pos] != 123:
        return -1
    pos = skip_ws(s, pos + 1)
    while True:
        # a key: ours are plain ASCII, so anything a string scan would stop at is declined
        if s[pos] != 34:
            return -1
        i = pos + 1
        while not STOP[s[i]]:
            i += 1
        if s[i] != 34:
            return -1
        f = field_of(s + pos + 1, i - pos - 1)
        if f < 0 or seen & (1 << f):
            return -1
        seen |= 1 << f
        pos = skip_ws(s, i + 1)
        if s[pos] != 58:
            return -1
        pos = skip_ws(s, pos + 1)
        c = s[pos]
        if c == 34 and f != F_SEQ and f != F_ATTRIBUTES:
            i = scan_string(s, pos + 1, &chars, &escaped[f])
            if i < 0:
                return -1
            if f == F_MESSAGE:
                if chars > MAX_MESSAGE:
                    return -1
            elif f == F_TIMESTAMP:
                if escaped[f]:
                    return -1
            elif f == F_LEVEL:
                if escaped[f] or not is_level(s + pos + 1, i - pos - 1):
                    return -1
            elif chars > MAX_STRING or (f == F_SERVICE and chars == 0):
                return -1
            start[f] = pos + 1
            stop[f] = i
            present |= 1 << f
            pos = i + 1
        elif c == 110:
            if not (NULLABLE & (1 << f) and s[pos + 1] == 117 and s[pos + 2] == 108 and s[pos + 3] == 108):
                return -1
            pos += 4
        elif f == F_SEQ:
            i = pos
            while is_digit(s[i]):
                i += 1
            # JSON has no leading zeros; a fraction or an exponent (a float) fails at the next token
            if i == pos or (s[pos] == 48 and i - pos > 1) or i - pos > 19 \
                    or (i - pos == 19 and memcmp(s + pos, b"9223372036854775807", 19) > 0):
                return -1
            start[f] = pos
            stop[f] = i
            present |= 1 << f
            pos = i
        elif f == F_ATTRIBUTES and c == 123:
            pos = attributes(ab, s, pos, &n_attributes)
            if pos < 0:
                return -1
            if n_attributes:
                present |= 1 << f
        else:
            return -1
        pos = skip_ws(s, pos)
        if s[pos] == 44:
            pos = skip_ws(s, pos + 1)
        elif s[pos] == 125:
            break
        else:
            return -1
    pos = skip_ws(s, pos + 1)
    if pos < end and s[pos] != 10:
        return -1
    if seen & REQUIRED != REQUIRED:  # (a required field seen is present: null was declined)
        return -1

    # at most the line's bytes plus the timestamp's fraction and the tail (see put_text)
    if out.len + (pos - line) + tail_len + 64 > out.cap:
        grow(out, (pos - line) + tail_len + 64)
    put_raw(out, b'{"timestamp":"', 14)
    if put_rfc3339(out, s, start[F_TIMESTAMP], stop[F_TIMESTAMP]) != stop[F_TIMESTAMP]:
        return -1
    out.data[out.len] = 34
    out.len += 1
    put_string_field(out, b',"level":"', 10, s, start, stop, escaped, F_LEVEL)
    put_string_field(out, b',"service":"', 12, s, start, stop, escaped, F_SERVICE)
    put_string_field(out, b',"message":"', 12, s, start, stop, escaped, F_MESSAGE)
    put_string_field(out, b',"host":"', 9, s, start, stop, escaped, F_HOST)
    if present & (1 << F_USER):
        put_string_field(out, b',"user_id":"', 12, s, start, stop, escaped, F_USER)
    if present & (1 << F_SESSION):
        put_string_field(out, b',"session_id":"', 15, s, start, stop, escaped, F_SESSION)
    if present & (1 << F_TRACE):
        put_string_field(out, b',"trace_id":"', 13, s, start, stop, escaped, F_TRACE)
    if present & (1 << F_ATTRIBUTES):
        put_raw(out, b',"attributes":{', 15)
        put_raw(out, ab.data, ab.len)
        put_raw(out, b"}", 1)
    if present & (1 << F_CLIENT):
        put_string_field(out, b',"client_id":"', 14, s, start, stop, escaped, F_CLIENT)
    if present & (1 << F_SEQ):
        put_raw(out, b',"seq":', 7)
        put_raw(out, <const char*>s + start[F_SEQ], stop[F_SEQ] - start[F_SEQ])
    put_raw(out, tail, tail_len)
    count[0] += 1
    return pos + 1 if pos < end else end


def transcode(bytes chunk, bytes end):
    """The stored lines of a payload of JSON lines, each ending in ``end`` instead of ``}\\n``,
    and how many; None when any line is declined (see the module docstring)."""
    cdef const unsigned char* s = <const unsigned char*>PyBytes_AS_STRING(chunk)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(chunk), pos = 0, count = 0
    cdef const char* tail = PyBytes_AS_STRING(end)
    cdef Py_ssize_t tail_len = PyBytes_GET_SIZE(end)
    cdef Buf out, ab
    out.data = NULL
    ab.data = NULL
    try:
        # room for lines of 100 bytes or more: a payload of shorter ones grows the buffer
        buf_open(&out, n + (n // 100 + 16) * (tail_len + 8))
        buf_open(&ab, 1024)
        while pos < n:
            pos = one(&out, &ab, s, pos, n, tail, tail_len, &count)
            if pos < 0:
                return None
        return PyBytes_FromStringAndSize(out.data, out.len), count
    finally:
        free(out.data)
        free(ab.data)
