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

Most lines are in msgspec's form already (our codec and generator write them so), except for
whitespace or a timestamp not in UTC: such a line is written as its own bytes, without the
whitespace and with the timestamp rewritten, in a few copies. Any other line is written field
by field from the positions found while reading it.

Reading past a line is never needed: a bytes object ends with a NUL and each line with a
newline, and neither byte can continue any token, so the scanners stop at them without a bounds
check (``skip_ws`` does not skip a newline: a line ends there). The 16-byte reads of string
scans check the chunk's length.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdlib cimport free
from libc.string cimport memcmp, memcpy, memset

include "_buffer.pxi"
include "_jsontext.pxi"

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
    MAX_EDITS = 48  # whitespace runs (and the timestamp) of a line written verbatim
    MAX_STAMP = 32  # the longest timestamp put_rfc3339 reads: 6 fraction digits and an offset

cdef Py_ssize_t NAME_LEN[N_FIELDS]
NAME_LEN[:] = [9, 5, 7, 7, 4, 7, 10, 8, 10, 9, 3]


# what reading a line found, to write it
cdef struct Line:
    Py_ssize_t start[N_FIELDS]  # a string's body, seq's digits
    Py_ssize_t stop[N_FIELDS]
    int flags[N_FIELDS]  # ESCAPED, REWRITTEN (strings)
    int present  # fields to write: not null, attributes not empty
    bint verbatim  # written as its bytes less the edits (keys in order, msgspec's escapes...)
    int n_edits
    Py_ssize_t edit_from[MAX_EDITS]  # whitespace left out, and the timestamp (stamp_edit) rewritten
    Py_ssize_t edit_to[MAX_EDITS]
    int stamp_edit
    int n_attributes
    Py_ssize_t key_at[MAX_ATTRIBUTES]
    Py_ssize_t key_stop[MAX_ATTRIBUTES]
    Py_ssize_t value_at[MAX_ATTRIBUTES]
    Py_ssize_t value_stop[MAX_ATTRIBUTES]
    int key_flags[MAX_ATTRIBUTES]
    int value_flags[MAX_ATTRIBUTES]
    Py_ssize_t key_text_at[MAX_ATTRIBUTES]  # keys with an escape are compared as written in ``texts``
    Py_ssize_t key_text_len[MAX_ATTRIBUTES]
    Buf texts
    # the last timestamp read and as written (a batch's lines often share one): kept across lines
    char stamp_in[MAX_STAMP]
    Py_ssize_t stamp_in_len
    char stamp_out[MAX_STAMP]
    Py_ssize_t stamp_out_len
    bint stamp_same
    char day[10]  # YYYY-MM-DD of the last stamp written as read (all zeros: none yet)




cdef inline Py_ssize_t skip_ws(const unsigned char* s, Py_ssize_t i) noexcept:
    while s[i] == 32 or s[i] == 9 or s[i] == 13:
        i += 1
    return i


cdef inline void add_edit(Line* ln, Py_ssize_t a, Py_ssize_t b) noexcept:
    if ln.n_edits == MAX_EDITS:
        ln.verbatim = False
        return
    ln.edit_from[ln.n_edits] = a
    ln.edit_to[ln.n_edits] = b
    ln.n_edits += 1


cdef inline Py_ssize_t gap(Line* ln, const unsigned char* s, Py_ssize_t i) noexcept:
    """Past the whitespace at s[i], which the stored line leaves out."""
    cdef Py_ssize_t j
    if s[i] > 32:
        return i
    j = skip_ws(s, i)
    if j != i:
        add_edit(ln, i, j)
    return j




cdef inline bint named(const unsigned char* s, Py_ssize_t pos, Py_ssize_t n, const char* name,
                       Py_ssize_t length) noexcept:
    """Whether s[pos:] is the key ``name`` and its closing quote."""
    return pos + length < n and memcmp(s + pos, name, length) == 0 and s[pos + length] == 34


cdef inline int field_of(const unsigned char* s, Py_ssize_t pos, Py_ssize_t n) noexcept:
    """The field the key whose text starts at s[pos] names, or -1 (another key, or escaped)."""
    cdef unsigned char c = s[pos]
    if c == 116:  # t
        if named(s, pos, n, b"timestamp", 9):
            return F_TIMESTAMP
        if named(s, pos, n, b"trace_id", 8):
            return F_TRACE
    elif c == 108:  # l
        if named(s, pos, n, b"level", 5):
            return F_LEVEL
    elif c == 115:  # s
        if named(s, pos, n, b"service", 7):
            return F_SERVICE
        if named(s, pos, n, b"seq", 3):
            return F_SEQ
        if named(s, pos, n, b"session_id", 10):
            return F_SESSION
    elif c == 109:  # m
        if named(s, pos, n, b"message", 7):
            return F_MESSAGE
    elif c == 104:  # h
        if named(s, pos, n, b"host", 4):
            return F_HOST
    elif c == 117:  # u
        if named(s, pos, n, b"user_id", 7):
            return F_USER
    elif c == 99:  # c
        if named(s, pos, n, b"client_id", 9):
            return F_CLIENT
    elif c == 97:  # a
        if named(s, pos, n, b"attributes", 10):
            return F_ATTRIBUTES
    return -1


