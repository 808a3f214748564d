# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Raw lines in our own layout straight to stored JSON lines, in C (compiled with Cython).

``transcode(chunk, end)`` reads a payload of lines (LF or CRLF, blank lines skipped as
``split_lines`` skips them) and writes, for each, the JSON line that the Python path
(``workbench.codecs.raw``) would decode it into and ``normalise`` would store, with its final
``}\\n`` replaced by ``end``. It returns (the lines, how many), or ``None`` as soon as one line is
not in the shape handled here or would break the schema; the caller then runs the Python path
on the whole payload.

The shape handled is what ``RawCodec.encode`` writes::

    TIMESTAMP LEVEL SERVICE: MESSAGE key=value ...

with an RFC 3339 stamp (``put_rfc3339``), the keys ``host``, ``user_id``, ``session_id``,
``trace_id``, ``client_id``, ``seq`` (ASCII digits, at most 20 as the parser reads them, zero
padding dropped, within int64) and ``attr.<name>``. The service, message and values are bare or
JSON strings; a JSON string is taken when every escape in it is one msgspec writes the same way
(``\\"``, ``\\\\``, ``\\n``, ``\\u001f`` ...), so that its body is copied as the stored text.

Where the parser's regexes are subtle, so is this: the message ends where ``_TAIL.search``
starts, before the longest run of `` key=value`` pairs that reaches the end of the line (found
from the right, a pair at a time); a quoted message is followed by such a run or by nothing; a
repeated key keeps its last value (an attribute its first place), as the parser's dict does.
Lines with a quote anywhere else (inside a bare message, service, name or value), a control
character (tab included), whitespace other than the ASCII space (Python's ``\\s`` also matches
U+00A0 and friends) or invalid UTF-8 are declined, as are foreign lines (they take the receive
time) and anything the schema rejects: the checks of ``_buffer.pxi`` make the lines storable
without a second validation (``RawCodec.stored``).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdlib cimport free
from libc.string cimport memchr, memcmp, memcpy

include "_buffer.pxi"

cdef enum:
    # the entry fields a key=value pair sets (in LogEntry's order), and attributes
    F_HOST = 0
    F_USER = 1
    F_SESSION = 2
    F_TRACE = 3
    F_CLIENT = 4
    F_SEQ = 5
    ATTR = 6
    N_FIELDS = 6
    NOT_A_KEY = -1
    DECLINE = -2
    SEQ_DIGITS = 20  # the Python path reads at most 20 digits as a number (``_seq``)
    # scan() flags
    BACKSLASH = 1
    NON_ASCII = 2
    QUOTE = 4

cdef const char* INT64_MAX = b"9223372036854775807"


cdef struct Text:
    Py_ssize_t start  # first byte (inside the quotes of a JSON string)
    Py_ssize_t end
    Py_ssize_t extra  # bytes the escapes of a JSON string take beyond the characters they stand for
    bint quoted  # a JSON string's body, escaped as msgspec escapes: stored as it is


cdef inline bint plain8(const unsigned char* s):
    """Eight bytes of printable ASCII without quote or backslash: the usual case, tested a word at
    a time."""
    cdef unsigned long long x = load8(s)
    return x & 0x8080808080808080ULL == 0 and no_escape8(x)


cdef int scan(const unsigned char* s, Py_ssize_t n):
    """BACKSLASH | NON_ASCII | QUOTE as the line holds them; -1 for a control character,
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
        if c < 32:
            return -1
        if c == 34:
            flags |= QUOTE
        elif c == 92:
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


cdef Py_ssize_t json_end(const unsigned char* s, Py_ssize_t q, Py_ssize_t n, Py_ssize_t* extra):
    """The JSON string opening at s[q]: the position after its closing quote (the first one not
    escaped, as the parser's regex and ``json`` read it), ``extra`` set; -1 when it does not close
    on the line or has an escape msgspec would write otherwise (``\\/``, ``\\u00e9``, ``\\u000A``)."""
    cdef Py_ssize_t i = q + 1, e = 0
    cdef unsigned char c, h
    cdef int v
    while i < n:
        c = s[i]
        if c == 34:
            extra[0] = e
            return i + 1
        if c != 92:
            i += 1
            continue
        if i + 1 >= n:
            return -1
        c = s[i + 1]
        if c == 34 or c == 92 or c == 110 or c == 114 or c == 116 or c == 98 or c == 102:  # " \ n r t b f
            i += 2
            e += 1
        elif c == 117:  # u: only \u00xx (lower-case hex) of a control without a short form
            if i + 5 >= n or s[i + 2] != 48 or s[i + 3] != 48 or (s[i + 4] != 48 and s[i + 4] != 49):
                return -1
            h = s[i + 5]
            if is_digit(h):
                v = h - 48
            elif 97 <= h <= 102:
                v = h - 87
            else:
                return -1
            v += (s[i + 4] - 48) * 16
            if v == 8 or v == 9 or v == 10 or v == 12 or v == 13:
                return -1
            i += 6
            e += 5
        else:
            return -1
    return -1


cdef inline bint is_key(const unsigned char* s, Py_ssize_t n, const char* key, Py_ssize_t k):
    return n == k and memcmp(s, key, k) == 0


cdef int key_kind(const unsigned char* s, Py_ssize_t a, Py_ssize_t e):
    """What s[a:e] (no space in it, an ``=`` at s[e]) is as a key of ``_PAIR``: a field, ATTR,
    NOT_A_KEY, or DECLINE for a quote in it (a JSON-quoted attribute name is left to Python)."""
    cdef const unsigned char* w = s + a
    cdef Py_ssize_t n = e - a
    if n >= 3 and w[0] != 97:  # not "a"
        if is_key(w, n, b"host", 4):
            return F_HOST
        if is_key(w, n, b"user_id", 7):
            return F_USER
        if is_key(w, n, b"seq", 3):
            return F_SEQ
        if is_key(w, n, b"session_id", 10):
            return F_SESSION
        if is_key(w, n, b"trace_id", 8):
            return F_TRACE
        if is_key(w, n, b"client_id", 9):
            return F_CLIENT
    elif n > 5 and memcmp(w, b"attr.", 5) == 0:
        if memchr(w, 34, n) != NULL:
            return DECLINE
        if memchr(w + 5, 61, n - 5) != NULL:  # the name ends at the first "="
            return NOT_A_KEY
        return ATTR
    if memchr(w, 34, n) != NULL:
        return DECLINE
    return NOT_A_KEY


cdef inline Py_ssize_t key_end(const unsigned char* s, Py_ssize_t a, Py_ssize_t n):
    """Where the ``=`` after the key at s[a] is, in a pair already known to be one."""
    return <const unsigned char*>memchr(s + a, 61, n - a) - s


cdef Py_ssize_t tail_start(const unsigned char* s, Py_ssize_t msg0, Py_ssize_t n, int flags) except -3:
    """Where the message ends, as ``_TAIL.search`` finds it: pairs are taken from the right while
    each is `` key=value`` (a bare value up to the next space, or a JSON string); -2 to decline.

    A quoted value is recognised at its closing quote: its opening one is the nearest ``="``
    before it (inside a JSON string a quote is escaped, so never follows ``=``), confirmed by
    reading the string forward from there as the parser does."""
    cdef Py_ssize_t tail = n, i, j, extra
    cdef int kind
    while True:
        if flags & QUOTE and tail - 2 > msg0 and s[tail - 1] == 34:
            j = tail - 2
            while j > msg0 and not (s[j] == 34 and s[j - 1] == 61):
                j -= 1
            if j <= msg0:  # no value opens here: a quoted message, or a quote in the message
                return tail
            if json_end(s, j, n, &extra) != tail:
                return -2
            i = last_space(s, msg0, j - 1)
            if i < msg0:
                return tail
            kind = key_kind(s, i + 1, j - 1)
        else:
            i = last_space(s, msg0, tail)
            if i < msg0:
                return tail
            if flags & QUOTE and memchr(s + i + 1, 34, tail - i - 1) != NULL:
                return -2  # a bare word with a quote: left to the parser's regexes
            j = i + 1
            while j < tail and s[j] != 61:
                j += 1
            if j + 1 >= tail:  # no "=", or nothing after it
                return tail
            kind = key_kind(s, i + 1, j)
        if kind == DECLINE:
            return -2
        if kind == NOT_A_KEY:
            return tail
        tail = i


cdef inline bint fits(const unsigned char* s, Text* t, Py_ssize_t limit):
    """At most ``limit`` code points once unescaped (the line is valid UTF-8 already)."""
    cdef Py_ssize_t n = t.end - t.start
    return n <= limit or utf8_chars(s + t.start, n) - t.extra <= limit


cdef inline int put_text(Buf* b, const unsigned char* s, Text* t, bint backslash) except -1:
    """A JSON string body: a quoted one as it is; a bare one escaped when the line has a backslash
    (it holds no quote or control character)."""
    if backslash and not t.quoted:
        return put_escaped(b, s + t.start, t.end - t.start)
    return put(b, <const char*>s + t.start, t.end - t.start)


cdef inline void bare(Text* t, Py_ssize_t start, Py_ssize_t end):
    t.start = start
    t.end = end
    t.extra = 0
    t.quoted = False


cdef int one(Buf* out, const unsigned char* s, Py_ssize_t n, const char* end, Py_ssize_t end_len) except -2:
    """Append one line's JSON line (ending with ``end``); 0 when done, -1 when the line is not in
    the handled shape."""
    cdef Py_ssize_t pos, i, j, a, b, eq, lv0, msg0, tail, extra
    cdef Text service, message, value
    cdef Text fields[N_FIELDS]
    # attributes: name (start, end), each name once, and value
    cdef Py_ssize_t names[MAX_ATTRIBUTES][2]
    cdef Text values[MAX_ATTRIBUTES]
    cdef int nattrs = 0, kind, flags, f
    cdef bint backslash, found
    flags = scan(s, n)
    if flags < 0:
        return -1
    backslash = flags & BACKSLASH
    for f in range(N_FIELDS):
        fields[f].start = -1
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
    pos = i
    i += 1
    if i < n and s[i] == 34:
        j = json_end(s, i, n, &extra)
        if j < 0 or j >= n or s[j] != 58:
            return -1
        service.start = i + 1
        service.end = j - 1
        service.extra = extra
        service.quoted = True
        i = j
    else:
        bare(&service, i, i)
        while i < n and s[i] != 58:  # :
            if s[i] == 32 or s[i] == 34:
                return -1
            i += 1
        if i >= n:
            return -1
        service.end = i
    if service.end == service.start:  # the schema's minLength 1
        return -1
    msg0 = i + 1
    if msg0 < n and s[msg0] == 32:  # ": ?"
        msg0 += 1
    tail = tail_start(s, msg0, n, flags)
    if tail < 0:
        return -1
    if tail > msg0 and s[msg0] == 34:  # a JSON-quoted message, then the pairs or nothing
        if json_end(s, msg0, n, &extra) != tail:
            return -1
        message.start = msg0 + 1
        message.end = tail - 1
        message.extra = extra
        message.quoted = True
    else:
        if flags & QUOTE and memchr(s + msg0, 34, tail - msg0) != NULL:
            return -1
        bare(&message, msg0, tail)
    # the pairs, left to right (_PAIR.findall); later ones win
    i = tail
    while i < n:
        a = i + 1
        eq = key_end(s, a, n)
        kind = key_kind(s, a, eq)
        if s[eq + 1] == 34:
            b = json_end(s, eq + 1, n, &extra)
            value.start = eq + 2
            value.end = b - 1
            value.extra = extra
            value.quoted = True
        else:
            b = next_space(s, eq + 1, n)
            bare(&value, eq + 1, b)
        i = b
        if kind != ATTR:
            fields[kind] = value
            continue
        found = False
        for j in range(nattrs):
            if names[j][1] - names[j][0] == eq - a - 5 and memcmp(s + names[j][0], s + a + 5, eq - a - 5) == 0:
                values[j] = value
                found = True
                break
        if found:
            continue
        if nattrs == MAX_ATTRIBUTES:
            return -1
        names[nattrs][0] = a + 5
        names[nattrs][1] = eq
        values[nattrs] = value
        nattrs += 1
    # the schema's limits
    if not fits(s, &service, MAX_STRING) or not fits(s, &message, MAX_MESSAGE):
        return -1
    for f in range(F_SEQ):
        if fields[f].start >= 0 and not fits(s, &fields[f], MAX_STRING):
            return -1
    for j in range(nattrs):
        if not fits(s, &values[j], MAX_ATTRIBUTE_VALUE):
            return -1
    if fields[F_SEQ].start >= 0:
        a = fields[F_SEQ].start
        b = fields[F_SEQ].end
        if b == a or b - a > SEQ_DIGITS:
            return -1
        for j in range(a, b):
            if not is_digit(s[j]):
                return -1
        while b - a > 1 and s[a] == 48:
            a += 1
        if b - a > 19 or (b - a == 19 and memcmp(s + a, INT64_MAX, 19) > 0):
            return -1
        fields[F_SEQ].start = a

    # the JSON line, fields in LogEntry's order (after the timestamp written above)
    put(out, b'","level":"', 11)
    put(out, <const char*>s + lv0, pos - lv0)
    put(out, b'","service":"', 13)
    put_text(out, s, &service, backslash)
    put(out, b'","message":"', 13)
    put_text(out, s, &message, backslash)
    put(out, b'","host":"', 10)
    if fields[F_HOST].start >= 0:
        put_text(out, s, &fields[F_HOST], backslash)
    put(out, b'"', 1)
    if fields[F_USER].start >= 0:
        put(out, b',"user_id":"', 12)
        put_text(out, s, &fields[F_USER], backslash)
        put(out, b'"', 1)
    if fields[F_SESSION].start >= 0:
        put(out, b',"session_id":"', 15)
        put_text(out, s, &fields[F_SESSION], backslash)
        put(out, b'"', 1)
    if fields[F_TRACE].start >= 0:
        put(out, b',"trace_id":"', 13)
        put_text(out, s, &fields[F_TRACE], backslash)
        put(out, b'"', 1)
    if nattrs:
        put(out, b',"attributes":{"', 16)
        for j in range(nattrs):
            if j:
                put(out, b',"', 2)
            bare(&value, names[j][0], names[j][1])
            put_text(out, s, &value, backslash)
            put(out, b'":"', 3)
            put_text(out, s, &values[j], backslash)
            put(out, b'"', 1)
        put(out, b"}", 1)
    if fields[F_CLIENT].start >= 0:
        put(out, b',"client_id":"', 14)
        put_text(out, s, &fields[F_CLIENT], backslash)
        put(out, b'"', 1)
    if fields[F_SEQ].start >= 0:
        put(out, b',"seq":', 7)
        put(out, <const char*>s + fields[F_SEQ].start, fields[F_SEQ].end - fields[F_SEQ].start)
    put(out, end, end_len)
    return 0


def transcode(bytes chunk not None, bytes end not None):
    """(The JSON lines of a payload of raw lines, how many), or None (see the module docstring)."""
    return each_line(chunk, end, one)
