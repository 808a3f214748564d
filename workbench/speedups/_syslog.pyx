# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""RFC 5424 messages straight to stored JSON lines, in C (compiled with Cython).

For each message this writes the JSON line that the Python path (``workbench.codecs.syslog``)
would decode it into and ``normalise`` would store, with the same mapping (see that module's
docstring), checked against the schema on the way (``_buffer.pxi``). ``transcode(records)`` does
it for a list of messages (framing removed) and returns the lines, or ``None`` as soon as one
message is declined (the caller then runs the Python path on the whole batch);
``stored_lines`` and ``stored_octet`` do it for a newline-separated payload and for an
octet-counted stream, ending each line with the ingestor's stored fields.

The shape handled: an RFC 5424 header of printable ASCII without ``"`` or backslash, an RFC 3339
timestamp with 0 to 6 fractional digits (any offset, written in UTC), structured data whose
names and values hold no backslash, ``seq`` of at most 20 digits (leading zeros dropped) and 18
significant ones, each entry field and attribute name at most once (and no attribute named like
the header's ``syslog.*`` ones), text within the schema's limits, at most 128 attributes in all.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdlib cimport free
from libc.string cimport memchr, memcmp, memcpy

cdef enum:
    # entry fields carried by the log@32473 element
    F_LEVEL = 0
    F_USER = 1
    F_SESSION = 2
    F_TRACE = 3
    F_CLIENT = 4
    F_SEQ = 5
    N_FIELDS = 6

cdef inline const char* level_name(int severity):
    """LEVEL_BY_SEVERITY of the Python path."""
    if severity <= 2:
        return b"FATAL"
    if severity == 3:
        return b"ERROR"
    if severity == 4:
        return b"WARN"
    if severity <= 6:
        return b"INFO"
    return b"DEBUG"


include "_buffer.pxi"


cdef inline Py_ssize_t header_token(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t limit):
    """End of a header field (printable ASCII without quote or backslash) at pos, followed by a
    space; -1 when the field is not that."""
    cdef Py_ssize_t i = pos
    cdef unsigned char c
    while i < end and s[i] != 32:
        c = s[i]
        if c < 33 or c > 126 or c == 34 or c == 92:
            return -1
        i += 1
    if i == pos or i - pos > limit or i >= end:
        return -1
    return i


cdef inline Py_ssize_t sd_name(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end):
    """End of an SD-ID or PARAM-NAME (1 to 32 printable ASCII, not space ] = " or backslash)."""
    cdef Py_ssize_t i = pos
    cdef unsigned char c
    while i < end:
        c = s[i]
        if c == 32 or c == 93 or c == 61:
            break
        if c < 33 or c > 126 or c == 34 or c == 92:
            return -1
        i += 1
    if i == pos or i - pos > 32:
        return -1
    return i


cdef inline int field_index(const unsigned char* s, Py_ssize_t n):
    if n == 5 and memcmp(s, b"level", 5) == 0:
        return F_LEVEL
    if n == 7 and memcmp(s, b"user_id", 7) == 0:
        return F_USER
    if n == 10 and memcmp(s, b"session_id", 10) == 0:
        return F_SESSION
    if n == 8 and memcmp(s, b"trace_id", 8) == 0:
        return F_TRACE
    if n == 9 and memcmp(s, b"client_id", 9) == 0:
        return F_CLIENT
    if n == 3 and memcmp(s, b"seq", 3) == 0:
        return F_SEQ
    return -1


cdef inline Py_ssize_t attr_key(const unsigned char* s, Py_ssize_t* a, char* dst):
    """The attribute's name (``<sd-id>.<name>``, or ``<name>`` for attr@32473) into dst (65 bytes)."""
    cdef Py_ssize_t n = 0
    if a[0] >= 0:
        memcpy(dst, s + a[0], a[1] - a[0])
        n = a[1] - a[0]
        dst[n] = 46
        n += 1
    memcpy(dst + n, s + a[2], a[3] - a[2])
    return n + a[3] - a[2]


cdef bint unique_keys(const unsigned char* s, Py_ssize_t (*attrs)[6], int n):
    """No two attributes share a name, and none is a ``syslog.*`` name the header also writes."""
    cdef char a[72]
    cdef char b[72]
    cdef Py_ssize_t la, lb
    cdef int i, j
    for i in range(n):
        la = attr_key(s, attrs[i], a)
        if la > 7 and memcmp(a, b"syslog.", 7) == 0:
            return False
        for j in range(i + 1, n):
            lb = attr_key(s, attrs[j], b)
            if la == lb and memcmp(a, b, la) == 0:
                return False
    return True


cdef int one(Buf* out, const unsigned char* s, Py_ssize_t end, const char* tail, Py_ssize_t ntail) except -2:
    """Append one message's JSON line ending with ``tail`` (``}\\n``, or the stored fields and
    ``}\\n``); 0 when done, -1 when the message is not in the handled shape or would break the
    schema: the caller then drops what was appended."""
    cdef Py_ssize_t pos = 0, i, j, host0, host1, app0, app1, proc0, proc1, msgid0, msgid1
    cdef Py_ssize_t id0, id1, name0, name1, val0, val1, msg0 = -1
    cdef int pri = 0, digits = 0, f, kind
    cdef Py_ssize_t fstart[N_FIELDS]
    cdef Py_ssize_t fend[N_FIELDS]
    # attributes: (sd-id start, sd-id end or -1 for none, name start, name end, value start, value end)
    cdef Py_ssize_t attrs[MAX_ATTRIBUTES][6]
    cdef int n = 0
    for f in range(N_FIELDS):
        fstart[f] = -1
    while end > 0 and (s[end - 1] == 10 or s[end - 1] == 13):
        end -= 1
    # PRI and VERSION
    if end < 4 or s[0] != 60:
        return -1
    pos = 1
    while pos < end and is_digit(s[pos]) and digits < 3:
        pri = pri * 10 + (s[pos] - 48)
        pos += 1
        digits += 1
    if digits == 0 or pri > 191 or pos + 3 > end or s[pos] != 62 or s[pos + 1] != 49 or s[pos + 2] != 32:
        return -1
    pos += 3
    # TIMESTAMP, written in UTC as the line's first field (the caller drops the line on -1)
    put(out, b'{"timestamp":"', 14)
    pos = put_rfc3339(out, s, pos, end)
    if pos < 0 or pos >= end or s[pos] != 32:
        return -1
    pos += 1
    # HOSTNAME APP-NAME PROCID MSGID
    host0 = pos
    host1 = header_token(s, pos, end, 255)
    if host1 < 0:
        return -1
    app0 = host1 + 1
    app1 = header_token(s, app0, end, 48)
    if app1 < 0:
        return -1
    proc0 = app1 + 1
    proc1 = header_token(s, proc0, end, 128)
    if proc1 < 0:
        return -1
    msgid0 = proc1 + 1
    msgid1 = header_token(s, msgid0, end, 32)
    if msgid1 < 0:
        return -1
    pos = msgid1 + 1
    if pos >= end:
        return -1
    # STRUCTURED-DATA
    if s[pos] == 45:
        pos += 1
    elif s[pos] == 91:
        while pos < end and s[pos] == 91:
            id0 = pos + 1
            id1 = sd_name(s, id0, end)
            if id1 < 0:
                return -1
            kind = 0  # another element: attributes named <sd-id>.<name>
            if id1 - id0 == 9 and memcmp(s + id0, b"log@32473", 9) == 0:
                kind = 1
            elif id1 - id0 == 10 and memcmp(s + id0, b"attr@32473", 10) == 0:
                kind = 2
            pos = id1
            while pos < end and s[pos] == 32:
                name0 = pos + 1
                name1 = sd_name(s, name0, end)
                if name1 < 0 or name1 + 1 >= end or s[name1] != 61 or s[name1 + 1] != 34:
                    return -1
                val0 = name1 + 2
                j = val0
                while j < end and s[j] != 34:
                    if s[j] == 92:
                        return -1
                    j += 1
                if j >= end:
                    return -1
                val1 = j
                pos = j + 1
                f = field_index(s + name0, name1 - name0) if kind == 1 else -1
                if f >= 0:
                    if fstart[f] >= 0:
                        return -1
                    if f == F_LEVEL:
                        if not is_level(s + val0, val1 - val0):
                            return -1
                    elif f != F_SEQ and not text_within(s + val0, val1 - val0, MAX_STRING):
                        return -1
                    fstart[f] = val0
                    fend[f] = val1
                    continue
                if n >= MAX_ATTRIBUTES or not text_within(s + val0, val1 - val0, MAX_ATTRIBUTE_VALUE):
                    return -1
                attrs[n][0] = id0 if kind != 2 else -1
                attrs[n][1] = id1
                attrs[n][2] = name0
                attrs[n][3] = name1
                attrs[n][4] = val0
                attrs[n][5] = val1
                n += 1
            if pos >= end or s[pos] != 93:
                return -1
            pos += 1
    else:
        return -1
    # MSG
    if pos < end:
        if s[pos] != 32:
            return -1
        msg0 = pos + 1
        if end - msg0 >= 3 and s[msg0] == 0xEF and s[msg0 + 1] == 0xBB and s[msg0 + 2] == 0xBF:
            msg0 += 3
        if not text_within(s + msg0, end - msg0, MAX_MESSAGE):
            return -1
    if n and not unique_keys(s, attrs, n):
        return -1
    # seq: at most 20 digits as the parser takes them (senders pad to a fixed width), of which at
    # most 18 significant (within int64); written without the padding
    if fstart[F_SEQ] >= 0:
        i = fend[F_SEQ] - fstart[F_SEQ]
        if i == 0 or i > 20:
            return -1
        for j in range(fstart[F_SEQ], fend[F_SEQ]):
            if not is_digit(s[j]):
                return -1
        while fend[F_SEQ] - fstart[F_SEQ] > 1 and s[fstart[F_SEQ]] == 48:
            fstart[F_SEQ] += 1
        if fend[F_SEQ] - fstart[F_SEQ] > 18:
            return -1

    # the rest of the JSON line, fields in LogEntry's order
    put(out, b'","level":"', 11)
    if fstart[F_LEVEL] >= 0:
        put(out, <const char*>s + fstart[F_LEVEL], fend[F_LEVEL] - fstart[F_LEVEL])
    else:
        puts(out, level_name(pri & 7))
    put(out, b'","service":"', 13)
    put(out, <const char*>s + app0, app1 - app0)
    put(out, b'","message":"', 13)
    if msg0 >= 0:
        put_escaped(out, s + msg0, end - msg0)
    put(out, b'","host":"', 10)
    if not (host1 - host0 == 1 and s[host0] == 45):
        put(out, <const char*>s + host0, host1 - host0)
    put(out, b'"', 1)
    if fstart[F_USER] >= 0:
        put(out, b',"user_id":"', 12)
        put_escaped(out, s + fstart[F_USER], fend[F_USER] - fstart[F_USER])
        put(out, b'"', 1)
    if fstart[F_SESSION] >= 0:
        put(out, b',"session_id":"', 15)
        put_escaped(out, s + fstart[F_SESSION], fend[F_SESSION] - fstart[F_SESSION])
        put(out, b'"', 1)
    if fstart[F_TRACE] >= 0:
        put(out, b',"trace_id":"', 13)
        put_escaped(out, s + fstart[F_TRACE], fend[F_TRACE] - fstart[F_TRACE])
        put(out, b'"', 1)
    cdef bint procid = not (proc1 - proc0 == 1 and s[proc0] == 45)
    cdef bint msgid = not (msgid1 - msgid0 == 1 and s[msgid0] == 45)
    cdef int facility = pri >> 3
    cdef char sep = 123  # {
    if n + procid + msgid + (facility != 1) > MAX_ATTRIBUTES:
        return -1
    if procid or msgid or n or facility != 1:
        put(out, b',"attributes":', 14)
        if procid:
            put(out, b'{"syslog.procid":"', 18)
            put(out, <const char*>s + proc0, proc1 - proc0)
            put(out, b'"', 1)
            sep = 44
        if msgid:
            put_byte(out, sep)
            put(out, b'"syslog.msgid":"', 16)
            put(out, <const char*>s + msgid0, msgid1 - msgid0)
            put(out, b'"', 1)
            sep = 44
        for i in range(n):
            put_byte(out, sep)
            put_byte(out, 34)
            sep = 44
            if attrs[i][0] >= 0:
                put(out, <const char*>s + attrs[i][0], attrs[i][1] - attrs[i][0])
                put(out, b".", 1)
            put(out, <const char*>s + attrs[i][2], attrs[i][3] - attrs[i][2])
            put(out, b'":"', 3)
            put_escaped(out, s + attrs[i][4], attrs[i][5] - attrs[i][4])
            put(out, b'"', 1)
        if facility != 1:
            put_byte(out, sep)
            put(out, b'"syslog.facility":"', 19)
            if facility >= 10:
                put_byte(out, <char>(48 + facility // 10))
            put_byte(out, <char>(48 + facility % 10))
            put(out, b'"', 1)
        put(out, b"}", 1)
    if fstart[F_CLIENT] >= 0:
        put(out, b',"client_id":"', 14)
        put_escaped(out, s + fstart[F_CLIENT], fend[F_CLIENT] - fstart[F_CLIENT])
        put(out, b'"', 1)
    if fstart[F_SEQ] >= 0:
        put(out, b',"seq":', 7)
        put(out, <const char*>s + fstart[F_SEQ], fend[F_SEQ] - fstart[F_SEQ])
    put(out, tail, ntail)
    return 0


def transcode(list records not None):
    """The JSON lines of RFC 5424 messages, or None (see the module docstring)."""
    cdef Buf out
    cdef Py_ssize_t total = 0
    cdef bytes rec
    for rec in records:
        if rec is None:  # a ``bytes`` variable also takes None
            raise TypeError("transcode: records must be bytes, not None")
        total += PyBytes_GET_SIZE(rec)
    buf_open(&out, total * 2 + 256 * len(records) + 64)
    try:
        for rec in records:
            if one(&out, <const unsigned char*>PyBytes_AS_STRING(rec), PyBytes_GET_SIZE(rec), b"}\n", 2) < 0:
                return None
        return PyBytes_FromStringAndSize(out.data, out.len)
    finally:
        free(out.data)


cdef inline Py_ssize_t frame_body(const unsigned char* s, Py_ssize_t frame, Py_ssize_t size,
                                  Py_ssize_t max_length, Py_ssize_t* length):
    """Where the message of the octet-counted frame at ``frame`` starts (its length in
    ``length``); -1 when the frame is incomplete, over ``max_length`` or not ``LEN SP`` (CR/LF
    before it skipped)."""
    cdef Py_ssize_t i = frame, pos, n = 0
    while i < size and (s[i] == 10 or s[i] == 13):
        i += 1
    pos = i
    while i < size and i - pos < 10 and is_digit(s[i]):
        n = n * 10 + (s[i] - 48)
        i += 1
    if i == pos or i >= size or s[i] != 32 or n > max_length or i + 1 + n > size:
        return -1
    length[0] = n
    return i + 1


def stored_lines(bytes chunk not None, bytes end not None):
    """(stored lines, count) of a payload of newline-separated messages, each line ending with
    ``end``; None when any message is declined. Blank lines are skipped."""
    return each_line(chunk, end, one)


def stored_octet(bytes buf not None, Py_ssize_t max_length, bytes end not None):
    """(stored lines, count, position reached) of RFC 6587 octet-counted frames from the start of
    ``buf``, each line ending with ``end``.

    Stops before the first frame that is incomplete, over ``max_length``, not ``LEN SP`` or a
    message the transcoder declines (CR/LF between frames skipped): the splitter and the Python
    path take over there, with their limits, errors and rejections.
    """
    cdef const unsigned char* s = <const unsigned char*>PyBytes_AS_STRING(buf)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(buf), frame = 0, length, start, mark
    cdef const char* tail = PyBytes_AS_STRING(end)
    cdef Py_ssize_t ntail = PyBytes_GET_SIZE(end)
    cdef Py_ssize_t count = 0
    cdef Buf out
    buf_open(&out, size * 2 + 64)
    try:
        while True:
            start = frame_body(s, frame, size, max_length, &length)
            if start < 0:
                break
            mark = out.len
            if one(&out, s + start, length, tail, ntail) < 0:
                out.len = mark
                break
            count += 1
            frame = start + length
        return PyBytes_FromStringAndSize(out.data, out.len), count, frame
    finally:
        free(out.data)


def octet_frames(bytes buf not None, Py_ssize_t max_length):
    """RFC 6587 octet-counted frames from the start of ``buf``: (messages, position reached).

    Stops before the first frame that is incomplete, over ``max_length``, or not ``LEN SP``
    (CR/LF between frames skipped, as some senders add them); the Python splitter takes over there
    with its limits and errors.
    """
    cdef const unsigned char* s = <const unsigned char*>PyBytes_AS_STRING(buf)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(buf), frame = 0, length, start
    cdef list out = []
    while True:
        start = frame_body(s, frame, size, max_length, &length)
        if start < 0:
            return out, frame
        out.append(PyBytes_FromStringAndSize(<const char*>s + start, length))
        frame = start + length