cdef inline bint same_day_utc(Line* ln, const unsigned char* s, Py_ssize_t a, Py_ssize_t n) noexcept:
    """Whether s[a:a+n] is ``<ln.day>Thh:mm:ss[.ffffff]Z``, a day already read in that form: then it
    is valid and msgspec writes it as it is (a fraction of zeros it leaves out)."""
    cdef int hour, minute, second, fraction
    if (n != 20 and n != 27) or s[a + n - 1] != 90 or memcmp(s + a, ln.day, 10) != 0:
        return False
    if s[a + 10] != 84 or s[a + 13] != 58 or s[a + 16] != 58:
        return False
    hour = digits(s, a + 11, 2)
    minute = digits(s, a + 14, 2)
    second = digits(s, a + 17, 2)
    if hour < 0 or hour > 23 or minute < 0 or minute > 59 or second < 0 or second > 59:
        return False
    if n == 27:
        fraction = digits(s, a + 20, 6)
        return s[a + 19] == 46 and fraction > 0
    return True


cdef int utc_stamp(Line* ln, const unsigned char* s, Py_ssize_t a, Py_ssize_t b) except -1:
    """Whether s[a:b] is a timestamp ``put_rfc3339`` takes; ``ln.stamp_out`` holds it as written.
    The last stamp is remembered (a batch's lines often share one), and the day of the last one
    written as it was read (lines of a day in UTC are the common case)."""
    cdef Buf t
    cdef Py_ssize_t n = b - a
    if n == ln.stamp_in_len and memcmp(s + a, ln.stamp_in, n) == 0:
        return 1
    if n > MAX_STAMP:
        return 0
    ln.stamp_in_len = -1
    if same_day_utc(ln, s, a, n):
        memcpy(ln.stamp_out, s + a, n)
        ln.stamp_out_len = n
        ln.stamp_same = True
    else:
        buf_fixed(&t, ln.stamp_out, MAX_STAMP)  # it writes 27 bytes at most
        if put_rfc3339(&t, s, a, b) != b:
            return 0
        ln.stamp_out_len = t.len
        ln.stamp_same = t.len == n and memcmp(ln.stamp_out, s + a, n) == 0
        if ln.stamp_same:
            memcpy(ln.day, s + a, 10)
    memcpy(ln.stamp_in, s + a, n)
    ln.stamp_in_len = n
    return 1


cdef int distinct_keys(Line* ln, const unsigned char* s) except -1:
    """Whether the attributes' keys are distinct texts (else msgspec would keep the last)."""
    cdef int n = ln.n_attributes, i, j
    cdef bint escaped = False
    cdef Py_ssize_t at
    cdef char* d
    for i in range(n):
        if ln.key_flags[i] & ESCAPED:
            escaped = True
    if not escaped:  # the bytes are the texts
        for i in range(n):
            for j in range(i):
                if ln.key_stop[i] - ln.key_at[i] == ln.key_stop[j] - ln.key_at[j] and memcmp(
                        s + ln.key_at[i], s + ln.key_at[j], ln.key_stop[i] - ln.key_at[i]) == 0:
                    return 0
        return 1
    # one text has one written form: compare those
    ln.texts.len = 0
    for i in range(n):
        at = ln.texts.len
        d = put_text(reserve(&ln.texts, ln.key_stop[i] - ln.key_at[i]), s, ln.key_at[i], ln.key_stop[i],
                     ln.key_flags[i])
        commit(&ln.texts, d, "json key")
        ln.key_text_at[i] = at
        ln.key_text_len[i] = ln.texts.len - at
        for j in range(i):
            if ln.key_text_len[i] == ln.key_text_len[j] and memcmp(
                    ln.texts.data + at, ln.texts.data + ln.key_text_at[j], ln.key_text_len[i]) == 0:
                return 0
    return 1


