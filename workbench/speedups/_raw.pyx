# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Raw lines in our own layout straight to stored JSON lines, in C (compiled with Cython).

``transcode(chunk, end)`` reads a payload of lines (LF or CRLF, blank lines skipped as
``split_lines`` skips them) and writes, for each, the JSON line that the Python path
(``workbench.codecs.raw``) would decode it into and ``normalise`` would store, with its final
``}\\n`` replaced by ``end``. It returns (the lines, how many), or ``None`` as soon as one line is
not in the shape handled here or would break the schema; the caller then runs the Python path
on the whole payload.

The shape handled is what ``RawCodec.encode`` writes for ordinary entries::

    TIMESTAMP LEVEL SERVICE: MESSAGE key=value ...

with an RFC 3339 stamp (``put_rfc3339``), a bare service and message, bare values, the keys
``host``, ``user_id``, ``session_id``, ``trace_id``, ``client_id``, ``seq`` (ASCII digits, at
most 20 as the parser reads them, zero padding dropped, within int64) and ``attr.<name>``. The message ends where the Python regex
``_TAIL`` starts: before the longest run of `` key=value`` words that reaches the end of the
line. A repeated key keeps its last value (an attribute its first place), as the Python dict
does.

Declined: any quote (JSON-quoted text), control character (tab included), whitespace other than
the ASCII space (Python's ``\\s`` also matches U+00A0 and friends), invalid UTF-8, foreign lines
(they take the receive time), and anything the schema rejects; the checks of ``_buffer.pxi``
make the lines storable without a second validation (``RawCodec.stored``).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdlib cimport free
from libc.string cimport memchr, memcmp, memcpy

include "_buffer.pxi"

cdef enum:
    # the entry fields a key=value word sets (in LogEntry's order), and attributes
    F_HOST = 0
    F_USER = 1
    F_SESSION = 2
    F_TRACE = 3
    F_CLIENT = 4
    F_SEQ = 5
    ATTR = 6
    N_FIELDS = 6
    SEQ_DIGITS = 20  # the Python path reads at most 20 digits as a number (``_seq``)
    # scan() flags
    BACKSLASH = 1
    NON_ASCII = 2

cdef const char* INT64_MAX = b"9223372036854775807"


cdef inline bint plain8(const unsigned char* s):
    """Eight bytes of printable ASCII without quote or backslash: the usual case, tested a word at
    a time (a byte under 0x20, equal to 0x22 or 0x5C, or over 0x7F leaves a high bit in the mask)."""
    cdef unsigned long long x, q, b
    memcpy(&x, s, 8)
    q = x ^ 0x2222222222222222ULL
    b = x ^ 0x5C5C5C5C5C5C5C5CULL
    return ((x | ((x - 0x2020202020202020ULL) & ~x) | ((q - 0x0101010101010101ULL) & ~q)
             | ((b - 0x0101010101010101ULL) & ~b)) & 0x8080808080808080ULL) == 0


cdef int scan(const unsigned char* s, Py_ssize_t n):
    """BACKSLASH | NON_ASCII as the line holds them; -1 for a quote, a control character,
    whitespace other than the ASCII space, or invalid UTF-8 (all left to the Python path)."""
    cdef Py_ssize_t i = 0
    cdef unsigned char c, c1, c2
    cdef int flags = 0
    while i < n:
        if i + 8 <= n and plain8(s + i):
            i += 8
            continue
        c = s[i]
        i += 1
        if c < 32 or c == 34:
            return -1
        if c == 92:
            flags |= BACKSLASH
        elif c >= 0x80:
            flags |= NON_ASCII
            # the non-ASCII code points Python's \s matches: U+0085, U+00A0, U+1680,
            # U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 (i is past the lead byte)
            if c == 0xC2 and i < n:
                c1 = s[i]
                if c1 == 0x85 or c1 == 0xA0:
                    return -1
            elif 0xE1 <= c <= 0xE3 and i + 1 < n:
                c1 = s[i]
                c2 = s[i + 1]
                if c == 0xE1 and c1 == 0x9A and c2 == 0x80:
                    return -1
                if c == 0xE2 and c1 == 0x80 and (c2 <= 0x8A or c2 == 0xA8 or c2 == 0xA9 or c2 == 0xAF):
                    return -1
                if c == 0xE2 and c1 == 0x81 and c2 == 0x9F:
                    return -1
                if c == 0xE3 and c1 == 0x80 and c2 == 0x80:
                    return -1
    if flags & NON_ASCII and utf8_chars(s, n) < 0:
        return -1
    return flags


cdef inline Py_ssize_t last_space(const unsigned char* s, Py_ssize_t lo, Py_ssize_t hi):
    """Position of the last space in s[lo:hi], or lo - 1 (eight bytes at a time while none)."""
    cdef unsigned long long x
    while hi - lo >= 8:
        memcpy(&x, s + hi - 8, 8)
        x ^= 0x2020202020202020ULL
        if (x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL:
            break
        hi -= 8
    hi -= 1
    while hi >= lo and s[hi] != 32:
        hi -= 1
    return hi


cdef inline Py_ssize_t next_space(const unsigned char* s, Py_ssize_t lo, Py_ssize_t hi):
    """Position of the first space in s[lo:hi], or hi."""
    cdef const void* p = memchr(s + lo, 32, hi - lo)
    return <const unsigned char*>p - s if p != NULL else hi


cdef inline bint within(const unsigned char* s, Py_ssize_t n, Py_ssize_t limit):
    """At most ``limit`` code points in valid UTF-8 (the line was validated: count only when the
    bytes alone do not settle it)."""
    return n <= limit or utf8_chars(s, n) <= limit


cdef inline int put_text(Buf* b, const unsigned char* s, Py_ssize_t n, bint escape) except -1:
    """A JSON string body; without a backslash in the line (quotes and controls were declined)
    there is nothing to escape."""
    if escape:
        return put_escaped(b, s, n)
    return put(b, <const char*>s, n)


cdef inline bint starts(const unsigned char* s, Py_ssize_t n, const char* key, Py_ssize_t k):
    return n > k and memcmp(s, key, k) == 0


cdef int word_kind(const unsigned char* s, Py_ssize_t a, Py_ssize_t b, Py_ssize_t* eq):
    """What the word s[a:b] (no space in it) is as ``_PAIR`` reads it: a field, ATTR, or -1 when
    it is no ``key=value`` (then it belongs to the message). ``eq`` gets the position of the ``=``
    ending the key. Values must not be empty; ``attr.`` names end at the first ``=``."""
    cdef const unsigned char* w = s + a
    cdef Py_ssize_t n = b - a, i
    cdef int kind = -1
    if n < 5:
        return -1
    if w[0] == 104 and starts(w, n, b"host=", 5):  # h
        kind, i = F_HOST, 4
    elif w[0] == 117 and starts(w, n, b"user_id=", 8):  # u
        kind, i = F_USER, 7
    elif w[0] == 115:  # s
        if starts(w, n, b"seq=", 4):
            kind, i = F_SEQ, 3
        elif starts(w, n, b"session_id=", 11):
            kind, i = F_SESSION, 10
    elif w[0] == 116 and starts(w, n, b"trace_id=", 9):  # t
        kind, i = F_TRACE, 8
    elif w[0] == 99 and starts(w, n, b"client_id=", 10):  # c
        kind, i = F_CLIENT, 9
    elif w[0] == 97 and n > 5 and memcmp(w, b"attr.", 5) == 0:  # a
        i = 5
        while i < n and w[i] != 61:
            i += 1
        if i == 5 or i + 1 >= n:  # no name, or no value
            return -1
        kind = ATTR
    if kind >= 0:
        eq[0] = a + i
    return kind


cdef int one(Buf* out, const unsigned char* s, Py_ssize_t n, const char* end, Py_ssize_t end_len) except -2:
    """Append one line's JSON line (ending with ``end``); 0 when done, -1 when the line is not in
    the handled shape."""
    cdef Py_ssize_t pos, i, j, lv0, sv0, sv1, msg0, tail, a, b, eq
    cdef Py_ssize_t fstart[N_FIELDS]
    cdef Py_ssize_t fend[N_FIELDS]
    # attributes: (name start, name end, value start, value end), each name once
    cdef Py_ssize_t attrs[MAX_ATTRIBUTES][4]
    cdef int nattrs = 0, kind, flags, f
    cdef bint escape, found
    flags = scan(s, n)
    if flags < 0:
        return -1
    escape = flags & BACKSLASH
    for f in range(N_FIELDS):
        fstart[f] = -1
    # TIMESTAMP LEVEL SERVICE: (OWN of the Python path; anything else is a foreign line)
    put(out, b'{"timestamp":"', 14)
    pos = put_rfc3339(out, s, 0, n)
    if pos < 0 or pos >= n or s[pos] != 32:
        return -1
    lv0 = pos + 1
    i = lv0
    while i < n and s[i] != 32:
        i += 1
    if i >= n or not is_level(s + lv0, i - lv0):
        return -1
    sv0 = i + 1
    i = sv0
    while i < n and s[i] != 58:  # :
        if s[i] == 32:
            return -1
        i += 1
    if i >= n or i == sv0:
        return -1
    sv1 = i
    msg0 = i + 1
    if msg0 < n and s[msg0] == 32:  # ": ?"
        msg0 += 1
    # the message ends before the leftmost space from which every word to the end is a
    # key=value (where _TAIL.search starts); the first word of the message never counts
    tail = n
    while True:
        i = last_space(s, msg0, tail)
        if i < msg0 or word_kind(s, i + 1, tail, &eq) < 0:
            break
        tail = i
    # the key=value words, left to right (_PAIR.findall); later ones win
    i = tail
    while i < n:
        a = i + 1
        b = next_space(s, a, n)
        i = b
        kind = word_kind(s, a, b, &eq)
        if kind != ATTR:
            fstart[kind] = eq + 1
            fend[kind] = b
            continue
        found = False
        for j in range(nattrs):
            if attrs[j][1] - attrs[j][0] == eq - a - 5 and memcmp(s + attrs[j][0], s + a + 5, eq - a - 5) == 0:
                attrs[j][2] = eq + 1
                attrs[j][3] = b
                found = True
                break
        if found:
            continue
        if nattrs == MAX_ATTRIBUTES:
            return -1
        attrs[nattrs][0] = a + 5
        attrs[nattrs][1] = eq
        attrs[nattrs][2] = eq + 1
        attrs[nattrs][3] = b
        nattrs += 1
    # the schema's limits (the line is valid UTF-8 already)
    if not within(s + sv0, sv1 - sv0, MAX_STRING) or not within(s + msg0, tail - msg0, MAX_MESSAGE):
        return -1
    for f in range(F_SEQ):
        if fstart[f] >= 0 and not within(s + fstart[f], fend[f] - fstart[f], MAX_STRING):
            return -1
    for j in range(nattrs):
        if not within(s + attrs[j][2], attrs[j][3] - attrs[j][2], MAX_ATTRIBUTE_VALUE):
            return -1
    if fstart[F_SEQ] >= 0:
        a = fstart[F_SEQ]
        b = fend[F_SEQ]
        if b - a > SEQ_DIGITS:
            return -1
        for j in range(a, b):
            if not is_digit(s[j]):
                return -1
        while b - a > 1 and s[a] == 48:
            a += 1
        if b - a > 19 or (b - a == 19 and memcmp(s + a, INT64_MAX, 19) > 0):
            return -1
        fstart[F_SEQ] = a

    # the JSON line, fields in LogEntry's order (after the timestamp written above)
    put(out, b'","level":"', 11)
    put(out, <const char*>s + lv0, sv0 - 1 - lv0)
    put(out, b'","service":"', 13)
    put_text(out, s + sv0, sv1 - sv0, escape)
    put(out, b'","message":"', 13)
    put_text(out, s + msg0, tail - msg0, escape)
    put(out, b'","host":"', 10)
    if fstart[F_HOST] >= 0:
        put_text(out, s + fstart[F_HOST], fend[F_HOST] - fstart[F_HOST], escape)
    put(out, b'"', 1)
    if fstart[F_USER] >= 0:
        put(out, b',"user_id":"', 12)
        put_text(out, s + fstart[F_USER], fend[F_USER] - fstart[F_USER], escape)
        put(out, b'"', 1)
    if fstart[F_SESSION] >= 0:
        put(out, b',"session_id":"', 15)
        put_text(out, s + fstart[F_SESSION], fend[F_SESSION] - fstart[F_SESSION], escape)
        put(out, b'"', 1)
    if fstart[F_TRACE] >= 0:
        put(out, b',"trace_id":"', 13)
        put_text(out, s + fstart[F_TRACE], fend[F_TRACE] - fstart[F_TRACE], escape)
        put(out, b'"', 1)
    if nattrs:
        put(out, b',"attributes":{"', 16)
        for j in range(nattrs):
            if j:
                put(out, b',"', 2)
            put_text(out, s + attrs[j][0], attrs[j][1] - attrs[j][0], escape)
            put(out, b'":"', 3)
            put_text(out, s + attrs[j][2], attrs[j][3] - attrs[j][2], escape)
            put(out, b'"', 1)
        put(out, b"}", 1)
    if fstart[F_CLIENT] >= 0:
        put(out, b',"client_id":"', 14)
        put_text(out, s + fstart[F_CLIENT], fend[F_CLIENT] - fstart[F_CLIENT], escape)
        put(out, b'"', 1)
    if fstart[F_SEQ] >= 0:
        put(out, b',"seq":', 7)
        put(out, <const char*>s + fstart[F_SEQ], fend[F_SEQ] - fstart[F_SEQ])
    put(out, end, end_len)
    return 0


cdef inline bint blank(const unsigned char* s, Py_ssize_t n):
    """Only ASCII whitespace (``bytes.strip`` would leave nothing): ``split_lines`` skips it."""
    cdef Py_ssize_t i
    cdef unsigned char c
    for i in range(n):
        c = s[i]
        if c != 32 and not (9 <= c <= 13):
            return False
    return True


def transcode(bytes chunk, bytes end):
    """(The JSON lines of a payload of raw lines, how many), or None (see the module docstring)."""
    cdef const unsigned char* s = <const unsigned char*>PyBytes_AS_STRING(chunk)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(chunk), pos = 0, stop, last
    cdef const char* e = PyBytes_AS_STRING(end)
    cdef Py_ssize_t end_len = PyBytes_GET_SIZE(end), lines = 0
    cdef const void* nl
    cdef Buf out
    buf_open(&out, n * 2 + 4096)
    try:
        while pos < n:
            nl = memchr(s + pos, 10, n - pos)
            stop = <const unsigned char*>nl - s if nl != NULL else n
            last = stop
            if last > pos and s[last - 1] == 13:  # CRLF: split_lines strips one CR
                last -= 1
            if not blank(s + pos, last - pos):
                if one(&out, s + pos, last - pos, e, end_len) < 0:
                    return None
                lines += 1
            pos = stop + 1
        return PyBytes_FromStringAndSize(out.data, out.len), lines
    finally:
        free(out.data)
