# An OTLP log record, its resource and scope as read from either encoding, and the codec's mapping
# of them onto a stored line (``OtlpCodec._add``), shared by the protobuf and the OTLP/JSON
# transcoders (textual include, after ``_buffer.pxi`` and ``_pairs.pxi``). The readers fill the
# structs; ``write_record`` declines what the mapping would write in another order or the schema
# may refuse.

cdef enum:
    MAX_PAIRS = 256  # attributes of one resource or one record that are read (more: declined)


cdef struct Resource:
    int n
    int service  # the index of service.name in pairs, -1 when none
    int host  # of host.name
    Pair pairs[MAX_PAIRS]


cdef struct Scope:
    const unsigned char* name
    Py_ssize_t name_len
    const unsigned char* version
    Py_ssize_t version_len


cdef struct Record:
    unsigned long long time
    unsigned long long observed
    int severity  # (protobuf: its level is the caller's, from these two)
    Py_ssize_t severity_text_len
    Value body
    Value trace  # as the entry writes it: bytes in hex (protobuf), or text (OTLP/JSON); n 0 when none
    Value span
    const unsigned char* event
    Py_ssize_t event_len
    int n
    Pair pairs[MAX_PAIRS]


cdef struct Context:
    const unsigned char* service  # the codec's default service
    Py_ssize_t service_len
    Py_ssize_t service_chars
    const unsigned char* peer  # the client's address: the default host
    Py_ssize_t peer_len
    Py_ssize_t peer_chars
    unsigned long long now
    const char* tail  # how each line ends
    Py_ssize_t ntail


cdef inline void clear_record(Record* r, const unsigned char* s) noexcept:
    """A record with no field given (``s``: any valid pointer, for the empty texts)."""
    r.time = r.observed = 0
    r.severity = 0
    r.severity_text_len = r.event_len = 0
    r.event = s
    text_value(&r.body, s, 0, V_NONE, 0)
    text_value(&r.trace, s, 0, V_NONE, 0)
    text_value(&r.span, s, 0, V_NONE, 0)
    r.n = 0


cdef int resource_names(Resource* r) noexcept:
    """Where service.name and host.name are among the resource's attributes; -1 when a name comes
    twice (the codec's dict keeps the last value in the first place: not this path's business)."""
    cdef int i
    if not all_unique(r.pairs, r.n):
        return -1
    for i in range(r.n):
        if is_key(&r.pairs[i], b"service.name", 12):
            r.service = i
        elif is_key(&r.pairs[i], b"host.name", 9):
            r.host = i
    return 0


cdef inline bint empty(Value* v):
    """What ``_text(value) or default`` replaces by the default: nothing, or an empty string."""
    return v.kind == V_NONE or ((v.kind == V_TEXT or v.kind == V_HEX) and v.n == 0)


cdef bint taken(Resource* res, Record* r, char* promoted, const char* name, Py_ssize_t n):
    """Whether an attribute the mapping adds (``span_id``...) is named like one already there."""
    cdef int i
    for i in range(res.n):
        if i != res.service and i != res.host and is_key(&res.pairs[i], name, n):
            return True
    for i in range(r.n):
        if not promoted[i] and is_key(&r.pairs[i], name, n):
            return True
    return False