cdef Py_ssize_t attributes(Line* ln, const unsigned char* s, Py_ssize_t pos, Py_ssize_t n) except -2:
    """Read the object at s[pos] (``{``) into ``ln``; the position after it, or -1 when it is not an
    object of at most 128 distinct keys with string values of at most 8192 code points."""
    cdef Py_ssize_t chars, stop
    cdef int a = 0
    pos = gap(ln, s, pos + 1)
    if s[pos] == 125:
        ln.n_attributes = 0
        return pos + 1
    while True:
        if a == MAX_ATTRIBUTES or s[pos] != 34:
            return -1
        stop = scan_string(s, pos + 1, n, &chars, &ln.key_flags[a])
        if stop < 0:
            return -1
        ln.key_at[a] = pos + 1
        ln.key_stop[a] = stop
        pos = gap(ln, s, stop + 1)
        if s[pos] != 58:
            return -1
        pos = gap(ln, s, pos + 1)
        if s[pos] != 34:
            return -1
        stop = scan_string(s, pos + 1, n, &chars, &ln.value_flags[a])
        if stop < 0 or chars > MAX_ATTRIBUTE_VALUE:
            return -1
        ln.value_at[a] = pos + 1
        ln.value_stop[a] = stop
        if (ln.key_flags[a] | ln.value_flags[a]) & REWRITTEN:
            ln.verbatim = False
        a += 1
        pos = gap(ln, s, stop + 1)
        if s[pos] == 44:
            pos = gap(ln, s, pos + 1)
        elif s[pos] == 125:
            break
        else:
            return -1
    ln.n_attributes = a
    if not distinct_keys(ln, s):
        return -1
    return pos + 1


cdef char* put_verbatim(char* d, Line* ln, const unsigned char* s, Py_ssize_t pos, Py_ssize_t close) noexcept:
    """s[pos:close] less its edits at d (the line is in msgspec's form but for those); the end."""
    cdef int k
    for k in range(ln.n_edits):
        d = copy(d, s + pos, ln.edit_from[k] - pos)
        if k == ln.stamp_edit:
            d = copy(d, ln.stamp_out, ln.stamp_out_len)
        pos = ln.edit_to[k]
    return copy(d, s + pos, close - pos)


cdef inline char* put_field(char* d, const char* name, Py_ssize_t name_len, Line* ln, const unsigned char* s,
                            int f) noexcept:
    """``,"name":"text"`` at d; the end."""
    d = copy(d, name, name_len)
    d = put_text(d, s, ln.start[f], ln.stop[f], ln.flags[f])
    d[0] = 34
    return d + 1


cdef char* put_fields(char* d, Line* ln, const unsigned char* s) noexcept:
    """The fields in the schema's order, from the positions read, at d; the end."""
    cdef int a
    d = copy(d, b'{"timestamp":"', 14)
    d = copy(d, ln.stamp_out, ln.stamp_out_len)
    d[0] = 34
    d += 1
    d = put_field(d, b',"level":"', 10, ln, s, F_LEVEL)
    d = put_field(d, b',"service":"', 12, ln, s, F_SERVICE)
    d = put_field(d, b',"message":"', 12, ln, s, F_MESSAGE)
    d = put_field(d, b',"host":"', 9, ln, s, F_HOST)
    if ln.present & (1 << F_USER):
        d = put_field(d, b',"user_id":"', 12, ln, s, F_USER)
    if ln.present & (1 << F_SESSION):
        d = put_field(d, b',"session_id":"', 15, ln, s, F_SESSION)
    if ln.present & (1 << F_TRACE):
        d = put_field(d, b',"trace_id":"', 13, ln, s, F_TRACE)
    if ln.present & (1 << F_ATTRIBUTES):
        d = copy(d, b',"attributes":{"', 16)
        for a in range(ln.n_attributes):
            if a:
                d = copy(d, b',"', 2)
            d = put_text(d, s, ln.key_at[a], ln.key_stop[a], ln.key_flags[a])
            d = copy(d, b'":"', 3)
            d = put_text(d, s, ln.value_at[a], ln.value_stop[a], ln.value_flags[a])
            d[0] = 34
            d += 1
        d[0] = 125
        d += 1
    if ln.present & (1 << F_CLIENT):
        d = put_field(d, b',"client_id":"', 14, ln, s, F_CLIENT)
    if ln.present & (1 << F_SEQ):
        d = copy(d, b',"seq":', 7)
        d = copy(d, s + ln.start[F_SEQ], ln.stop[F_SEQ] - ln.start[F_SEQ])
    return d


