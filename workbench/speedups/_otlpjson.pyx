# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""An OTLP/JSON ``ExportLogsServiceRequest`` straight to stored JSON lines.

``transcode(body, default_service, peer_host, now_nanos, end_line)`` returns (the JSON lines that
``workbench.shippers.otlp.OtlpCodec.decode_json`` would store for the request, each ending with
``end_line``, their count), or ``None`` as soon as anything is outside the plain case; the codec
then decodes the request with msgspec, which says which record is bad and why. The mapping is the
codec's (its docstring and ``docs/protocol.md`` have the table), written by ``_otlprecord.pxi`` as
for protobuf requests; this module only reads OTLP/JSON as the codec reads it.

The plain case: a body msgspec decodes (valid JSON and UTF-8; numbers that are not read kept to
plain shapes, nesting to 32 levels), each name given once in an object (a lowerCamelCase name and
its proto name count as one), and:

* ``resourceLogs``, ``scopeLogs``, ``logRecords`` and ``attributes`` arrays or null (the
  first three null only in lowerCamelCase, as ``_get`` reads them); their
  elements objects (a key/value pair an object with a string ``key``); ``resource`` and ``scope``
  objects or null; names the codec does not read skipped, whatever their values;
* an AnyValue an object of one member: ``stringValue`` or ``bytesValue`` a string (base64 stays
  text, as the codec keeps it), ``intValue`` a JSON integer or a string of ``-`` and ASCII digits
  within int64, ``boolValue`` true or false; or ``{}``, null or a name the codec does not know
  (no value). Doubles, arrays and maps go to the Python path, which writes them as msgspec does;
* ``timeUnixNano`` and ``observedTimeUnixNano`` ASCII digits (leading zeros allowed, at most 19
  significant) as a string or a JSON integer, or ``""``/null (none); ``severityNumber`` a JSON
  integer, ``severityText`` a string (a level word in ASCII, or none: INFO) or null;
