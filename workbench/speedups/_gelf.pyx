# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""GELF messages (each one JSON object, as UDP and TCP deliver them) straight to stored JSON lines.

``transcode(raws, default_service, peer_host, now_micros, end_line)`` returns (the lines that
``workbench.shippers.gelf.GelfCodec.messages`` and ``normalise`` would store for the list of
messages, each ending with ``end_line``, their count), or ``None`` as soon as one message is
outside the plain case; the codec then decodes the messages with msgspec and maps each in
Python, which says which message is bad and why. The mapping is the codec's (its docstring has
the table); this module only writes it faster. ``peer_host`` is the sender's address (the host of
a message without one), ``now_micros`` the time of a message without a timestamp.

The plain case, message by message:

* the bytes are one JSON object with only JSON whitespace around it, its keys each given once
  (by their text: ``"_a"`` and ``"\\u005fa"`` are one key);
* every value is a string, an integer within int64 (not ``-0``), ``true``, ``false`` or
  ``null``; a number with a fraction or an exponent only as the ``timestamp`` (the mapping writes
  other numbers as msgspec formats floats); no arrays or objects, not even under keys the mapping
  does not keep;
* ``short_message`` a string; ``timestamp`` absent, null, an integer, or a number or string of
  digits, ``.``, ``e``, ``+`` and ``-`` that Python's ``float`` reads, giving an instant in years
  1-9999 (``_buffer.pxi``'s ``epoch_micros_text``: rounded as ``timestamp_from_seconds`` rounds);
* a ``level`` string of ASCII (its level word is read after ``str.strip`` and ``str.lower``:
  Unicode's spaces and cases are left to Python);
* an additional field ``_name`` whose name is also a standard field given (``_file`` with
  ``file``) is not; nor two fields that promote to one entry field (``_user_id`` and
  ``_user.id``), nor a ``_seq`` of more digits than int64 holds;
* what the schema admits (``_buffer.pxi``'s limits: service 1-256 code points, host and the
  optional fields up to 256, the message up to 65536, at most 128 attributes of up to 8192).

Reading past a message is never needed: a bytes object ends with a NUL, which no token can
continue, so the scanners stop there without a bounds check (the string scans' 16-byte loads
check the length). A NUL inside a message stops them the same way, and the message is declined.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdlib cimport free, malloc
from libc.string cimport memcmp

include "_buffer.pxi"
include "_jsontext.pxi"
include "_pairs.pxi"

cdef enum:
    MAX_MEMBERS = 256  # keys of one message that are read (more: declined)
    MAX_INT_DIGITS = 19
    MAX_TIME_DIGITS = 12  # |integer seconds| of more digits is past year 9999 anyway
    V_FRACTION = 8  # a value kind: a number with a fraction or an exponent (its token in p, n)
    # what a top-level key is to the mapping; the first ones are each one member at most
    R_MESSAGE = 0  # short_message
    R_TIME = 1  # timestamp
    R_LEVEL = 2  # level
    R_HOST = 3  # host
    R_STANDARD = 4  # full_message, facility, file, line (4-7): attributes, in that order
    N_SINGLE = 8
    R_FIELD = 8  # an additional field ``_name``: ``name`` in the mapping's pairs
    R_IGNORED = 9  # version, ``_id``, ``_`` and every other key: read, not kept


cdef struct Message:
    int n
    Pair members[MAX_MEMBERS]  # the keys and values in order (a field's key without its underscore)
    unsigned int sig[MAX_MEMBERS]  # each key's length and end bytes: compared before the keys
    char role[MAX_MEMBERS]
    int n_pairs
    Pair pairs[MAX_MEMBERS]  # the mapping's ``pairs`` dict: the standard fields, then the others
    char gone[MAX_MEMBERS]  # taken out of it by the mapping (service, promoted fields)


cdef struct Context:
    Value service  # the codec's default service
    Value peer  # the sender's address: the default host
    long long now
    const char* tail  # how each line ends
    Py_ssize_t ntail


# --- reading JSON ---------------------------------------------------------------------------------

cdef inline Py_ssize_t ws(const unsigned char* s, Py_ssize_t i) noexcept:
    """Past JSON whitespace (the NUL after the bytes stops it)."""
    while s[i] == 32 or s[i] == 10 or s[i] == 13 or s[i] == 9:
        i += 1
    return i


cdef Py_ssize_t number(const unsigned char* s, Py_ssize_t pos, Value* v) noexcept:
    """A JSON number at s[pos] into v: V_INT with its value, or V_FRACTION with its token; the
    position after it, or -1 when it is not JSON or an integer not taken (-0, outside int64)."""
    cdef Py_ssize_t i = pos, n_digits, k
    cdef bint negative = s[i] == 45
    cdef unsigned long long u = 0
    if negative:
        i += 1
    if s[i] == 48:
        i += 1
    elif 49 <= s[i] <= 57:
        while is_digit(s[i]):
            i += 1
    else:
        return -1
    n_digits = i - pos - negative
    v.kind = V_INT
    if s[i] == 46:
        i += 1
        if not is_digit(s[i]):
            return -1
        while is_digit(s[i]):
            i += 1
        v.kind = V_FRACTION
    if s[i] == 101 or s[i] == 69:
        i += 1
        if s[i] == 43 or s[i] == 45:
            i += 1
        if not is_digit(s[i]):
            return -1
        while is_digit(s[i]):
            i += 1
        v.kind = V_FRACTION
    v.p = s + pos
    v.n = i - pos
    v.chars = 20  # (at most, as an integer's text: only the limits read it)
    if v.kind == V_INT:
        if n_digits > MAX_INT_DIGITS or (negative and s[pos + 1] == 48):
            return -1
        for k in range(pos + negative, pos + negative + n_digits):
            u = u * 10 + (s[k] - 48)  # (19 digits fit 64 unsigned bits)
        if u > 9223372036854775807ULL + negative:
            return -1
        v.i = <long long>(0ULL - u) if negative else <long long>u
    return i


cdef Py_ssize_t scalar(const unsigned char* s, Py_ssize_t pos, Py_ssize_t size, char** text, bint keep,
                       Value* v) noexcept:
    """A string, number, true, false or null at s[pos] into v; the position after it, or -1. A
    string's text is its body, or with escapes decoded at ``text[0]`` (moved past it) when
    ``keep``."""
    cdef unsigned char c = s[pos]
    cdef Py_ssize_t stop
    cdef int flags
    if c == 34:
        stop = scan_string(s, pos + 1, size, &v.chars, &flags)
        if stop < 0:
            return -1
        v.kind = V_TEXT
        v.p = s + pos + 1
        v.n = stop - pos - 1
        if flags & ESCAPED and keep:
            v.p = <const unsigned char*>text[0]
            text[0] = put_unescaped(text[0], s, pos + 1, stop)
            v.n = <const unsigned char*>text[0] - v.p
        return stop + 1
    if c == 45 or is_digit(c):
        return number(s, pos, v)
    v.p = s + pos
    v.n = 0
    # each byte is read only when the one before matched, so never past the NUL
    if c == 116 and s[pos + 1] == 114 and s[pos + 2] == 117 and s[pos + 3] == 101:
        v.kind = V_BOOL
        v.i = 1
        v.chars = 4
        return pos + 4
    if c == 102 and s[pos + 1] == 97 and s[pos + 2] == 108 and s[pos + 3] == 115 and s[pos + 4] == 101:
        v.kind = V_BOOL
        v.i = 0
        v.chars = 5
        return pos + 5
    if c == 110 and s[pos + 1] == 117 and s[pos + 2] == 108 and s[pos + 3] == 108:
        v.kind = V_NONE
        v.chars = 0
        return pos + 4
    return -1  # arrays, objects, anything else


cdef inline bint named(const unsigned char* k, Py_ssize_t n, const char* name, Py_ssize_t name_n) noexcept:
    return n == name_n and memcmp(k, name, n) == 0


cdef int standard_field(const unsigned char* k, Py_ssize_t n) noexcept:
    """full_message, facility, file, line: 0-3; else -1."""
    if named(k, n, b"full_message", 12):
        return 0
    if named(k, n, b"facility", 8):
        return 1
    if named(k, n, b"file", 4):
        return 2
    if named(k, n, b"line", 4):
        return 3
    return -1


cdef int role_of(const unsigned char* k, Py_ssize_t n) noexcept:
    """What a top-level key is to the mapping (the R_ constants)."""
    cdef int standard
    if n > 1 and k[0] == 95:
        return R_IGNORED if named(k, n, b"_id", 3) else R_FIELD
    if named(k, n, b"short_message", 13):
        return R_MESSAGE
    if named(k, n, b"timestamp", 9):
        return R_TIME
    if named(k, n, b"level", 5):
        return R_LEVEL
    if named(k, n, b"host", 4):
        return R_HOST
    standard = standard_field(k, n)
    return R_STANDARD + standard if standard >= 0 else R_IGNORED


cdef Py_ssize_t read_message(const unsigned char* s, Py_ssize_t size, char** text, Message* m) noexcept:
    """The members of the object that the bytes hold into m (keys and kept strings with escapes
    decoded at ``text[0]``, moved past them); 0, or -1 when it is not the plain case."""
    cdef Py_ssize_t pos = ws(s, 0), stop, chars
    cdef int flags, i
    cdef Pair* p
    cdef char role
    m.n = 0
    if s[pos] != 123:
        return -1
    pos = ws(s, pos + 1)
    if s[pos] == 125:
        return -1  # no short_message
    while True:
        if s[pos] != 34 or m.n >= MAX_MEMBERS:
            return -1
        stop = scan_string(s, pos + 1, size, &chars, &flags)
        if stop < 0:
            return -1
        p = &m.members[m.n]
        p.key = s + pos + 1
        p.key_len = stop - pos - 1
        if flags & ESCAPED:
            p.key = <const unsigned char*>text[0]
            text[0] = put_unescaped(text[0], s, pos + 1, stop)
            p.key_len = <const unsigned char*>text[0] - p.key
        m.sig[m.n] = (<unsigned int>p.key_len << 16) ^ ((<unsigned int>p.key[0] << 8) ^ p.key[p.key_len - 1]
                                                        if p.key_len else 0)
        for i in range(m.n):
            if m.sig[i] == m.sig[m.n] and same_key(&m.members[i], p):
                return -1  # a key twice: which value the dict keeps is Python's to say
        role = <char>role_of(p.key, p.key_len)
        m.role[m.n] = role
        pos = ws(s, stop + 1)
        if s[pos] != 58:
            return -1
        pos = scalar(s, ws(s, pos + 1), size, text, role != R_IGNORED, &p.value)
        if pos < 0 or (p.value.kind == V_FRACTION and role != R_TIME):
            return -1
        m.n += 1
        pos = ws(s, pos)
        if s[pos] == 44:
            pos = ws(s, pos + 1)
        elif s[pos] == 125:
            break
        else:
            return -1
    return 0 if ws(s, pos + 1) == size else -1


# --- the mapping ----------------------------------------------------------------------------------

cdef int find_pair(Message* m, const char* name, Py_ssize_t n) noexcept:
    """The place of a key in the mapping's pairs, or -1."""
    cdef int i
    for i in range(m.n_pairs):
        if is_key(&m.pairs[i], name, n):
            return i
    return -1


cdef inline bint filled(Message* m, int i) noexcept:
    """The pair holds a non-empty string (what the mapping takes as a service)."""
    return i >= 0 and m.pairs[i].value.kind == V_TEXT and m.pairs[i].value.n > 0


cdef int micros_of(Context* c, Value* v, long long* micros) except -2:
    """The message's time in µs (``timestamp_from_seconds``; absent or null: now), or -1."""
    if v == NULL or v.kind == V_NONE:
        micros[0] = c.now
        return 0
    if v.kind == V_INT:
        if v.n - (v.p[0] == 45) > MAX_TIME_DIGITS:
            return -1
        micros[0] = v.i * 1000000
        return 0
    if v.kind == V_FRACTION or v.kind == V_TEXT:
        return epoch_micros_text(v.p, v.n, micros)
    return -1  # a boolean: not epoch seconds


cdef int pairs_of(Message* m, int* at) noexcept:
    """The mapping's ``pairs``: the standard fields given (not null), then the additional fields in
    order, without their underscore; -1 when one of those has a standard field's name."""
    cdef int i, k
    cdef Pair* p
    m.n_pairs = 0
    for k in range(4):
        i = at[R_STANDARD + k]
        if i >= 0 and m.members[i].value.kind != V_NONE:
            m.pairs[m.n_pairs] = m.members[i]
            m.gone[m.n_pairs] = 0
            m.n_pairs += 1
    for i in range(m.n):
        if m.role[i] != R_FIELD:
            continue
        p = &m.pairs[m.n_pairs]
        p[0] = m.members[i]
        p.key += 1
        p.key_len -= 1
        k = standard_field(p.key, p.key_len)
        if k >= 0 and at[R_STANDARD + k] >= 0 and m.members[at[R_STANDARD + k]].value.kind != V_NONE:
            return -1  # ``_file`` with ``file``: the dict keeps one, in the other's place
        m.gone[m.n_pairs] = 0
        m.n_pairs += 1
    return 0


cdef int write_message(Buf* out, Context* c, Message* m) except -2:
    """The stored line of one message read into m; -1 when it is not the plain case (the line is
    left unfinished: the caller drops the output)."""
    cdef int at[N_SINGLE]
    cdef int i, k, field, got, level = 2, n_attrs = 0
    cdef bint has_seq = False, first = True
    cdef long long seq = 0, micros = 0
    cdef Value service, host
    cdef Value* message
    cdef Value* v
    cdef Value opt[N_OPTIONAL]
    cdef Pair* p
    for k in range(N_SINGLE):
        at[k] = -1
    for i in range(m.n):
        if m.role[i] < N_SINGLE:
            at[<int>m.role[i]] = i
    if at[R_MESSAGE] < 0 or m.members[at[R_MESSAGE]].value.kind != V_TEXT:
        return -1  # the Python path says why it is refused
    message = &m.members[at[R_MESSAGE]].value
    if micros_of(c, &m.members[at[R_TIME]].value if at[R_TIME] >= 0 else NULL, &micros) < 0:
        return -1
    if at[R_LEVEL] >= 0:
        got = text_level(&m.members[at[R_LEVEL]].value)
        if got == -2:
            return -1
        if got >= 0:
            level = got  # (no level in it: INFO, level_from_text's default here)
    host = c.peer
    if at[R_HOST] >= 0 and m.members[at[R_HOST]].value.kind == V_TEXT and m.members[at[R_HOST]].value.n > 0:
        host = m.members[at[R_HOST]].value
    if pairs_of(m, at) < 0:
        return -1
    # the service: _service, else the first of _service_name, _container_name, _tag (only
    # service_name is taken out of the attributes)
    i = find_pair(m, b"service", 7)
    if filled(m, i):
        service = m.pairs[i].value
        m.gone[i] = 1
    else:
        service = c.service
        i = find_pair(m, b"service_name", 12)
        if filled(m, i):
            service = m.pairs[i].value
            m.gone[i] = 1
        else:
            i = find_pair(m, b"container_name", 14)
            if not filled(m, i):
                i = find_pair(m, b"tag", 3)
            if filled(m, i):
                service = m.pairs[i].value
    # promote seq, client_id, user_id, session_id, trace_id (mapping.promote; a null stays, and is
    # left out of the attributes)
    for k in range(N_OPTIONAL):
        opt[k].kind = V_NONE
        opt[k].n = opt[k].chars = 0
    for i in range(m.n_pairs):
        p = &m.pairs[i]
        if m.gone[i] or p.value.kind == V_NONE:
            continue
        field = known(p)
        if field == K_NONE:
            continue
        if field == K_SEQ:
            got = seq_of(&p.value, &seq)
            if got < 0:
                return -1
            if got:
                has_seq = True
                m.gone[i] = 1
            continue
        if opt[field].kind != V_NONE:  # user_id and user.id both given: let Python say which wins
            return -1
        opt[field] = p.value
        m.gone[i] = 1
    # the schema's limits
    if service.chars < 1 or not within(&service, MAX_STRING) or not within(&host, MAX_STRING) \
            or not within(message, MAX_MESSAGE):
        return -1
    for k in range(N_OPTIONAL):
        if not within(&opt[k], MAX_STRING):
            return -1
    for i in range(m.n_pairs):
        v = &m.pairs[i].value
        if not m.gone[i] and v.kind != V_NONE:
            if not within(v, MAX_ATTRIBUTE_VALUE):
                return -1
            n_attrs += 1
    if n_attrs > MAX_ATTRIBUTES:
        return -1
    if put_head(out, micros, level, &service, message, &host, opt) < 0:
        return -1
    if n_attrs:
        put(out, b',"attributes":{', 15)
        for i in range(m.n_pairs):
            p = &m.pairs[i]
            if not m.gone[i] and p.value.kind != V_NONE:
                put_pair(out, p.key, p.key_len, &p.value, &first)
        put_byte(out, 125)
    put_tail(out, opt, has_seq, seq, c.tail, c.ntail)
    return 0


cdef int text_arg(Value* v, bytes b) except -1:
    """A UTF-8 argument as a text value; -1 when it is not UTF-8."""
    text_value(v, <const unsigned char*>PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b), V_TEXT, 0)
    v.chars = utf8_chars(v.p, v.n)
    return 0 if v.chars >= 0 else -1


def transcode(list raws not None, bytes default_service not None, bytes peer_host not None,
              long long now_micros, bytes end_line not None = b"}\n"):
    """(stored JSON lines, each ending with ``end_line``, count) of a list of GELF messages (bytes,
    each one JSON object), or None (see the module docstring). ``default_service`` and
    ``peer_host`` are UTF-8; ``now_micros`` is the time of a message without a timestamp."""
    cdef Py_ssize_t size, total = 0, count = 0
    cdef const unsigned char* s
    cdef char* text_end
    cdef Buf out
    cdef Buf text  # the text of one message's keys and strings with escapes, decoded
    cdef Context ctx
    cdef Message* m
    for raw in raws:
        if type(raw) is not bytes:
            return None
        total += PyBytes_GET_SIZE(raw)
    if text_arg(&ctx.service, default_service) < 0 or text_arg(&ctx.peer, peer_host) < 0:
        return None
    ctx.now = now_micros
    ctx.tail = PyBytes_AS_STRING(end_line)
    ctx.ntail = PyBytes_GET_SIZE(end_line)
    m = <Message*>malloc(sizeof(Message))
    if m == NULL:
        raise MemoryError()
    out.data = NULL
    text.data = NULL
    try:
        buf_open(&out, total + total // 2 + 4096)
        buf_open(&text, 4096)
        for raw in raws:
            s = <const unsigned char*>PyBytes_AS_STRING(raw)
            size = PyBytes_GET_SIZE(raw)
            text.len = 0
            # decoded text is never longer than its JSON: one reservation for the message, so the
            # pointers into it stay good until the next message
            text_end = reserve(&text, size)
            if read_message(s, size, &text_end, m) < 0:
                return None
            commit(&text, text_end, "gelf text")
            if write_message(&out, &ctx, m) < 0:
                return None
            count += 1
        return PyBytes_FromStringAndSize(out.data, out.len), count
    finally:
        free(out.data)
        free(text.data)
        free(m)
