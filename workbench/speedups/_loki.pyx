# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Loki push requests (``/loki/api/v1/push``) straight to stored JSON lines.

``transcode_json(body, default_service, peer_host, end_line)`` (a JSON push) and
``transcode_push(payload, default_service, peer_host, end_line)`` (a ``PushRequest`` protobuf,
after snappy) return (the JSON lines that ``workbench.shippers.loki.LokiCodec`` would store for
the request, each ending with ``end_line``, their count), or ``None`` as soon as anything is
outside the plain case; the codec then decodes the request in Python, which says which entry is
bad and why. The mapping is the codec's (its docstring and ``docs/protocol.md`` have it): the
stream's labels with the entry's structured metadata over them (a dict update: a name keeps its
place, the metadata's value wins) give the level, service, host, ``seq``, ``client_id`` and the
other optional fields, the rest are attributes; this module only writes it faster.

The plain case of a JSON push: ``{"streams": [...]}`` and nothing else at the top; each stream an
object of ``stream`` (an object, or null) and ``values`` (an array, or null), each at most once and
``stream`` before ``values``; each entry ``[time, line]`` or ``[time, line, metadata]``, the time
unix nanoseconds as a string of ASCII digits or a JSON integer (above 0, at most 19 digits once
leading zeros are gone), the line a string, the metadata an object; label and metadata values
strings or null. Of a protobuf push: well-formed wire data (fields it does not name are skipped,
as the runtime skips them), the known fields each given once where they are singular and with
their own wire type, every string UTF-8, labels in Prometheus syntax with only spaces and tabs
between their tokens, a timestamp of 0 to 253402300799 seconds. In both: at most 128 labels and
128 metadata pairs to an entry, a level value (``level``/``severity``/``detected_level``) in
ASCII, a ``seq`` of digits within int64, at least one entry, and what the schema admits
(``_buffer.pxi``'s limits). Anything else (the legacy ``labels``/``entries`` form, keys outside
the list, numbers as label values, a body that is not JSON) declines the whole request.

Text is held as Python holds it (``Value``s of ``_pairs.pxi``, plain UTF-8): a JSON string with
escapes is decoded into ``Context.texts``, a buffer as long as the body that is never moved (no
string's text is longer than its JSON), and written back through ``put_escaped`` as msgspec
writes it. Reading past the body is never needed: a bytes object ends with a NUL, which no
JSON token can continue (the protobuf readers of ``_protowire.pxi`` check ``end``).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdlib cimport free, malloc
from libc.string cimport memchr, memcmp, memcpy

include "_buffer.pxi"
include "_jsontext.pxi"
include "_protowire.pxi"
include "_pairs.pxi"

cdef enum:
    MAX_LABELS = 128  # labels of a stream that are read (more: declined)
    MAX_WORK = 2 * MAX_LABELS  # an entry's labels and structured metadata
    MAX_NANOS_DIGITS = 19  # (19 digits fit 64 unsigned bits)
    MAX_SECONDS = 253402300799  # 9999-12-31T23:59:59Z


cdef struct Context:
    Value service  # the codec's default service
    Value peer  # the client's address: the default host
    const char* tail  # how each line ends
    Py_ssize_t ntail
    Buf texts  # the text of JSON strings with escapes, of label values (fixed: pointers stay)
    int n_labels
    int n_work
    Pair labels[MAX_LABELS]  # the stream's, as the codec's dict holds them
    Pair work[MAX_WORK]  # the entry's ``pairs`` dict
    char alive[MAX_WORK]  # not taken out of it (``pop``)


# --- the entry's dict -----------------------------------------------------------------------------

cdef int set_pair(Pair* pairs, int* count, int cap, Pair* p) noexcept:
    """``pairs[key] = value`` as a dict does it: in the place of the key when it is there, else at
    the end; -1 when the list is full."""
    cdef int i
    for i in range(count[0]):
        if same_key(&pairs[i], p):
            pairs[i].value = p.value
            return 0
    if count[0] >= cap:
        return -1
    pairs[count[0]] = p[0]
    count[0] += 1
    return 0


cdef inline void start_entry(Context* c) noexcept:
    """The entry's dict: a copy of the stream's labels (the metadata is set over it)."""
    memcpy(c.work, c.labels, c.n_labels * sizeof(Pair))
    c.n_work = c.n_labels


cdef int find(Context* c, const char* name, Py_ssize_t n) noexcept:
    """The place of a name in the entry's dict, or -1."""
    cdef int i
    for i in range(c.n_work):
        if c.alive[i] and is_key(&c.work[i], name, n):
            return i
    return -1


cdef int pop_text(Context* c, const char* a, Py_ssize_t an, const char* b, Py_ssize_t bn,
                  const char* d, Py_ssize_t dn) noexcept:
    """``mapping.pop_text`` over three names: the first whose value is a string that is not
    empty, taken out; its place, or -1."""
    cdef const char* names[3]
    cdef Py_ssize_t lens[3]
    cdef int k, i
    names[0], names[1], names[2] = a, b, d
    lens[0], lens[1], lens[2] = an, bn, dn
    for k in range(3):
        i = find(c, names[k], lens[k])
        if i >= 0 and c.work[i].value.kind == V_TEXT and c.work[i].value.n > 0:
            c.alive[i] = 0
            return i
    return -1


cdef int pop_level(Context* c) noexcept:
    """``mapping.pop_level`` over level, severity, detected_level: 0-5 (INFO when none), -2 when
    not sure."""
    cdef int k, i, level
    for k in range(3):
        if k == 0:
            i = find(c, b"level", 5)
        elif k == 1:
            i = find(c, b"severity", 8)
        else:
            i = find(c, b"detected_level", 14)
        if i < 0:
            continue
        level = text_level(&c.work[i].value)
        if level == -2:
            return -2
        if level >= 0:
            c.alive[i] = 0
            return level
    return 2


cdef int write_entry(Context* c, Buf* out, long long micros, Value* line) except -2:
    """The stored line of the entry in ``c.work``; -1 when it is not the plain case (the line is
    left unfinished: the caller drops the output)."""
    cdef Value opt[N_OPTIONAL]
    cdef Value* service
    cdef Value* host
    cdef Value* v
    cdef int i, field, got, level, n_attrs = 0
    cdef bint has_seq = False, first = True
    cdef long long seq = 0
    for i in range(c.n_work):
        c.alive[i] = 1
    level = pop_level(c)
    if level < 0:
        return -1
    i = pop_text(c, b"service_name", 12, b"job", 3, b"app", 3)
    service = &c.work[i].value if i >= 0 else &c.service
    i = pop_text(c, b"host", 4, b"hostname", 8, b"instance", 8)
    host = &c.work[i].value if i >= 0 else &c.peer
    for i in range(N_OPTIONAL):
        opt[i].kind = V_NONE
        opt[i].n = opt[i].chars = 0
    # promote seq, client_id, user_id, session_id, trace_id (mapping.promote: the last one wins)
    for i in range(c.n_work):
        if not c.alive[i]:
            continue
        v = &c.work[i].value
        field = known(&c.work[i])
        if field == K_SEQ:
            got = seq_of(v, &seq)
            if got < 0:
                return -1
            if got:
                has_seq = True
                c.alive[i] = 0
                continue
        elif field != K_NONE:
            if v.kind != V_NONE:  # (a null stays, and attributes leave it out)
                opt[field] = v[0]
                c.alive[i] = 0
            continue
        if v.kind != V_NONE:
            if not within(v, MAX_ATTRIBUTE_VALUE):
                return -1
            n_attrs += 1
    # the schema's limits
    if service.chars < 1 or not within(service, MAX_STRING) or not within(host, MAX_STRING) \
            or not within(line, MAX_MESSAGE) or n_attrs > MAX_ATTRIBUTES:
        return -1
    for i in range(N_OPTIONAL):
        if not within(&opt[i], MAX_STRING):
            return -1
    if put_head(out, micros, level, service, line, host, opt) < 0:
        return -1
    if n_attrs:
        put(out, b',"attributes":{', 15)
        for i in range(c.n_work):
            if c.alive[i] and c.work[i].value.kind != V_NONE:
                put_pair(out, c.work[i].key, c.work[i].key_len, &c.work[i].value, &first)
        put_byte(out, 125)
    put_tail(out, opt, has_seq, seq, c.tail, c.ntail)
    return 0


# --- a JSON push --------------------------------------------------------------------------------

cdef inline Py_ssize_t ws(const unsigned char* s, Py_ssize_t i) noexcept:
    """Past JSON whitespace (the NUL after the body stops it)."""
    while s[i] == 32 or s[i] == 10 or s[i] == 13 or s[i] == 9:
        i += 1
    return i


cdef inline bint is_key_text(Value* v, const char* name, Py_ssize_t n) noexcept:
    return v.n == n and memcmp(v.p, name, n) == 0


cdef Py_ssize_t json_text(Context* c, const unsigned char* s, Py_ssize_t pos, Py_ssize_t size,
                          Value* v) except -2:
    """The JSON string at s[pos] (its quote) into v as its text; the position after it, or -1."""
    cdef Py_ssize_t stop, chars
    cdef int flags
    cdef char* d
    cdef char* end
    stop = scan_string(s, pos + 1, size, &chars, &flags)
    if stop < 0:
        return -1
    if flags & ESCAPED:
        d = reserve(&c.texts, stop - pos - 1)
        end = put_unescaped(d, s, pos + 1, stop)
        commit(&c.texts, end, "loki text")
        text_value(v, <const unsigned char*>d, end - d, V_TEXT, chars)
    else:
        text_value(v, s + pos + 1, stop - pos - 1, V_TEXT, chars)
    return stop + 1


cdef Py_ssize_t json_label(Context* c, const unsigned char* s, Py_ssize_t pos, Py_ssize_t size,
                           Value* v) except -2:
    """A label or metadata value at s[pos]: a string, or null (V_NONE); the position after it, or -1."""
    if s[pos] == 34:
        return json_text(c, s, pos, size, v)
    # each byte is read only when the one before matched, so never past the NUL
    if s[pos] == 110 and s[pos + 1] == 117 and s[pos + 2] == 108 and s[pos + 3] == 108:
        text_value(v, s, 0, V_NONE, 0)
        return pos + 4
    return -1


cdef Py_ssize_t json_pairs(Context* c, const unsigned char* s, Py_ssize_t pos, Py_ssize_t size, Pair* pairs,
                           int* count, int cap) except -2:
    """The object at s[pos] (``{``) set into ``pairs`` as a dict sets them; the position after it,
    or -1."""
    cdef Pair p
    cdef Value key
    pos = ws(s, pos + 1)
    if s[pos] == 125:
        return pos + 1
    while True:
        if s[pos] != 34:
            return -1
        pos = json_text(c, s, pos, size, &key)
        if pos < 0:
            return -1
        p.key = key.p
        p.key_len = key.n
        pos = ws(s, pos)
        if s[pos] != 58:
            return -1
        pos = json_label(c, s, ws(s, pos + 1), size, &p.value)
        if pos < 0 or set_pair(pairs, count, cap, &p) < 0:
            return -1
        pos = ws(s, pos)
        if s[pos] == 44:
            pos = ws(s, pos + 1)
        elif s[pos] == 125:
            return pos + 1
        else:
            return -1


cdef int nanos_digits(const unsigned char* p, Py_ssize_t n, long long* micros) noexcept:
    """Unix nanoseconds as ASCII digits (``_nanos``), above 0, as µs (``timestamp_from_nanos``);
    -1 when not, or past 19 digits once leading zeros are gone."""
    cdef Py_ssize_t a = 0, i
    cdef unsigned long long u = 0
    if n == 0:
        return -1
    for i in range(n):
        if not is_digit(p[i]):
            return -1
    while a < n - 1 and p[a] == 48:
        a += 1
    if n - a > MAX_NANOS_DIGITS:
        return -1
    for i in range(a, n):
        u = u * 10 + (p[i] - 48)
    if u == 0:
        return -1
    micros[0] = <long long>(u // 1000)
    return 0


cdef Py_ssize_t json_entry(Context* c, Buf* out, const unsigned char* s, Py_ssize_t pos,
                           Py_ssize_t size) except -2:
    """The entry array at s[pos] (``[``) written as its line; the position after it, or -1."""
    cdef Value t, line
    cdef Py_ssize_t start
    cdef long long micros
    pos = ws(s, pos + 1)
    if s[pos] == 34:
        pos = json_text(c, s, pos, size, &t)
        if pos < 0 or nanos_digits(t.p, t.n, &micros) < 0:
            return -1
    elif 49 <= s[pos] <= 57:  # an integer (a leading 0 is not JSON, and 0 is no time)
        start = pos
        while is_digit(s[pos]):
            pos += 1
        if s[pos] == 46 or s[pos] == 101 or s[pos] == 69:  # a float: not nanoseconds
            return -1
        if nanos_digits(s + start, pos - start, &micros) < 0 or pos - start == MAX_NANOS_DIGITS \
                and memcmp(s + start, b"9223372036854775807", MAX_NANOS_DIGITS) > 0:
            return -1  # (msgspec reads past int64 too, but the Python path is the place for that)
    else:
        return -1
    pos = ws(s, pos)
    if s[pos] != 44:
        return -1
    pos = ws(s, pos + 1)
    if s[pos] != 34:
        return -1
    pos = json_text(c, s, pos, size, &line)
    if pos < 0:
        return -1
    pos = ws(s, pos)
    start_entry(c)
    if s[pos] == 44:
        pos = ws(s, pos + 1)
        if s[pos] != 123:
            return -1
        pos = json_pairs(c, s, pos, size, c.work, &c.n_work, MAX_WORK)
        if pos < 0:
            return -1
        pos = ws(s, pos)
    if s[pos] != 93 or write_entry(c, out, micros, &line) < 0:
        return -1
    return pos + 1


cdef Py_ssize_t json_stream(Context* c, Buf* out, const unsigned char* s, Py_ssize_t pos, Py_ssize_t size,
                            Py_ssize_t* count) except -2:
    """The stream object at s[pos] (``{``), its entries written (``count`` counts them); the
    position after it, or -1."""
    cdef Value key
    cdef bint seen_stream = False, seen_values = False
    c.n_labels = 0
    pos = ws(s, pos + 1)
    if s[pos] == 125:
        return pos + 1
    while True:
        if s[pos] != 34:
            return -1
        pos = json_text(c, s, pos, size, &key)
        if pos < 0:
            return -1
        pos = ws(s, pos)
        if s[pos] != 58:
            return -1
        pos = ws(s, pos + 1)
        if is_key_text(&key, b"stream", 6):
            if seen_stream or seen_values:  # the labels after entries already written: not ours
                return -1
            seen_stream = True
            if s[pos] == 123:
                pos = json_pairs(c, s, pos, size, c.labels, &c.n_labels, MAX_LABELS)
            else:
                pos = json_label(c, s, pos, size, &key)  # null: no labels
                if pos >= 0 and key.kind != V_NONE:
                    return -1
        elif is_key_text(&key, b"values", 6):
            if seen_values:
                return -1
            seen_values = True
            if s[pos] == 91:
                pos = ws(s, pos + 1)
                if s[pos] == 93:
                    pos += 1
                else:
                    while True:
                        if s[pos] != 91:
                            return -1
                        pos = json_entry(c, out, s, pos, size)
                        if pos < 0:
                            return -1
                        count[0] += 1
                        pos = ws(s, pos)
                        if s[pos] == 44:
                            pos = ws(s, pos + 1)
                        elif s[pos] == 93:
                            pos += 1
                            break
                        else:
                            return -1
            else:
                pos = json_label(c, s, pos, size, &key)  # null: no entries
                if pos >= 0 and key.kind != V_NONE:
                    return -1
        else:  # "labels" (the legacy form) or a key the codec does not read
            return -1
        if pos < 0:
            return -1
        pos = ws(s, pos)
        if s[pos] == 44:
            pos = ws(s, pos + 1)
        elif s[pos] == 125:
            return pos + 1
        else:
            return -1


cdef Py_ssize_t json_push(Context* c, Buf* out, const unsigned char* s, Py_ssize_t size) except -2:
    """A JSON push body written as lines; how many, or -1 (declined)."""
    cdef Value key
    cdef Py_ssize_t count = 0, pos = ws(s, 0)
    if s[pos] != 123:
        return -1
    pos = ws(s, pos + 1)
    if s[pos] != 34:
        return -1
    pos = json_text(c, s, pos, size, &key)
    if pos < 0 or not is_key_text(&key, b"streams", 7):
        return -1
    pos = ws(s, pos)
    if s[pos] != 58:
        return -1
    pos = ws(s, pos + 1)
    if s[pos] != 91:
        return -1
    pos = ws(s, pos + 1)
    if s[pos] == 93:
        pos += 1
    else:
        while True:
            if s[pos] != 123:
                return -1
            pos = json_stream(c, out, s, pos, size, &count)
            if pos < 0:
                return -1
            pos = ws(s, pos)
            if s[pos] == 44:
                pos = ws(s, pos + 1)
            elif s[pos] == 93:
                pos += 1
                break
            else:
                return -1
    pos = ws(s, pos)
    if s[pos] != 125:  # (another top-level key: the codec ignores it, this path does not read it)
        return -1
    pos = ws(s, pos + 1)
    return count if pos == size else -1


# --- a protobuf push ----------------------------------------------------------------------------
#   PushRequest { repeated Stream streams = 1; }
#   Stream      { string labels = 1; repeated Entry entries = 2; }
#   Entry       { Timestamp timestamp = 1; string line = 2; repeated LabelPair structuredMetadata = 3; }
#   LabelPair   { string name = 1; string value = 2; }
#   Timestamp   { int64 seconds = 1; int32 nanos = 2; }

cdef inline bint label_space(unsigned char b) noexcept:
    return b == 32 or b == 9


cdef inline bint only_space(const unsigned char* p, Py_ssize_t i, Py_ssize_t n) noexcept:
    while i < n and label_space(p[i]):
        i += 1
    return i == n


cdef int parse_labels(Context* c, const unsigned char* p, Py_ssize_t n) except -2:
    """Labels text (``{app="api", env="prod"}``) into ``c.labels`` as ``parse_labels`` reads it
    (a value's ``\\n``, ``\\t``, ``\\"`` and ``\\\\`` unescaped, any other backslash kept, a comma
    after the last label allowed); -1 when it is not UTF-8, does not parse, or holds whitespace
    other than spaces and tabs between its tokens (``\\s`` and ``strip`` are Unicode's)."""
    cdef Py_ssize_t i = 0, start
    cdef Pair pair
    cdef unsigned char b
    cdef char* d
    cdef char* value
    c.n_labels = 0
    if utf8_chars(p, n) < 0:
        return -1
    while i < n and label_space(p[i]):
        i += 1
    if i >= n or p[i] != 123:
        return -1
    i += 1
    while True:
        while i < n and label_space(p[i]):
            i += 1
        if i < n and p[i] == 125:  # the end (after a comma, or of no labels)
            return 0 if only_space(p, i + 1, n) else -1
        # a name
        if i >= n or not (p[i] == 95 or 97 <= (p[i] | 32) <= 122):  # [a-zA-Z_]
            return -1
        start = i
        while i < n and (p[i] == 95 or is_digit(p[i]) or 97 <= (p[i] | 32) <= 122):
            i += 1
        pair.key = p + start
        pair.key_len = i - start
        while i < n and label_space(p[i]):
            i += 1
        if i >= n or p[i] != 61:
            return -1
        i += 1
        while i < n and label_space(p[i]):
            i += 1
        if i >= n or p[i] != 34:
            return -1
        i += 1
        # the value: up to the first quote without a backslash before it
        value = d = reserve(&c.texts, n - i)
        while True:
            if i >= n:
                return -1
            b = p[i]
            if b == 34:
                break
            if b == 92:
                if i + 1 >= n or p[i + 1] == 10:  # (``.`` takes no newline)
                    return -1
                b = p[i + 1]
                if b == 110:
                    d[0] = 10
                elif b == 116:
                    d[0] = 9
                elif b == 34 or b == 92:
                    d[0] = <char>b
                else:  # kept as it is; what follows the backslash is copied as it comes
                    d[0] = 92
                    d += 1
                    i += 1
                    continue
                d += 1
                i += 2
                continue
            d[0] = <char>b
            d += 1
            i += 1
        commit(&c.texts, d, "loki label")
        i += 1
        text_value(&pair.value, <const unsigned char*>value, d - value, V_TEXT,
                   utf8_chars(<const unsigned char*>value, d - value))
        if set_pair(c.labels, &c.n_labels, MAX_LABELS, &pair) < 0:
            return -1
        while i < n and label_space(p[i]):
            i += 1
        if i < n and p[i] == 44:
            i += 1
        elif i < n and p[i] == 125:
            return 0 if only_space(p, i + 1, n) else -1
        else:
            return -1


cdef Py_ssize_t small_varint(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end,
                             unsigned long long* v) noexcept:
    """``varint``, but -1 for a tenth byte with bits past the 64th (what the runtime may refuse)."""
    cdef Py_ssize_t stop = varint(s, pos, end, v)
    if stop - pos == 10 and s[stop - 1] > 1:
        return -1
    return stop


cdef int timestamp(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, long long* micros) noexcept:
    """A Timestamp message as µs (``seconds * 10**9 + nanos``, then ``// 1000``), above 0 ns;
    -1 when it is not the plain case."""
    cdef int field, wire
    cdef unsigned long long u = 0
    cdef long long seconds = 0, nanos = 0, q
    cdef bint has_seconds = False, has_nanos = False
    while pos < end:
        pos = tag(s, pos, end, &field, &wire)
        if pos < 0:
            return -1
        if field == 1 or field == 2:
            if wire != 0 or (has_seconds if field == 1 else has_nanos):
                return -1
            pos = small_varint(s, pos, end, &u)
            if field == 1:
                has_seconds = True
                if u > MAX_SECONDS:  # (a negative int64 too)
                    return -1
                seconds = <long long>u
            else:
                has_nanos = True
                nanos = <long long>(<int>(<unsigned int>(u & 0xFFFFFFFFULL)))  # int32, as the runtime
        else:
            pos = skip_field(s, pos, end, wire)
        if pos < 0:
            return -1
    if seconds < 3 and seconds * 1000000000 + nanos <= 0:  # (from 3 s on, no int32 can make it 0)
        return -1
    q = nanos // 1000
    if q * 1000 > nanos:  # C division truncates: floor it, as Python's // does
        q -= 1
    micros[0] = seconds * 1000000 + q
    return 0


cdef Py_ssize_t utf8_field(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, int wire,
                           Value* v) noexcept:
    """A string field (read as bytes by the codec, then decoded) into v; the position after it, or
    -1 when it is not UTF-8."""
    cdef Py_ssize_t n, chars
    if wire != 2:
        return -1
    pos = length(s, pos, end, &n)
    if pos < 0:
        return -1
    chars = utf8_chars(s + pos, n)
    if chars < 0:
        return -1
    text_value(v, s + pos, n, V_TEXT, chars)
    return pos + n


cdef int label_pair(Context* c, const unsigned char* s, Py_ssize_t pos, Py_ssize_t end) noexcept:
    """A LabelPair of the entry's structured metadata, set into the entry's dict; -1 to decline."""
    cdef int field, wire
    cdef bint has_name = False, has_value = False
    cdef Pair p
    cdef Value v
    text_value(&v, s, 0, V_TEXT, 0)
    p.key = s
    p.key_len = 0
    p.value = v
    while pos < end:
        pos = tag(s, pos, end, &field, &wire)
        if pos < 0:
            return -1
        if field == 1 and not has_name:
            has_name = True
            pos = utf8_field(s, pos, end, wire, &v)
            p.key = v.p
            p.key_len = v.n
        elif field == 2 and not has_value:
            has_value = True
            pos = utf8_field(s, pos, end, wire, &p.value)
        elif field == 1 or field == 2:
            return -1  # given twice: the last one counts, let the runtime say so
        else:
            pos = skip_field(s, pos, end, wire)
        if pos < 0:
            return -1
    return set_pair(c.work, &c.n_work, MAX_WORK, &p)


cdef int proto_entry(Context* c, Buf* out, const unsigned char* s, Py_ssize_t pos, Py_ssize_t end) except -2:
    """An Entry message written as its line; -1 to decline."""
    cdef int field, wire
    cdef Py_ssize_t n
    cdef bint has_time = False, has_line = False
    cdef long long micros = 0
    cdef Value line
    text_value(&line, s, 0, V_TEXT, 0)
    start_entry(c)
    while pos < end:
        pos = tag(s, pos, end, &field, &wire)
        if pos < 0:
            return -1
        if field == 1 or field == 3:
            if wire != 2 or (field == 1 and has_time):  # (a message given twice is merged)
                return -1
            pos = length(s, pos, end, &n)
            if pos < 0:
                return -1
            if field == 1:
                has_time = True
                if timestamp(s, pos, pos + n, &micros) < 0:
                    return -1
            elif label_pair(c, s, pos, pos + n) < 0:
                return -1
            pos += n
        elif field == 2:
            if has_line:
                return -1
            has_line = True
            pos = utf8_field(s, pos, end, wire, &line)
        else:
            pos = skip_field(s, pos, end, wire)
        if pos < 0:
            return -1
    if not has_time:  # 0 ns: no time
        return -1
    return write_entry(c, out, micros, &line)


cdef Py_ssize_t proto_stream(Context* c, Buf* out, const unsigned char* s, Py_ssize_t pos,
                             Py_ssize_t end) except -2:
    """A Stream message, its entries written; how many, or -1 (declined)."""
    cdef int field, wire
    cdef Py_ssize_t n = 0, at = -1, labels_n = 0, count = 0, start = pos
    # the labels first (a sender may write them after the entries)
    while pos < end:
        pos = tag(s, pos, end, &field, &wire)
        if pos < 0:
            return -1
        if field == 1 or field == 2:
            if wire != 2 or (field == 1 and at >= 0):
                return -1
            pos = length(s, pos, end, &n)
            if pos < 0:
                return -1
            if field == 1:
                at = pos
                labels_n = n
            pos += n
        else:
            pos = skip_field(s, pos, end, wire)
            if pos < 0:
                return -1
    if at < 0 or parse_labels(c, s + at, labels_n) < 0:
        return -1
    pos = start
    while pos < end:
        pos = tag(s, pos, end, &field, &wire)
        if field == 2:
            pos = length(s, pos, end, &n)
            if proto_entry(c, out, s, pos, pos + n) < 0:
                return -1
            count += 1
            pos += n
        else:
            pos = skip_field(s, pos, end, wire)  # (checked above)
    return count


cdef Py_ssize_t proto_push(Context* c, Buf* out, const unsigned char* s, Py_ssize_t end) except -2:
    """A PushRequest written as lines; how many, or -1 (declined)."""
    cdef int field, wire
    cdef Py_ssize_t pos = 0, n, got, count = 0
    while pos < end:
        pos = tag(s, pos, end, &field, &wire)
        if pos < 0:
            return -1
        if field == 1:
            if wire != 2:
                return -1
            pos = length(s, pos, end, &n)
            if pos < 0:
                return -1
            got = proto_stream(c, out, s, pos, pos + n)
            if got < 0:
                return -1
            count += got
            pos += n
        else:
            pos = skip_field(s, pos, end, wire)
            if pos < 0:
                return -1
    return count


# --- the entry points ---------------------------------------------------------------------------

ctypedef Py_ssize_t (*PushReader)(Context* c, Buf* out, const unsigned char* s, Py_ssize_t size) except -2


cdef object transcoded(bytes data, bytes default_service, bytes peer_host, bytes end_line, PushReader read):
    """(lines, count) of a push that ``read`` writes, or None when it declines (or holds no entry:
    the codec's answer)."""
    cdef const unsigned char* s = <const unsigned char*>PyBytes_AS_STRING(data)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(data), count
    cdef Buf out
    cdef char* texts = NULL
    cdef Context* c = <Context*>malloc(sizeof(Context))
    if c == NULL:
        raise MemoryError()
    out.data = NULL
    try:
        # (the bytes objects stay referenced by the caller for the call)
        text_value(&c.service, <const unsigned char*>PyBytes_AS_STRING(default_service),
                   PyBytes_GET_SIZE(default_service), V_TEXT, 0)
        text_value(&c.peer, <const unsigned char*>PyBytes_AS_STRING(peer_host), PyBytes_GET_SIZE(peer_host),
                   V_TEXT, 0)
        c.service.chars = utf8_chars(c.service.p, c.service.n)
        c.peer.chars = utf8_chars(c.peer.p, c.peer.n)
        if c.service.chars < 0 or c.peer.chars < 0:
            return None
        c.tail = PyBytes_AS_STRING(end_line)
        c.ntail = PyBytes_GET_SIZE(end_line)
        c.n_labels = c.n_work = 0
        texts = <char*>malloc(size + 16)
        if texts == NULL:
            raise MemoryError()
        buf_fixed(&c.texts, texts, size + 16)  # every text is shorter than what it is read from
        buf_open(&out, 2 * size + 4096)
        count = read(c, &out, s, size)
        if count <= 0:
            return None
        return PyBytes_FromStringAndSize(out.data, out.len), count
    finally:
        free(out.data)
        free(texts)
        free(c)


def transcode_json(bytes body not None, bytes default_service not None, bytes peer_host not None,
                   bytes end_line not None = b"}\n"):
    """(stored JSON lines, each ending with ``end_line``, count) of a JSON push body, or None (see
    the module docstring). ``default_service`` and ``peer_host`` are UTF-8."""
    return transcoded(body, default_service, peer_host, end_line, json_push)


def transcode_push(bytes payload not None, bytes default_service not None, bytes peer_host not None,
                   bytes end_line not None = b"}\n"):
    """(stored JSON lines, each ending with ``end_line``, count) of a ``PushRequest`` protobuf (snappy
    already undone), or None (see the module docstring)."""
    return transcoded(payload, default_service, peer_host, end_line, proto_push)
