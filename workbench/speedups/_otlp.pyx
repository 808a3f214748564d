# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""An OTLP ``ExportLogsServiceRequest`` (protobuf) straight to stored JSON lines.

``transcode(body, default_service, peer_host, now_nanos)`` returns (the JSON lines that
``workbench.shippers.otlp.OtlpCodec`` would store for the request, each ending with ``}\\n``,
their count), or ``None`` as soon as anything is outside the plain case; the codec then decodes
the request with the protobuf runtime, which says which record is bad and why. The mapping is
the codec's (its docstring and ``docs/protocol.md`` have the table); this module only writes it
faster.

The plain case: well-formed wire data with no field the bundled proto files do not name (a
newer sender's fields go to the Python path, which knows what the runtime makes of them), no
singular field twice, attribute and body values that are strings, integers, booleans, bytes or
empty (doubles, arrays and maps go to the Python path, which writes them as msgspec does), each
attribute name once in a record and in a resource and no record attribute named like a resource
attribute or like the fields the mapping adds (``span_id``, ``otel.scope.*``, ``event_name``),
a ``severity_number`` of 1-24 or an empty ``severity_text``, each promoted field given once, and
text the schema admits (``_buffer.pxi``'s checks). Every string field is checked to be UTF-8, as
the protobuf runtime checks it (it refuses the whole request otherwise).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdlib cimport free
from libc.string cimport memcmp

include "_buffer.pxi"
include "_protowire.pxi"
include "_pairs.pxi"
include "_otlprecord.pxi"


# --- reading ------------------------------------------------------------------------------------

cdef inline bint utf8(const unsigned char* s, Py_ssize_t n):
    return utf8_chars(s, n) >= 0


cdef inline Py_ssize_t fixed64(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, unsigned long long* v):
    cdef int i
    cdef unsigned long long r = 0
    if pos + 8 > end:
        return -1
    for i in range(8):
        r |= (<unsigned long long>s[pos + i]) << (8 * i)
    v[0] = r
    return pos + 8


cdef inline Py_ssize_t text_field(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, int wire,
                                  const unsigned char** at, Py_ssize_t* n):
    """A string field's bytes (UTF-8 checked); -1 when it is not one."""
    if wire != 2:
        return -1
    pos = length(s, pos, end, n)
    if pos < 0 or not utf8(s + pos, n[0]):
        return -1
    at[0] = s + pos
    return pos + n[0]


cdef int any_value(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, Value* v):
    """An AnyValue message in [pos, end) into v; -1 when it is not the plain case."""
    cdef int field, wire, fields = 0
    cdef unsigned long long u = 0
    cdef Py_ssize_t n
    v.kind = V_NONE
    v.p = s + pos
    v.n = 0
    v.i = 0
    v.chars = 0
    while pos < end:
        pos = tag(s, pos, end, &field, &wire)
        if pos < 0:
            return -1
        fields += 1
        if fields > 1:  # a oneof given twice: the runtime keeps the last, let it decide
            return -1
        if field == 1 or field == 7:
            if wire != 2:
                return -1
            pos = length(s, pos, end, &n)
            if pos < 0:
                return -1
            v.kind = V_TEXT if field == 1 else V_HEX
            v.p = s + pos
            v.n = n
            v.chars = utf8_chars(v.p, n) if field == 1 else 2 * n
            if v.chars < 0:
                return -1
            pos += n
        elif field == 2 or field == 3:
            if wire != 0:
                return -1
            pos = varint(s, pos, end, &u)
            if pos < 0:
                return -1
            v.kind = V_BOOL if field == 2 else V_INT
            v.i = (u != 0) if field == 2 else <long long>u
            v.chars = (5 - v.i) if field == 2 else 20  # "true"/"false"; an integer: at most 20
        else:  # double, array, kvlist, a dictionary index, or a field we do not know
            return -1
    return 0


cdef int key_value(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, Pair* p):
    """A KeyValue message in [pos, end) into p; -1 when it is not the plain case."""
    cdef int field, wire
    cdef bint has_key = False, has_value = False
    cdef Py_ssize_t n
    p.key = s + pos
    p.key_len = 0
    p.value.kind = V_NONE
    p.value.n = p.value.chars = 0
    while pos < end:
        pos = tag(s, pos, end, &field, &wire)
        if pos < 0:
            return -1
        if field == 1 and not has_key:
            has_key = True
            pos = text_field(s, pos, end, wire, &p.key, &p.key_len)
        elif field == 2 and wire == 2 and not has_value:
            has_value = True
            pos = length(s, pos, end, &n)
            if pos < 0 or any_value(s, pos, pos + n, &p.value) < 0:
                return -1
            pos += n
        else:
            return -1
        if pos < 0:
            return -1
    return 0


cdef int resource(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, Resource* r):
    cdef int field, wire, i
    cdef Py_ssize_t n
    cdef unsigned long long u = 0
    while pos < end:
        pos = tag(s, pos, end, &field, &wire)
        if pos < 0:
            return -1
        if field == 1 and wire == 2:
            if r.n >= MAX_PAIRS:
                return -1
            pos = length(s, pos, end, &n)
            if pos < 0 or key_value(s, pos, pos + n, &r.pairs[r.n]) < 0:
                return -1
            r.n += 1
            pos += n
        elif field == 2 and wire == 0:  # dropped_attributes_count
            pos = varint(s, pos, end, &u)
        else:  # entity_refs, or a field we do not know
            return -1
        if pos < 0:
            return -1
    return resource_names(r)


cdef int scope(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, Scope* sc):
    cdef int field, wire
    cdef Py_ssize_t n
    cdef unsigned long long u = 0
    cdef bint has_name = False, has_version = False
    cdef Pair ignored
    while pos < end:
        pos = tag(s, pos, end, &field, &wire)
        if pos < 0:
            return -1
        if field == 1 and not has_name:
            has_name = True
            pos = text_field(s, pos, end, wire, &sc.name, &sc.name_len)
        elif field == 2 and not has_version:
            has_version = True
            pos = text_field(s, pos, end, wire, &sc.version, &sc.version_len)
        elif field == 3 and wire == 2:  # the scope's attributes: checked, not stored (as the codec)
            pos = length(s, pos, end, &n)
            if pos < 0 or key_value(s, pos, pos + n, &ignored) < 0:
                return -1
            pos += n
        elif field == 4 and wire == 0:
            pos = varint(s, pos, end, &u)
        else:
            return -1
        if pos < 0:
            return -1
    return 0


cdef int log_record(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, Record* r):
    """A LogRecord message into r; -1 when it is not the plain case."""
    cdef int field, wire
    cdef unsigned int seen = 0
    cdef Py_ssize_t n
    cdef unsigned long long u = 0
    cdef const unsigned char* ignored
    clear_record(r, s)
    while pos < end:
        pos = tag(s, pos, end, &field, &wire)
        if pos < 0:
            return -1
        if field != 6:  # every field but the attributes is singular: given once
            if field > 12 or seen & (<unsigned int>1 << field):
                return -1
            seen |= <unsigned int>1 << field
        if field == 1 or field == 11:
            if wire != 1:
                return -1
            if field == 1:
                pos = fixed64(s, pos, end, &r.time)
            else:
                pos = fixed64(s, pos, end, &r.observed)
        elif field == 2 or field == 7:  # severity_number (an int32 enum), dropped_attributes_count
            if wire != 0:
                return -1
            pos = varint(s, pos, end, &u)
            if field == 2:
                r.severity = <int>(<unsigned int>u)
        elif field == 3:
            pos = text_field(s, pos, end, wire, &ignored, &r.severity_text_len)
        elif field == 5 or field == 6:
            if wire != 2:
                return -1
            pos = length(s, pos, end, &n)
            if pos < 0:
                return -1
            if field == 5:
                if any_value(s, pos, pos + n, &r.body) < 0:
                    return -1
            else:
                if r.n >= MAX_PAIRS or key_value(s, pos, pos + n, &r.pairs[r.n]) < 0:
                    return -1
                r.n += 1
            pos += n
        elif field == 8:  # flags
            if wire != 5 or pos + 4 > end:
                return -1
            pos += 4
        elif field == 9 or field == 10:
            if wire != 2:
                return -1
            pos = length(s, pos, end, &n)
            if pos < 0:
                return -1
            text_value(&r.trace if field == 9 else &r.span, s + pos, n, V_HEX, 2 * n)
            pos += n
        elif field == 12:
            pos = text_field(s, pos, end, wire, &r.event, &r.event_len)
        else:
            return -1
        if pos < 0:
            return -1
    return 0


cdef inline int record_level(Record* r) noexcept:
    """The level (0-5) of severity_number, else of the text (only an empty one is taken here:
    INFO); -1 to decline."""
    if 1 <= r.severity <= 24:
        return (r.severity - 1) // 4
    return 2 if r.severity_text_len == 0 else -1


cdef int wrapper_fields(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t* head_at,
                        Py_ssize_t* head_len) except -2:
    """The first pass over a ResourceLogs or a ScopeLogs (1: its resource or scope, 2: the repeated
    children, 3: schema_url): every field length-delimited, 1 and 3 at most once, the URL UTF-8.
    ``head_at`` is where field 1's message starts (-1 when there is none); 0, or -1 to decline."""
    cdef int field, wire
    cdef Py_ssize_t n
    cdef bint has_url = False
    cdef const unsigned char* ignored
    head_at[0] = -1
    head_len[0] = 0
    while pos < end:
        pos = tag(s, pos, end, &field, &wire)
        if pos < 0 or wire != 2 or field > 3:
            return -1
        if field == 3:
            if has_url:
                return -1
            has_url = True
            pos = text_field(s, pos, end, wire, &ignored, &n)
            if pos < 0:
                return -1
            continue
        pos = length(s, pos, end, &n)
        if pos < 0:
            return -1
        if field == 1:
            if head_at[0] >= 0:
                return -1
            head_at[0] = pos
            head_len[0] = n
        pos += n
    return 0


cdef Py_ssize_t scope_logs(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, Buf* out, Context* ctx,
                           Resource* res, Record* r) except -2:
    """One ScopeLogs: its records written; how many, or -1 (declined)."""
    cdef int field = 0, wire = 0, level
    cdef Py_ssize_t n, count = 0, at
    cdef Scope sc
    sc.name = sc.version = s
    sc.name_len = sc.version_len = 0
    # the scope first (a sender may write it after the records)
    if wrapper_fields(s, pos, end, &at, &n) < 0 or (at >= 0 and scope(s, at, at + n, &sc) < 0):
        return -1
    while pos < end:
        pos = tag(s, pos, end, &field, &wire)
        pos = length(s, pos, end, &n)  # (every field is length-delimited: checked above)
        if field == 2:
            if log_record(s, pos, pos + n, r) < 0:
                return -1
            level = record_level(r)
            if level < 0 or write_record(out, ctx, res, &sc, r, level) < 0:
                return -1
            count += 1
        pos += n
    return count


cdef Py_ssize_t resource_logs(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, Buf* out, Context* ctx,
                              Resource* res, Record* r) except -2:
    """One ResourceLogs: its records written; how many, or -1 (declined)."""
    cdef int field = 0, wire = 0  # (tag() always sets them: wrapper_fields read these fields first)
    cdef Py_ssize_t n, got, count = 0, at
    res.n = 0
    res.service = res.host = -1
    if wrapper_fields(s, pos, end, &at, &n) < 0 or (at >= 0 and resource(s, at, at + n, res) < 0):
        return -1
    while pos < end:
        pos = tag(s, pos, end, &field, &wire)
        pos = length(s, pos, end, &n)
        if field == 2:
            got = scope_logs(s, pos, pos + n, out, ctx, res, r)
            if got < 0:
                return -1
            count += got
        pos += n
    return count


def transcode(bytes body not None, bytes default_service not None, bytes peer_host not None,
              unsigned long long now_nanos, bytes end_line not None = b"}\n"):
    """(stored JSON lines, each ending with ``end_line``, count) of an ExportLogsServiceRequest,
    or None (see the module docstring). ``default_service`` and ``peer_host`` are UTF-8;
    ``now_nanos`` is the time of a record that has neither time nor observed time."""
    cdef const unsigned char* s = <const unsigned char*>PyBytes_AS_STRING(body)
    cdef Py_ssize_t end = PyBytes_GET_SIZE(body), pos = 0, n, got, count = 0
    cdef int field, wire
    cdef Buf out
    cdef Context ctx
    cdef Resource res
    cdef Record rec
    ctx.service = <const unsigned char*>PyBytes_AS_STRING(default_service)
    ctx.service_len = PyBytes_GET_SIZE(default_service)
    ctx.peer = <const unsigned char*>PyBytes_AS_STRING(peer_host)
    ctx.peer_len = PyBytes_GET_SIZE(peer_host)
    ctx.now = now_nanos
    ctx.tail = PyBytes_AS_STRING(end_line)
    ctx.ntail = PyBytes_GET_SIZE(end_line)
    ctx.service_chars = utf8_chars(ctx.service, ctx.service_len)
    ctx.peer_chars = utf8_chars(ctx.peer, ctx.peer_len)
    if ctx.service_chars < 0 or ctx.peer_chars < 0:
        return None
    buf_open(&out, end * 2 + 256)
    try:
        while pos < end:
            pos = tag(s, pos, end, &field, &wire)
            if pos < 0 or field != 1 or wire != 2:
                return None
            pos = length(s, pos, end, &n)
            if pos < 0:
                return None
            got = resource_logs(s, pos, pos + n, &out, &ctx, &res, &rec)
            if got < 0:
                return None
            count += got
            pos += n
        return PyBytes_FromStringAndSize(out.data, out.len), count
    finally:
        free(out.data)