* ``traceId`` and ``spanId`` ASCII strings (lowercased, as ``str.lower``) or null (not as
  ``trace_id``: the codec's ``str`` makes that ``none``), ``eventName``
  and the scope's ``name`` and ``version`` strings or null;
* what ``write_record`` takes (the same rules as for protobuf: no name shared by a resource and a
  record attribute, each promoted field once, the schema's limits).

Text is held as Python holds it: a JSON string with escapes (or an id to lowercase) is decoded
into ``Json.texts``, a buffer as long as the body that never moves. Reading past the body is
never needed: a bytes object ends with a NUL, which no JSON token can continue.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdlib cimport free, malloc
from libc.string cimport memchr, memcmp, memcpy

include "_buffer.pxi"
include "_jsontext.pxi"
include "_pairs.pxi"
include "_otlprecord.pxi"

cdef enum:
    MAX_DEPTH = 32  # nesting of a skipped value (msgspec's limit is far deeper)
    MAX_NUMBER = 32  # the length of a skipped number's token
    MAX_DIGITS = 19  # of an integer that is read
    # what a name of a LogRecord is (a bit of ``seen``)
    F_OTHER = 0
    F_TIME = 1
    F_OBSERVED = 2
    F_SEVERITY = 3
    F_SEVERITY_TEXT = 4
    F_BODY = 5
    F_ATTRIBUTES = 6
    F_TRACE = 7
    F_SPAN = 8
    F_EVENT = 9


cdef struct Json:
    const unsigned char* s  # the body (NUL-terminated)
    Py_ssize_t size
    Buf texts  # decoded text (fixed: pointers into it stay)


# --- tokens -----------------------------------------------------------------------------------

cdef inline Py_ssize_t ws(const unsigned char* s, Py_ssize_t i) noexcept:
    """Past JSON whitespace (the NUL after the body stops it)."""
    while s[i] == 32 or s[i] == 10 or s[i] == 13 or s[i] == 9:
        i += 1
    return i


cdef inline bint named(Value* key, const char* name, Py_ssize_t n) noexcept:
    return key.n == n and memcmp(key.p, name, n) == 0


cdef inline bint either(Value* key, const char* camel, Py_ssize_t nc, const char* snake, Py_ssize_t ns) noexcept:
    """The name in lowerCamelCase or as the proto names it (``_get``)."""
    return named(key, camel, nc) or named(key, snake, ns)


cdef inline bint snake_null(Json* j, Py_ssize_t pos, Value* key, Py_ssize_t camel) noexcept:
    """A null list under its proto name: ``_get`` then iterates None (a 400), not ours."""
    return key.n != camel and is_null(j.s, pos)


cdef Py_ssize_t text(Json* j, Py_ssize_t pos, Value* v) except -2:
    """The JSON string at s[pos] (its quote) into v as its text; the position after it, or -1."""
    cdef Py_ssize_t stop, chars
    cdef int flags
    cdef char* d
    cdef char* end
    stop = scan_string(j.s, pos + 1, j.size, &chars, &flags)
    if stop < 0:
        return -1
    if flags & ESCAPED:
        d = reserve(&j.texts, stop - pos - 1)
        end = put_unescaped(d, j.s, pos + 1, stop)
        commit(&j.texts, end, "otlpjson text")
        text_value(v, <const unsigned char*>d, end - d, V_TEXT, chars)
    else:
        text_value(v, j.s + pos + 1, stop - pos - 1, V_TEXT, chars)
    return stop + 1


cdef inline bint is_null(const unsigned char* s, Py_ssize_t pos) noexcept:
    # each byte is read only when the one before matched, so never past the NUL
    return s[pos] == 110 and s[pos + 1] == 117 and s[pos + 2] == 108 and s[pos + 3] == 108


cdef Py_ssize_t integer(const unsigned char* s, Py_ssize_t pos, bint* negative, unsigned long long* u) noexcept:
    """A JSON integer at s[pos] (``-?(0|[1-9][0-9]*)``, at most 19 digits, no fraction or exponent
    after it); the position after it, or -1."""
    cdef Py_ssize_t start
    negative[0] = s[pos] == 45
    pos += negative[0]
    start = pos
    u[0] = 0
    if s[pos] == 48:
        pos += 1
    else:
        while is_digit(s[pos]):
            if pos - start == MAX_DIGITS:
                return -1
            u[0] = u[0] * 10 + (s[pos] - 48)
            pos += 1
    if pos == start or is_digit(s[pos]) or s[pos] == 46 or s[pos] == 101 or s[pos] == 69:
        return -1
    return pos


cdef Py_ssize_t skip_number(const unsigned char* s, Py_ssize_t pos) noexcept:
    """Past a JSON number msgspec reads (a short token, an exponent of at most two digits: never
    out of range); -1."""
    cdef Py_ssize_t start = pos, k
    if s[pos] == 45:
        pos += 1
    if s[pos] == 48:
        pos += 1
    elif 49 <= s[pos] <= 57:
        while is_digit(s[pos]):
            pos += 1
    else:
        return -1
    if s[pos] == 46:
        pos += 1
        if not is_digit(s[pos]):
            return -1
        while is_digit(s[pos]):
            pos += 1
    if s[pos] == 101 or s[pos] == 69:
        pos += 1
        if s[pos] == 43 or s[pos] == 45:
            pos += 1
        k = pos
        while is_digit(s[pos]):
            pos += 1
        if pos == k or pos - k > 2:
            return -1
    return pos if pos - start <= MAX_NUMBER else -1


cdef Py_ssize_t skip(Json* j, Py_ssize_t pos, int depth) noexcept:
    """Past the JSON value at s[pos] (checked as msgspec checks it, not kept); -1."""
    cdef const unsigned char* s = j.s
    cdef Py_ssize_t chars
    cdef int flags
    cdef unsigned char c = s[pos]
    if c == 34:
        pos = scan_string(s, pos + 1, j.size, &chars, &flags)
        return pos + 1 if pos >= 0 else -1
    if c == 123 or c == 91:
        if depth >= MAX_DEPTH:
            return -1
        pos = ws(s, pos + 1)
        if s[pos] == c + 2:  # } or ]
            return pos + 1
        while True:
            if c == 123:
                if s[pos] != 34:
                    return -1
                pos = scan_string(s, pos + 1, j.size, &chars, &flags)
                if pos < 0:
                    return -1
                pos = ws(s, pos + 1)
                if s[pos] != 58:
                    return -1
                pos = ws(s, pos + 1)
            pos = skip(j, pos, depth + 1)
            if pos < 0:
                return -1
            pos = ws(s, pos)
            if s[pos] == 44:
                pos = ws(s, pos + 1)
            elif s[pos] == c + 2:
                return pos + 1
            else:
                return -1
    if c == 116:
        return pos + 4 if s[pos + 1] == 114 and s[pos + 2] == 117 and s[pos + 3] == 101 else -1
    if c == 102:
        return pos + 5 if s[pos + 1] == 97 and s[pos + 2] == 108 and s[pos + 3] == 115 \
            and s[pos + 4] == 101 else -1
    if c == 110:
        return pos + 4 if is_null(s, pos) else -1
    return skip_number(s, pos)


# objects and arrays, member by member: ``open_`` at the bracket, ``next_`` after each value

cdef inline Py_ssize_t open_object(const unsigned char* s, Py_ssize_t pos, bint* more) noexcept:
    """Into the object at s[pos] (``{``): at its first key (``more``) or past its end."""
    pos = ws(s, pos + 1)
    more[0] = s[pos] != 125
    return pos if more[0] else pos + 1


cdef Py_ssize_t member(Json* j, Py_ssize_t pos, Value* key) except -2:
    """The member whose key is at s[pos]: its key, and where its value starts; -1."""
    if j.s[pos] != 34:
        return -1
    pos = text(j, pos, key)
    if pos < 0:
        return -1
    pos = ws(j.s, pos)
    if j.s[pos] != 58:
        return -1
    return ws(j.s, pos + 1)


cdef inline Py_ssize_t next_member(const unsigned char* s, Py_ssize_t pos, unsigned char close,
                                   bint* more) noexcept:
    """After a value in an object (``close``: ``}``) or an array (``]``): at the next one
    (``more``) or past the end; -1."""
    pos = ws(s, pos)
    if s[pos] == 44:
        more[0] = True
        return ws(s, pos + 1)
    more[0] = False
    return pos + 1 if s[pos] == close else -1


cdef inline Py_ssize_t open_array(const unsigned char* s, Py_ssize_t pos, bint* more) noexcept:
    pos = ws(s, pos + 1)
    more[0] = s[pos] != 93
    return pos if more[0] else pos + 1


cdef inline bint once(unsigned int* seen, int field) noexcept:
    """Marks the field seen; False when it was already (a name twice, or both spellings)."""
    if seen[0] & (<unsigned int>1 << field):
        return False
    seen[0] |= <unsigned int>1 << field
    return True


# --- values ---------------------------------------------------------------------------------------

cdef Py_ssize_t int_text(Value* v, bint negative, unsigned long long u) noexcept:
    """An int64 into v; 0, or -1 past its range."""
    if u > 9223372036854775807ULL + negative:
        return -1
    v.kind = V_INT
    v.i = <long long>(0ULL - u) if negative else <long long>u  # unsigned negation: -2^63 is no overflow
    v.n = 0
    v.chars = 20
    return 0


cdef Py_ssize_t int_value(Json* j, Py_ssize_t pos, Value* v) except -2:
    """``int(value)`` of an intValue: a JSON integer, or a string of ``-`` and ASCII digits."""
    cdef bint negative
    cdef unsigned long long u
    cdef Value t
    cdef Py_ssize_t end
    if j.s[pos] != 34:
        pos = integer(j.s, pos, &negative, &u)
        if pos < 0 or int_text(v, negative, u) < 0:
            return -1
        return pos
    end = text(j, pos, &t)
    if end < 0 or t.n == 0:
        return -1
    negative = t.p[0] == 45
    if t.n - negative == 0 or t.n - negative > MAX_DIGITS:
        return -1
    u = 0
    for pos in range(negative, t.n):
        if not is_digit(t.p[pos]):
            return -1
        u = u * 10 + (t.p[pos] - 48)
    return end if int_text(v, negative, u) == 0 else -1


cdef Py_ssize_t any_value(Json* j, Py_ssize_t pos, Value* v) except -2:
    """The AnyValue at s[pos] into v (``_json_value``); the position after it, or -1."""
    cdef const unsigned char* s = j.s
    cdef Value key
    cdef bint more
    text_value(v, s, 0, V_NONE, 0)
    if s[pos] != 123:
        return skip(j, pos, 0)  # not an object: no value
    pos = open_object(s, pos, &more)
    if not more:
        return pos
    pos = member(j, pos, &key)
    if pos < 0:
        return -1
    if either(&key, b"stringValue", 11, b"string_value", 12) or either(&key, b"bytesValue", 10, b"bytes_value", 11):
        if s[pos] != 34:
            return -1
        pos = text(j, pos, v)
    elif either(&key, b"intValue", 8, b"int_value", 9):
        pos = int_value(j, pos, v)
    elif either(&key, b"boolValue", 9, b"bool_value", 10):
        if s[pos] == 116 and s[pos + 1] == 114 and s[pos + 2] == 117 and s[pos + 3] == 101:
            v.kind = V_BOOL
            v.i = 1
            pos += 4
        elif s[pos] == 102 and s[pos + 1] == 97 and s[pos + 2] == 108 and s[pos + 3] == 115 \
                and s[pos + 4] == 101:
            v.kind = V_BOOL
            v.i = 0
            pos += 5
        else:
            return -1
        v.chars = 5 - v.i
    elif either(&key, b"doubleValue", 11, b"double_value", 12) or either(&key, b"arrayValue", 10, b"array_value", 11) \
            or either(&key, b"kvlistValue", 11, b"kvlist_value", 12):
        return -1
    else:
        pos = skip(j, pos, 0)  # a name it does not know: the codec looks further, finds nothing
    if pos < 0:
        return -1
    pos = next_member(s, pos, 125, &more)
    return -1 if more else pos  # (a second member: the codec's first known one, not ours)


cdef Py_ssize_t key_values(Json* j, Py_ssize_t pos, Pair* pairs, int* count) except -2:
    """An ``attributes`` value (``_json_attributes``) into pairs; the position after it, or -1."""
    cdef const unsigned char* s = j.s
    cdef Value key
    cdef Pair* p
    cdef bint more, inner, has_key, has_value
    if s[pos] != 91:
        return skip(j, pos, 0)  # not a list: no attributes
    pos = open_array(s, pos, &more)
    while more:
        if s[pos] != 123 or count[0] >= MAX_PAIRS:
            return -1
        p = &pairs[count[0]]
        has_key = has_value = False
        text_value(&p.value, s, 0, V_NONE, 0)
        pos = open_object(s, pos, &inner)
        while inner:
            pos = member(j, pos, &key)
            if pos < 0:
                return -1
            if named(&key, b"key", 3):
                if has_key or s[pos] != 34:
                    return -1
                has_key = True
                pos = text(j, pos, &key)
                p.key = key.p
                p.key_len = key.n
            elif named(&key, b"value", 5):
                if has_value:
                    return -1
                has_value = True
                pos = any_value(j, pos, &p.value)
            else:
                pos = skip(j, pos, 0)
            if pos < 0:
                return -1
            pos = next_member(s, pos, 125, &inner)
            if pos < 0:
                return -1
        if not has_key:
            return -1
        count[0] += 1
        pos = next_member(s, pos, 93, &more)
        if pos < 0:
            return -1
    return pos


cdef Py_ssize_t nanos(Json* j, Py_ssize_t pos, unsigned long long* out) except -2:
    """``_nanos``: ASCII digits as a string or a JSON integer, ``""`` or null (0)."""
    cdef bint negative
    cdef Value t
    cdef Py_ssize_t i, a = 0
    if is_null(j.s, pos):
        out[0] = 0
        return pos + 4
    if j.s[pos] != 34:
        pos = integer(j.s, pos, &negative, out)
        return -1 if negative else pos
    pos = text(j, pos, &t)
    if pos < 0:
        return -1
    while a < t.n and t.p[a] == 48:
        a += 1
    if t.n - a > MAX_DIGITS:
        return -1
    out[0] = 0
    for i in range(t.n):
        if not is_digit(t.p[i]):
            return -1
        out[0] = out[0] * 10 + (t.p[i] - 48)
    return pos


cdef Py_ssize_t optional_text(Json* j, Py_ssize_t pos, Value* v) except -2:
    """A string, or null (none)."""
    if is_null(j.s, pos):
        text_value(v, j.s, 0, V_NONE, 0)
        return pos + 4
    if j.s[pos] != 34:
        return -1
    return text(j, pos, v)


cdef Py_ssize_t lowered(Json* j, Py_ssize_t pos, Value* v) except -2:
    """``str(value).lower()`` of a trace or span id: ASCII text, or null (none)."""
    cdef Py_ssize_t i, k, end
    cdef char* d
    end = optional_text(j, pos, v)
    if end < 0 or v.chars != v.n:  # (text beyond ASCII: Unicode's lowercase is Python's)
        return -1
    for i in range(v.n):
        if 65 <= v.p[i] <= 90:
            if j.texts.data <= <const char*>v.p < j.texts.data + j.texts.len:
                d = <char*>v.p  # decoded from escapes: ours to change
            else:  # the body's bytes: copied (they are at least as long in the body)
                d = reserve(&j.texts, v.n)
                memcpy(d, v.p, v.n)
                commit(&j.texts, d + v.n, "otlpjson id")
            for k in range(i, v.n):
                if 65 <= d[k] <= 90:
                    d[k] = <char>(d[k] + 32)
            v.p = <const unsigned char*>d
            break
    v.kind = V_TEXT
    return end


cdef int record_field(Value* key) noexcept:
    cdef unsigned char c = key.p[0] if key.n else 0
    if c == 116:
        if either(key, b"timeUnixNano", 12, b"time_unix_nano", 14):
            return F_TIME
        if either(key, b"traceId", 7, b"trace_id", 8):
            return F_TRACE
    elif c == 111 and either(key, b"observedTimeUnixNano", 20, b"observed_time_unix_nano", 23):
        return F_OBSERVED
    elif c == 115:
        if either(key, b"severityNumber", 14, b"severity_number", 15):
            return F_SEVERITY
        if either(key, b"severityText", 12, b"severity_text", 13):
            return F_SEVERITY_TEXT
        if either(key, b"spanId", 6, b"span_id", 7):
            return F_SPAN
    elif c == 98 and named(key, b"body", 4):
        return F_BODY
    elif c == 97 and named(key, b"attributes", 10):
        return F_ATTRIBUTES
    elif c == 101 and either(key, b"eventName", 9, b"event_name", 10):
        return F_EVENT
    return F_OTHER


cdef Py_ssize_t log_record(Json* j, Py_ssize_t pos, Record* r, int* level) except -2:
    """The LogRecord object at s[pos] into r and its level; the position after it, or -1."""
    cdef const unsigned char* s = j.s
    cdef Value key, severity_text, event
    cdef unsigned int seen = 0
    cdef int field
    cdef bint more, negative
    cdef unsigned long long u = 0
    if s[pos] != 123:
        return -1
    clear_record(r, s)
    text_value(&severity_text, s, 0, V_NONE, 0)
    pos = open_object(s, pos, &more)
    while more:
        pos = member(j, pos, &key)
        if pos < 0:
            return -1
        field = record_field(&key)
        if field != F_OTHER and not once(&seen, field):
            return -1
        if field == F_TIME:
            pos = nanos(j, pos, &r.time)
        elif field == F_OBSERVED:
            pos = nanos(j, pos, &r.observed)
        elif field == F_SEVERITY:
            if is_null(s, pos):
                pos += 4
            else:
                pos = integer(s, pos, &negative, &u)
                r.severity = 0 if negative or u > 24 else <int>u  # (only 1-24 name a level)
        elif field == F_SEVERITY_TEXT:
            pos = optional_text(j, pos, &severity_text)
        elif field == F_BODY:
            pos = any_value(j, pos, &r.body)
        elif field == F_ATTRIBUTES:
            pos = key_values(j, pos, r.pairs, &r.n)
        elif field == F_TRACE or field == F_SPAN:
            if is_null(s, pos) and key.p[key.n - 3] == 95:  # trace_id: null is str(None), "none"
                return -1
            pos = lowered(j, pos, &r.trace if field == F_TRACE else &r.span)
        elif field == F_EVENT:
            pos = optional_text(j, pos, &event)
            r.event = event.p
            r.event_len = event.n
        else:  # flags, droppedAttributesCount, a newer sender's fields: the codec ignores them
            pos = skip(j, pos, 0)
        if pos < 0:
            return -1
        pos = next_member(s, pos, 125, &more)
        if pos < 0:
            return -1
    # the level: severityNumber, else the text (``level_from_severity``)
    if 1 <= r.severity <= 24:
        level[0] = (r.severity - 1) // 4
    else:
        level[0] = text_level(&severity_text)
        if level[0] == -2:
            return -1
        if level[0] == -1:
            level[0] = 2  # INFO
    return pos


# --- the wrappers ---------------------------------------------------------------------------------

cdef Py_ssize_t records(Json* j, Py_ssize_t pos, Buf* out, Context* ctx, Resource* res, Scope* sc, Record* r,
                        Py_ssize_t* count) except -2:
    """A ``logRecords`` value, its records written; the position after it, or -1."""
    cdef bint more
    cdef int level
    if is_null(j.s, pos):
        return pos + 4
    if j.s[pos] != 91:
        return -1
    pos = open_array(j.s, pos, &more)
    while more:
        pos = log_record(j, pos, r, &level)
        if pos < 0 or write_record(out, ctx, res, sc, r, level) < 0:
            return -1
        count[0] += 1
        pos = next_member(j.s, pos, 93, &more)
        if pos < 0:
            return -1
    return pos


cdef Py_ssize_t scope(Json* j, Py_ssize_t pos, Scope* sc) except -2:
    """The ``scope`` value (an object or null): its name and version; the position after it, or -1."""
    cdef Value key, v
    cdef bint more, has_name = False, has_version = False
    if is_null(j.s, pos):
        return pos + 4
    if j.s[pos] != 123:
        return -1
    pos = open_object(j.s, pos, &more)
    while more:
        pos = member(j, pos, &key)
        if pos < 0:
            return -1
        if named(&key, b"name", 4) or named(&key, b"version", 7):
            if (has_name if key.n == 4 else has_version):
                return -1
            pos = optional_text(j, pos, &v)
            if key.n == 4:
                has_name = True
                sc.name, sc.name_len = v.p, v.n
            else:
                has_version = True
                sc.version, sc.version_len = v.p, v.n
        else:  # attributes, droppedAttributesCount: the codec does not read them
            pos = skip(j, pos, 0)
        if pos < 0:
            return -1
        pos = next_member(j.s, pos, 125, &more)
        if pos < 0:
            return -1
    return pos


cdef Py_ssize_t scope_logs(Json* j, Py_ssize_t pos, Buf* out, Context* ctx, Resource* res, Record* r,
                           Py_ssize_t* count) except -2:
    """One ScopeLogs object, its records written; the position after it, or -1."""
    cdef Value key
    cdef bint more, has_scope = False
    cdef Py_ssize_t later = -1  # records given before the scope: read after it (0: read)
    cdef Scope sc
    sc.name = sc.version = j.s
    sc.name_len = sc.version_len = 0
    if j.s[pos] != 123:
        return -1
    pos = open_object(j.s, pos, &more)
    while more:
        pos = member(j, pos, &key)
        if pos < 0:
            return -1
        if named(&key, b"scope", 5):
            if has_scope:
                return -1
            has_scope = True
            pos = scope(j, pos, &sc)
        elif either(&key, b"logRecords", 10, b"log_records", 11):
            if later >= 0 or snake_null(j, pos, &key, 10):
                return -1
            if has_scope:  # the usual order: written as they are read
                later = 0
                pos = records(j, pos, out, ctx, res, &sc, r, count)
            else:
                later = pos
                pos = skip(j, pos, 0)
        else:  # schemaUrl
            pos = skip(j, pos, 0)
        if pos < 0:
            return -1
        pos = next_member(j.s, pos, 125, &more)
        if pos < 0:
            return -1
    if later > 0 and records(j, later, out, ctx, res, &sc, r, count) < 0:
        return -1
    return pos


cdef Py_ssize_t resource(Json* j, Py_ssize_t pos, Resource* res) except -2:
    """The ``resource`` value (an object or null): its attributes; the position after it, or -1."""
    cdef Value key
    cdef bint more, has_attributes = False
    if is_null(j.s, pos):
        return pos + 4
    if j.s[pos] != 123:
        return -1
    pos = open_object(j.s, pos, &more)
    while more:
        pos = member(j, pos, &key)
        if pos < 0:
            return -1
        if named(&key, b"attributes", 10):
            if has_attributes:
                return -1
            has_attributes = True
            pos = key_values(j, pos, res.pairs, &res.n)
        else:  # droppedAttributesCount, entityRefs
            pos = skip(j, pos, 0)
        if pos < 0:
            return -1
        pos = next_member(j.s, pos, 125, &more)
        if pos < 0:
            return -1
    return pos if resource_names(res) == 0 else -1


cdef Py_ssize_t each_scope(Json* j, Py_ssize_t pos, Buf* out, Context* ctx, Resource* res, Record* r,
                           Py_ssize_t* count) except -2:
    """A ``scopeLogs`` value (an array or null), its records written; the position after it, or -1."""
    cdef bint more
    if is_null(j.s, pos):
        return pos + 4
    if j.s[pos] != 91:
        return -1
    pos = open_array(j.s, pos, &more)
    while more:
        pos = scope_logs(j, pos, out, ctx, res, r, count)
        if pos < 0:
            return -1
        pos = next_member(j.s, pos, 93, &more)
        if pos < 0:
            return -1
    return pos


cdef Py_ssize_t resource_logs(Json* j, Py_ssize_t pos, Buf* out, Context* ctx, Resource* res, Record* r,
                              Py_ssize_t* count) except -2:
    """One ResourceLogs object, its records written; the position after it, or -1."""
    cdef Value key
    cdef bint more, has_resource = False
    cdef Py_ssize_t later = -1  # scopes given before the resource: read after it (0: read)
    res.n = 0
    res.service = res.host = -1
    if j.s[pos] != 123:
        return -1
    pos = open_object(j.s, pos, &more)
    while more:
        pos = member(j, pos, &key)
        if pos < 0:
            return -1
        if named(&key, b"resource", 8):
            if has_resource:
                return -1
            has_resource = True
            pos = resource(j, pos, res)
        elif either(&key, b"scopeLogs", 9, b"scope_logs", 10):
            if later >= 0 or snake_null(j, pos, &key, 9):
                return -1
            if has_resource:  # the usual order: written as it is read
                later = 0
                pos = each_scope(j, pos, out, ctx, res, r, count)
            else:
                later = pos
                pos = skip(j, pos, 0)
        else:  # schemaUrl
            pos = skip(j, pos, 0)
        if pos < 0:
            return -1
        pos = next_member(j.s, pos, 125, &more)
        if pos < 0:
            return -1
    if later > 0 and each_scope(j, later, out, ctx, res, r, count) < 0:
        return -1
    return pos


cdef Py_ssize_t export_request(Json* j, Buf* out, Context* ctx, Resource* res, Record* r) except -2:
    """The request body written as lines; how many, or -1 (declined)."""
    cdef Value key
    cdef bint more, inner, has_logs = False
    cdef Py_ssize_t count = 0, pos = ws(j.s, 0)
    if j.s[pos] != 123:
        return -1
    pos = open_object(j.s, pos, &more)
    while more:
        pos = member(j, pos, &key)
        if pos < 0:
            return -1
        if either(&key, b"resourceLogs", 12, b"resource_logs", 13):
            if has_logs or snake_null(j, pos, &key, 12):
                return -1
            has_logs = True
            if is_null(j.s, pos):
                pos += 4
            elif j.s[pos] != 91:
                return -1
            else:
                pos = open_array(j.s, pos, &inner)
                while inner:
                    pos = resource_logs(j, pos, out, ctx, res, r, &count)
                    if pos < 0:
                        return -1
                    pos = next_member(j.s, pos, 93, &inner)
                    if pos < 0:
                        return -1
        else:
            pos = skip(j, pos, 0)
        if pos < 0:
            return -1
        pos = next_member(j.s, pos, 125, &more)
        if pos < 0:
            return -1
    return count if ws(j.s, pos) == j.size else -1


def transcode(bytes body not None, bytes default_service not None, bytes peer_host not None,
              unsigned long long now_nanos, bytes end_line not None = b"}\n"):
    """(stored JSON lines, each ending with ``end_line``, count) of an OTLP/JSON
    ExportLogsServiceRequest, or None (see the module docstring). ``default_service`` and
    ``peer_host`` are UTF-8; ``now_nanos`` is the time of a record that has neither time nor
    observed time."""
    cdef Py_ssize_t size = PyBytes_GET_SIZE(body), count
    cdef Buf out
    cdef Context ctx
    cdef Json j
    cdef char* texts = NULL
    cdef Resource* res = <Resource*>malloc(sizeof(Resource))
    cdef Record* rec = <Record*>malloc(sizeof(Record))
    out.data = NULL
    try:
        if res == NULL or rec == NULL:
            raise MemoryError()
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
        j.s = <const unsigned char*>PyBytes_AS_STRING(body)
        j.size = size
        texts = <char*>malloc(size + 16)
        if texts == NULL:
            raise MemoryError()
        buf_fixed(&j.texts, texts, size + 16)  # no text is longer than what it is read from
        buf_open(&out, size + 4096)
        count = export_request(&j, &out, &ctx, res, rec)
        if count < 0:
            return None
        return PyBytes_FromStringAndSize(out.data, out.len), count
    finally:
        free(out.data)
        free(texts)
        free(res)
        free(rec)