cdef Py_ssize_t one(Buf* out, Line* ln, const unsigned char* s, Py_ssize_t pos, Py_ssize_t n,
                    const char* tail, Py_ssize_t tail_len, Py_ssize_t* count) except -2:
    """Write the stored form of the line at s[pos:] (one entry, or nothing for a blank line) and
    return the position after its newline; -1 when the line is declined."""
    cdef Py_ssize_t i, chars, open_at
    cdef int seen = 0, last = -1, f
    cdef unsigned char c
    cdef char* d
    pos = skip_ws(s, pos)
    if pos >= n:
        return n
    if s[pos] == 10:
        return pos + 1
    if s[pos] != 123:
        return -1
    open_at = pos
    ln.present = 0
    ln.verbatim = True
    ln.n_edits = 0
    ln.stamp_edit = -1
    pos = gap(ln, s, pos + 1)
    while True:
        # a key: one of ours, written without escapes (any other is declined)
        if s[pos] != 34:
            return -1
        f = field_of(s, pos + 1, n)
        if f < 0 or seen & (1 << f):
            return -1
        seen |= 1 << f
        if f < last:  # msgspec writes the fields in the schema's order
            ln.verbatim = False
        last = f
        pos = gap(ln, s, pos + 2 + NAME_LEN[f])
        if s[pos] != 58:
            return -1
        pos = gap(ln, s, pos + 1)
        c = s[pos]
        if c == 34 and f != F_SEQ and f != F_ATTRIBUTES:
            i = scan_string(s, pos + 1, n, &chars, &ln.flags[f])
            if i < 0:
                return -1
            if f == F_MESSAGE:
                if chars > MAX_MESSAGE:
                    return -1
            elif f == F_TIMESTAMP:
                if ln.flags[f] or not utc_stamp(ln, s, pos + 1, i):
                    return -1
                if not ln.stamp_same:
                    ln.stamp_edit = ln.n_edits
                    add_edit(ln, pos + 1, i)
            elif f == F_LEVEL:
                if ln.flags[f] or not is_level(s + pos + 1, i - pos - 1):
                    return -1
            elif chars > MAX_STRING or (f == F_SERVICE and chars == 0):
                return -1
            if ln.flags[f] & REWRITTEN:
                ln.verbatim = False
            ln.start[f] = pos + 1
            ln.stop[f] = i
            ln.present |= 1 << f
            pos = i + 1
        elif c == 110:
            if not (NULLABLE & (1 << f) and s[pos + 1] == 117 and s[pos + 2] == 108 and s[pos + 3] == 108):
                return -1
            ln.verbatim = False  # msgspec leaves it out
            pos += 4
        elif f == F_SEQ:
            i = pos
            while is_digit(s[i]):
                i += 1
            # JSON has no leading zeros; a fraction or an exponent (a float) fails at the next token
            if i == pos or (s[pos] == 48 and i - pos > 1) or i - pos > 19 \
                    or (i - pos == 19 and memcmp(s + pos, b"9223372036854775807", 19) > 0):
                return -1
            ln.start[f] = pos
            ln.stop[f] = i
            ln.present |= 1 << f
            pos = i
        elif f == F_ATTRIBUTES and c == 123:
            pos = attributes(ln, s, pos, n)
            if pos < 0:
                return -1
            if ln.n_attributes:
                ln.present |= 1 << f
            else:
                ln.verbatim = False  # msgspec leaves an empty map out
        else:
            return -1
        pos = gap(ln, s, pos)
        if s[pos] == 44:
            pos = gap(ln, s, pos + 1)
        elif s[pos] == 125:
            break
        else:
            return -1
    if seen & REQUIRED != REQUIRED:  # (a required field seen is present: null was declined)
        return -1
    i = skip_ws(s, pos + 1)
    if i < n and s[i] != 10:
        return -1

    # one reservation for the record: at most the line's bytes (its text is never longer than
    # the JSON read, see put_text), 5 more for a timestamp's fraction, and the tail
    d = reserve(out, (pos - open_at) + tail_len + 64)
    if ln.verbatim:
        d = put_verbatim(d, ln, s, open_at, pos)
    else:
        d = put_fields(d, ln, s)
    commit(out, copy(d, tail, tail_len), "json line")
    count[0] += 1
    return i + 1 if i < n else n


def transcode(bytes chunk not None, bytes end not None):
    """The stored lines of a payload of JSON lines, each ending in ``end`` instead of ``}\\n``,
    and how many; None when any line is declined (see the module docstring)."""
    cdef const unsigned char* s = <const unsigned char*>PyBytes_AS_STRING(chunk)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(chunk), pos = 0, count = 0
    cdef const char* tail = PyBytes_AS_STRING(end)
    cdef Py_ssize_t tail_len = PyBytes_GET_SIZE(end)
    cdef Buf out
    cdef Line ln
    out.data = NULL
    ln.texts.data = NULL
    ln.stamp_in_len = -1
    memset(ln.day, 0, 10)
    try:
        # room for lines of 100 bytes or more (a payload of shorter ones grows it)
        buf_open(&out, n + (n // 100 + 16) * (tail_len + 8))
        buf_open(&ln.texts, 256)
        while pos < n:
            pos = one(&out, &ln, s, pos, n, tail, tail_len, &count)
            if pos < 0:
                return None
        return PyBytes_FromStringAndSize(out.data, out.len), count
    finally:
        free(out.data)
        free(ln.texts.data)
