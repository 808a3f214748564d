# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Protobuf ``LogBatch`` and Avro arrays of the bundled ``LogEntry`` straight to stored JSON lines.

``proto_transcode(payload, end_line)`` reads a serialized ``LogBatch`` (``schemas/log.proto``)
and ``avro_transcode(payload, start, end_line)`` the Avro binary array of
``schemas/log_entry.avsc`` records from ``start``; each returns (the JSON lines that decoding with
protobuf / fastavro and ``normalise`` would store, each ending with ``end_line``, their count),
or ``None`` as soon as something is outside the plain case, and the caller then runs the library
decoder on the whole payload (which says which entry is bad and why). The plain case:
well-formed wire data, levels that name a level, timestamps within years 1-9999, each attribute
name once, at most 128 attributes, and text the schema admits (``_buffer.pxi``'s checks).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdlib cimport free
from libc.limits cimport LLONG_MIN
from libc.string cimport memcmp

include "_buffer.pxi"
include "_protowire.pxi"

cdef enum:
    # optional strings, in LogEntry's order of writing
    O_USER = 0
    O_SESSION = 1
    O_TRACE = 2
    O_CLIENT = 3
    N_OPTIONAL = 4


cdef struct Entry:
    long long timestamp
    int level  # 0-5: TRACE..FATAL; -1 none
    Py_ssize_t str_at[3]  # service, message, host
    Py_ssize_t str_len[3]
    Py_ssize_t opt_at[N_OPTIONAL]  # -1 when absent
    Py_ssize_t opt_len[N_OPTIONAL]
    bint has_seq
    long long seq
    int n_attrs
    Py_ssize_t key_at[MAX_ATTRIBUTES]
    Py_ssize_t key_len[MAX_ATTRIBUTES]
    Py_ssize_t val_at[MAX_ATTRIBUTES]
    Py_ssize_t val_len[MAX_ATTRIBUTES]


cdef bint unique(const unsigned char* s, Entry* e):
    cdef int i, j
    for i in range(e.n_attrs):
        for j in range(i + 1, e.n_attrs):
            if e.key_len[i] == e.key_len[j] and memcmp(s + e.key_at[i], s + e.key_at[j], e.key_len[i]) == 0:
                return False
    return True


cdef bint within_schema(const unsigned char* s, Entry* e):
    """The entry's text is valid UTF-8 within the schema's lengths (in code points), service not
    empty, seq not negative."""
    cdef int i
    if e.str_len[0] == 0 or not text_within(s + e.str_at[0], e.str_len[0], MAX_STRING) \
            or not text_within(s + e.str_at[1], e.str_len[1], MAX_MESSAGE) \
            or not text_within(s + e.str_at[2], e.str_len[2], MAX_STRING):
        return False
    for i in range(N_OPTIONAL):
        if e.opt_at[i] >= 0 and not text_within(s + e.opt_at[i], e.opt_len[i], MAX_STRING):
            return False
    for i in range(e.n_attrs):
        if utf8_chars(s + e.key_at[i], e.key_len[i]) < 0 \
                or not text_within(s + e.val_at[i], e.val_len[i], MAX_ATTRIBUTE_VALUE):
            return False
    return not (e.has_seq and e.seq < 0)


cdef int write_entry(Buf* out, const unsigned char* s, Entry* e, const char* tail, Py_ssize_t ntail) except -2:
    """The entry's JSON line in LogEntry's field order, ending with ``tail``; -1 when the entry
    breaks the schema (the line is then left unfinished: the caller drops the output)."""
    cdef int i
    if not within_schema(s, e):
        return -1
    put(out, b'{"timestamp":"', 14)
    if put_timestamp(out, e.timestamp) < 0:
        return -1
    put(out, b'","level":"', 11)
    puts(out, entry_level(e.level))
    put(out, b'","service":"', 13)
    put_escaped(out, s + e.str_at[0], e.str_len[0])
    put(out, b'","message":"', 13)
    put_escaped(out, s + e.str_at[1], e.str_len[1])
    put(out, b'","host":"', 10)
    put_escaped(out, s + e.str_at[2], e.str_len[2])
    put(out, b'"', 1)
    if e.opt_at[O_USER] >= 0:
        put(out, b',"user_id":"', 12)
        put_escaped(out, s + e.opt_at[O_USER], e.opt_len[O_USER])
        put(out, b'"', 1)
    if e.opt_at[O_SESSION] >= 0:
        put(out, b',"session_id":"', 15)
        put_escaped(out, s + e.opt_at[O_SESSION], e.opt_len[O_SESSION])
        put(out, b'"', 1)
    if e.opt_at[O_TRACE] >= 0:
        put(out, b',"trace_id":"', 13)
        put_escaped(out, s + e.opt_at[O_TRACE], e.opt_len[O_TRACE])
        put(out, b'"', 1)
    if e.n_attrs:
        put(out, b',"attributes":{', 15)
        for i in range(e.n_attrs):
            if i:
                put(out, b',', 1)
            put(out, b'"', 1)
            put_escaped(out, s + e.key_at[i], e.key_len[i])
            put(out, b'":"', 3)
            put_escaped(out, s + e.val_at[i], e.val_len[i])
            put(out, b'"', 1)
        put(out, b'}', 1)
    if e.opt_at[O_CLIENT] >= 0:
        put(out, b',"client_id":"', 14)
        put_escaped(out, s + e.opt_at[O_CLIENT], e.opt_len[O_CLIENT])
        put(out, b'"', 1)
    if e.has_seq:
        put(out, b',"seq":', 7)
        put_int(out, e.seq)
    put(out, tail, ntail)
    return 0


cdef void clear(Entry* e):
    cdef int i
    e.timestamp = 0
    e.level = -1
    for i in range(3):
        e.str_at[i] = 0
        e.str_len[i] = 0
    for i in range(N_OPTIONAL):
        e.opt_at[i] = -1
        e.opt_len[i] = 0
    e.has_seq = False
    e.seq = 0
    e.n_attrs = 0


# --- protobuf ---------------------------------------------------------------------------------

cdef int map_entry(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, Entry* e):
    cdef Py_ssize_t n
    cdef int field, wire
    cdef int i = e.n_attrs
    if i >= MAX_ATTRIBUTES:
        return -1
    e.key_at[i] = e.val_at[i] = pos
    e.key_len[i] = e.val_len[i] = 0
    while pos < end:
        pos = tag(s, pos, end, &field, &wire)
        if pos < 0:
            return -1
        if (field == 1 or field == 2) and wire == 2:
            pos = length(s, pos, end, &n)
            if pos < 0:
                return -1
            if field == 1:
                e.key_at[i] = pos
                e.key_len[i] = n
            else:
                e.val_at[i] = pos
                e.val_len[i] = n
            pos += n
        else:  # anything else in a map entry: protobuf's own handling varies, let it decide
            return -1
    e.n_attrs += 1
    return 0


cdef int proto_entry(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, Entry* e):
    """Parses one LogEntry message into e; -1 when it is not the plain case."""
    cdef unsigned long long v
    cdef Py_ssize_t n
    cdef int field, wire
    clear(e)
    while pos < end:
        pos = tag(s, pos, end, &field, &wire)
        if pos < 0:
            return -1
        if field == 1 or field == 2 or field == 11:
            if wire != 0:
                return -1
            pos = varint(s, pos, end, &v)
            if pos < 0:
                return -1
            if field == 1:
                e.timestamp = <long long>v
            elif field == 2:
                if v < 1 or v > 6:
                    return -1
                e.level = <int>v - 1
            else:
                e.has_seq = True
                e.seq = <long long>v
        elif 3 <= field <= 10:
            if wire != 2:
                return -1
            pos = length(s, pos, end, &n)
            if pos < 0:
                return -1
            if field <= 5:
                e.str_at[field - 3] = pos
                e.str_len[field - 3] = n
            elif field <= 8:
                e.opt_at[field - 6] = pos
                e.opt_len[field - 6] = n
            elif field == 10:
                e.opt_at[O_CLIENT] = pos
                e.opt_len[O_CLIENT] = n
            elif map_entry(s, pos, pos + n, e) < 0:
                return -1
            pos += n
        else:
            pos = skip_field(s, pos, end, wire)
            if pos < 0:
                return -1
    if e.level < 0 or not unique(s, e):
        return -1
    return 0


def proto_transcode(bytes payload not None, bytes end_line not None = b"}\n"):
    """(JSON lines, count) of a serialized LogBatch, each line ending with ``end_line``, or None
    (see the module docstring)."""
    cdef const unsigned char* s = <const unsigned char*>PyBytes_AS_STRING(payload)
    cdef Py_ssize_t end = PyBytes_GET_SIZE(payload), pos = 0, n, count = 0
    cdef const char* tail = PyBytes_AS_STRING(end_line)
    cdef Py_ssize_t ntail = PyBytes_GET_SIZE(end_line)
    cdef int field, wire
    cdef Buf out
    cdef Entry e
    buf_open(&out, end * 2 + 256)
    try:
        while pos < end:
            pos = tag(s, pos, end, &field, &wire)
            if pos < 0:
                return None
            if field == 1 and wire == 2:
                pos = length(s, pos, end, &n)
                if pos < 0 or proto_entry(s, pos, pos + n, &e) < 0 or write_entry(&out, s, &e, tail, ntail) < 0:
                    return None
                pos += n
                count += 1
            else:
                pos = skip_field(s, pos, end, wire)
                if pos < 0:
                    return None
        return PyBytes_FromStringAndSize(out.data, out.len), count
    finally:
        free(out.data)


def proto_count(bytes payload not None):
    """Entries (field 1) of a serialized LogBatch without decoding them; -1 when the wire data is
    broken. The blackhole counts with it."""
    cdef const unsigned char* s = <const unsigned char*>PyBytes_AS_STRING(payload)
    cdef Py_ssize_t end = PyBytes_GET_SIZE(payload), pos = 0, count = 0
    cdef int field, wire
    while pos < end:
        pos = tag(s, pos, end, &field, &wire)
        if pos < 0:
            return -1
        if field == 1 and wire == 2:
            count += 1
        pos = skip_field(s, pos, end, wire)
        if pos < 0:
            return -1
    return count


# --- avro ---------------------------------------------------------------------------------------

cdef inline Py_ssize_t zigzag(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, long long* v):
    cdef unsigned long long u
    pos = varint(s, pos, end, &u)
    if pos >= 0:
        v[0] = <long long>(u >> 1) ^ -(<long long>(u & 1))
    return pos


cdef inline Py_ssize_t avro_string(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end,
                                   Py_ssize_t* at, Py_ssize_t* length):
    cdef long long n
    pos = zigzag(s, pos, end, &n)
    if pos < 0 or n < 0 or n > end - pos:
        return -1
    at[0] = pos
    length[0] = <Py_ssize_t>n
    return pos + <Py_ssize_t>n


cdef inline Py_ssize_t avro_optional(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end,
                                     Py_ssize_t* at, Py_ssize_t* length):
    """A ["null", "string"] union: at = -1 for null."""
    cdef long long branch
    pos = zigzag(s, pos, end, &branch)
    if pos < 0:
        return -1
    if branch == 0:
        at[0] = -1
        return pos
    if branch != 1:
        return -1
    return avro_string(s, pos, end, at, length)


cdef Py_ssize_t avro_entry(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, Entry* e):
    """Parses one LogEntry record into e; the position after it, or -1."""
    cdef long long v, count, size
    cdef int i
    clear(e)
    pos = zigzag(s, pos, end, &e.timestamp)
    if pos < 0:
        return -1
    pos = zigzag(s, pos, end, &v)
    if pos < 0 or v < 0 or v > 5:
        return -1
    e.level = <int>v
    for i in range(3):
        pos = avro_string(s, pos, end, &e.str_at[i], &e.str_len[i])
        if pos < 0:
            return -1
    for i in range(3):  # user_id, session_id, trace_id
        pos = avro_optional(s, pos, end, &e.opt_at[i], &e.opt_len[i])
        if pos < 0:
            return -1
    while True:  # attributes: map blocks, a count of 0 ends them
        pos = zigzag(s, pos, end, &count)
        if pos < 0:
            return -1
        if count == 0:
            break
        if count < 0:  # a block with its size in bytes; -2^63 has no positive count
            if count < -MAX_ATTRIBUTES:
                return -1
            count = -count
            pos = zigzag(s, pos, end, &size)
            if pos < 0:
                return -1
        if count > MAX_ATTRIBUTES - e.n_attrs:  # (not n_attrs + count: that overflows)
            return -1
        for i in range(<int>count):
            pos = avro_string(s, pos, end, &e.key_at[e.n_attrs], &e.key_len[e.n_attrs])
            if pos < 0:
                return -1
            pos = avro_string(s, pos, end, &e.val_at[e.n_attrs], &e.val_len[e.n_attrs])
            if pos < 0:
                return -1
            e.n_attrs += 1
    pos = avro_optional(s, pos, end, &e.opt_at[O_CLIENT], &e.opt_len[O_CLIENT])
    if pos < 0:
        return -1
    pos = zigzag(s, pos, end, &v)
    if pos < 0:
        return -1
    if v == 1:
        e.has_seq = True
        pos = zigzag(s, pos, end, &e.seq)
        if pos < 0:
            return -1
    elif v != 0:
        return -1
    if not unique(s, e):
        return -1
    return pos


def avro_transcode(bytes payload not None, Py_ssize_t start, bytes end_line not None = b"}\n"):
    """(JSON lines, count) of an Avro array of bundled LogEntry records from ``start``, each line
    ending with ``end_line``, or None."""
    if start < 0 or start > PyBytes_GET_SIZE(payload):
        raise ValueError(f"avro_transcode: start {start} is outside the payload of {PyBytes_GET_SIZE(payload)} bytes")
    cdef const unsigned char* s = <const unsigned char*>PyBytes_AS_STRING(payload)
    cdef Py_ssize_t end = PyBytes_GET_SIZE(payload), pos = start, total = 0
    cdef const char* tail = PyBytes_AS_STRING(end_line)
    cdef Py_ssize_t ntail = PyBytes_GET_SIZE(end_line)
    cdef long long count, size, i
    cdef Buf out
    cdef Entry e
    buf_open(&out, end * 2 + 256)
    try:
        while True:
            pos = zigzag(s, pos, end, &count)
            if pos < 0:
                return None
            if count == 0:
                break
            if count < 0:  # a block with its size in bytes; -2^63 has no positive count
                if count == LLONG_MIN:
                    return None
                count = -count
                pos = zigzag(s, pos, end, &size)
                if pos < 0:
                    return None
            if count > end - pos:  # every record takes at least one byte
                return None
            for i in range(count):
                pos = avro_entry(s, pos, end, &e)
                if pos < 0 or write_entry(&out, s, &e, tail, ntail) < 0:
                    return None
                total += 1
        if pos != end:
            return None
        return PyBytes_FromStringAndSize(out.data, out.len), total
    finally:
        free(out.data)