cdef int write_record(Buf* out, Context* ctx, Resource* res, Scope* sc, Record* r, int level) except -2:
    """The record's stored line (``level``: 0-5, the caller's reading of its severity); -1 when it
    is not the plain case (the line is left unfinished: the caller drops the output)."""
    cdef Value service, host, message, added
    cdef Value opt[N_OPTIONAL]
    cdef char promoted[MAX_PAIRS]
    cdef int i, j, field, n_attrs = 0, got
    cdef bint has_seq = False, first = True
    cdef long long seq = 0
    cdef unsigned long long nanos
    if not all_unique(r.pairs, r.n):
        return -1
    for i in range(N_OPTIONAL):
        opt[i].kind = V_NONE
        opt[i].n = opt[i].chars = 0
    # promote seq, client_id, user_id, session_id, trace_id (mapping.promote)
    for i in range(r.n):
        promoted[i] = 0
        field = known(&r.pairs[i])
        if field == K_NONE:
            continue
        if field == K_SEQ:
            got = seq_of(&r.pairs[i].value, &seq)
            if got < 0:
                return -1
            if got:
                has_seq = promoted[i] = True
            continue
        if r.pairs[i].value.kind == V_NONE:
            continue  # stays, and an attribute without a value is left out
        if opt[field].kind != V_NONE:  # user_id and user.id both given: let Python say which wins
            return -1
        opt[field] = r.pairs[i].value
        promoted[i] = True
    if r.trace.n:  # the record's own trace id wins over an attribute
        opt[O_TRACE] = r.trace
    # a record attribute named like a resource attribute: the codec's dict keeps the resource's
    # place for it; not this path's business
    for i in range(r.n):
        if promoted[i]:
            continue
        for j in range(res.n):
            if j != res.service and j != res.host and same_key(&r.pairs[i], &res.pairs[j]):
                return -1
    if (r.span.n and taken(res, r, promoted, b"span_id", 7)) \
            or (sc.name_len and taken(res, r, promoted, b"otel.scope.name", 15)) \
            or (sc.version_len and taken(res, r, promoted, b"otel.scope.version", 18)) \
            or (r.event_len and taken(res, r, promoted, b"event_name", 10)):
        return -1
    # the schema's limits
    if res.service >= 0 and not empty(&res.pairs[res.service].value):
        service = res.pairs[res.service].value
    else:
        text_value(&service, ctx.service, ctx.service_len, V_TEXT, ctx.service_chars)
    if res.host >= 0 and not empty(&res.pairs[res.host].value):
        host = res.pairs[res.host].value
    else:
        text_value(&host, ctx.peer, ctx.peer_len, V_TEXT, ctx.peer_chars)
    message = r.body
    if service.chars < 1 or not within(&service, MAX_STRING) or not within(&host, MAX_STRING) \
            or not within(&message, MAX_MESSAGE):
        return -1
    for i in range(N_OPTIONAL):
        if not within(&opt[i], MAX_STRING):
            return -1
    for i in range(res.n):
        if i != res.service and i != res.host and res.pairs[i].value.kind != V_NONE:
            if not within(&res.pairs[i].value, MAX_ATTRIBUTE_VALUE):
                return -1
            n_attrs += 1
    for i in range(r.n):
        if not promoted[i] and r.pairs[i].value.kind != V_NONE:
            if not within(&r.pairs[i].value, MAX_ATTRIBUTE_VALUE):
                return -1
            n_attrs += 1
    n_attrs += (r.span.n > 0) + (sc.name_len > 0) + (sc.version_len > 0) + (r.event_len > 0)
    if n_attrs > MAX_ATTRIBUTES or not within(&r.span, MAX_ATTRIBUTE_VALUE) \
            or not text_within(sc.name, sc.name_len, MAX_ATTRIBUTE_VALUE) \
            or not text_within(sc.version, sc.version_len, MAX_ATTRIBUTE_VALUE) \
            or not text_within(r.event, r.event_len, MAX_ATTRIBUTE_VALUE):
        return -1
    # the time: the record's, else when it was observed, else when it was received
    nanos = r.time if r.time else (r.observed if r.observed else ctx.now)
    if put_head(out, <long long>(nanos // 1000), level, &service, &message, &host, opt) < 0:
        return -1
    if n_attrs:
        put(out, b',"attributes":{', 15)
        for i in range(res.n):
            if i != res.service and i != res.host and res.pairs[i].value.kind != V_NONE:
                put_pair(out, res.pairs[i].key, res.pairs[i].key_len, &res.pairs[i].value, &first)
        for i in range(r.n):
            if not promoted[i] and r.pairs[i].value.kind != V_NONE:
                put_pair(out, r.pairs[i].key, r.pairs[i].key_len, &r.pairs[i].value, &first)
        if r.span.n:
            put_pair(out, b"span_id", 7, &r.span, &first)
        if sc.name_len:
            text_value(&added, sc.name, sc.name_len, V_TEXT, 0)
            put_pair(out, b"otel.scope.name", 15, &added, &first)
        if sc.version_len:
            text_value(&added, sc.version, sc.version_len, V_TEXT, 0)
            put_pair(out, b"otel.scope.version", 18, &added, &first)
        if r.event_len:
            text_value(&added, r.event, r.event_len, V_TEXT, 0)
            put_pair(out, b"event_name", 10, &added, &first)
        put_byte(out, 125)
    put_tail(out, opt, has_seq, seq, ctx.tail, ctx.ntail)
    return 0
