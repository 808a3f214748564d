# Flat key/value pairs of a record and their mapping onto the entry (``mapping.promote``,
# ``attributes_of``), shared by the transcoders of binary protocols (textual include, after
# ``_buffer.pxi``): a value is read once into a ``Value`` (its text checked as UTF-8 and its code
# points counted), promoted or written as an attribute from there.

cdef enum:
    # what a value held
    V_NONE = 0  # nothing (nil, an empty AnyValue): the attribute is left out
    V_TEXT = 1  # a string: UTF-8
    V_INT = 2
    V_BOOL = 3
    V_HEX = 4  # bytes, written in hex (OTLP's bytes_value)
    # the entry's optional strings, in the order they are written
    O_USER = 0
    O_SESSION = 1
    O_TRACE = 2
    O_CLIENT = 3
    N_OPTIONAL = 4
    # what a record attribute's name promotes (mapping.KNOWN_FIELDS)
    K_NONE = -1
    K_SEQ = 4


cdef struct Value:
    int kind
    const unsigned char* p
    Py_ssize_t n
    long long i
    Py_ssize_t chars  # the length the entry gives it, in code points (counted once, when read)


cdef struct Pair:
    const unsigned char* key
    Py_ssize_t key_len
    Value value


cdef inline bint same_key(Pair* a, Pair* b):
    return a.key_len == b.key_len and memcmp(a.key, b.key, a.key_len) == 0


cdef inline bint is_key(Pair* p, const char* name, Py_ssize_t n):
    return p.key_len == n and memcmp(p.key, name, n) == 0


cdef bint all_unique(Pair* pairs, int n):
    cdef int i, j
    for i in range(n):
        for j in range(i + 1, n):
            if same_key(&pairs[i], &pairs[j]):
                return False
    return True


cdef int known(Pair* p):
    """The entry field a record attribute's name fills (mapping.KNOWN_FIELDS), or K_NONE."""
    if is_key(p, b"seq", 3):
        return K_SEQ
    if is_key(p, b"client_id", 9):
        return O_CLIENT
    if is_key(p, b"user_id", 7) or is_key(p, b"user.id", 7):
        return O_USER
    if is_key(p, b"session_id", 10) or is_key(p, b"session.id", 10):
        return O_SESSION
    if is_key(p, b"trace_id", 8) or is_key(p, b"trace.id", 8):
        return O_TRACE
    return K_NONE


cdef int seq_of(Value* v, long long* seq):
    """1 when the value is a seq (a non-negative integer, or ASCII digits), 0 when it stays an
    attribute, -1 when the digits overflow (the schema would refuse the record: declined)."""
    cdef Py_ssize_t i
    cdef unsigned long long u = 0
    if v.kind == V_INT:
        if v.i < 0:
            return 0
        seq[0] = v.i
        return 1
    if v.kind != V_TEXT or v.n == 0:
        return 0 if v.kind != V_HEX else -1  # hex digits may read as decimal ones: let Python say
    for i in range(v.n):
        if not is_digit(v.p[i]):
            return 0
    if v.n > 19:
        return -1
    for i in range(v.n):
        u = u * 10 + (v.p[i] - 48)
    if u > 9223372036854775807ULL:
        return -1
    seq[0] = <long long>u
    return 1


cdef inline bint within(Value* v, Py_ssize_t limit):
    return v.chars <= limit


cdef int put_value(Buf* out, Value* v) except -1:
    """The value as a JSON string body, as ``attributes_of`` and the codec's ``_text`` write it."""
    cdef Py_ssize_t k
    cdef char* d
    if v.kind == V_TEXT:
        put_escaped(out, v.p, v.n)
    elif v.kind == V_INT:
        put_int(out, v.i)
    elif v.kind == V_BOOL:
        puts(out, b"true" if v.i else b"false")
    elif v.kind == V_HEX:
        d = reserve(out, 2 * v.n)
        for k in range(v.n):
            d[2 * k] = HEX[v.p[k] >> 4]
            d[2 * k + 1] = HEX[v.p[k] & 15]
        commit(out, d + 2 * v.n, "put_value")
    return 0


cdef inline void text_value(Value* v, const unsigned char* p, Py_ssize_t n, int kind, Py_ssize_t chars):
    v.kind = kind
    v.p = p
    v.n = n
    v.chars = chars


cdef inline int put_pair(Buf* out, const unsigned char* key, Py_ssize_t key_len, Value* v, bint* first) except -1:
    if not first[0]:
        put_byte(out, 44)
    first[0] = False
    put_byte(out, 34)
    put_escaped(out, key, key_len)
    put(out, b'":"', 3)
    put_value(out, v)
    put_byte(out, 34)
    return 0


# --- a stored line: the fields before and after its attributes, in the schema's order ---------

cdef int put_head(Buf* out, long long micros, int level, Value* service, Value* message, Value* host,
                  Value* opt) except -2:
    """``{"timestamp":...`` through the optional strings (``opt``: N_OPTIONAL values, V_NONE when
    absent); -1 when the time is outside years 1-9999 (the caller drops the line)."""
    put(out, b'{"timestamp":"', 14)
    if put_timestamp(out, micros) < 0:
        return -1
    put(out, b'","level":"', 11)
    puts(out, entry_level(level))
    put(out, b'","service":"', 13)
    put_value(out, service)
    put(out, b'","message":"', 13)
    put_value(out, message)
    put(out, b'","host":"', 10)
    put_value(out, host)
    put_byte(out, 34)
    if opt[O_USER].kind != V_NONE:
        put(out, b',"user_id":"', 12)
        put_value(out, &opt[O_USER])
        put_byte(out, 34)
    if opt[O_SESSION].kind != V_NONE:
        put(out, b',"session_id":"', 15)
        put_value(out, &opt[O_SESSION])
        put_byte(out, 34)
    if opt[O_TRACE].kind != V_NONE:
        put(out, b',"trace_id":"', 13)
        put_value(out, &opt[O_TRACE])
        put_byte(out, 34)
    return 0


cdef int put_tail(Buf* out, Value* opt, bint has_seq, long long seq, const char* tail, Py_ssize_t ntail) except -1:
    """``client_id`` and ``seq`` when given, then how the line ends."""
    if opt[O_CLIENT].kind != V_NONE:
        put(out, b',"client_id":"', 14)
        put_value(out, &opt[O_CLIENT])
        put_byte(out, 34)
    if has_seq:
        put(out, b',"seq":', 7)
        put_int(out, seq)
    put(out, tail, ntail)
    return 0


# ``base.level_from_text``'s tables for ``text_level``: its words (lowercase ASCII) and the syslog
# severities 0-7, as the entry's levels 0-5 (TRACE..FATAL)
cdef extern from *:
    """
    #include <string.h>
    static int wb_pairs_level_word(const unsigned char *p, Py_ssize_t n) {
        static const struct { const char *word; Py_ssize_t n; int level; } words[] = {
            {"trace", 5, 0}, {"debug", 5, 1}, {"info", 4, 2}, {"information", 11, 2},
            {"informational", 13, 2}, {"notice", 6, 2}, {"warn", 4, 3}, {"warning", 7, 3},
            {"error", 5, 4}, {"err", 3, 4}, {"fatal", 5, 5}, {"critical", 8, 5}, {"crit", 4, 5},
            {"alert", 5, 5}, {"emerg", 5, 5}, {"emergency", 9, 5}, {"panic", 5, 5},
        };
        for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
            if (words[i].n == n && memcmp(words[i].word, p, (size_t)n) == 0)
                return words[i].level;
        return -1;
    }
    static int wb_pairs_syslog_level(long long severity) {
        static const int levels[8] = {5, 5, 5, 4, 3, 2, 2, 1};
        return levels[severity];
    }
    """
    int pairs_level_word "wb_pairs_level_word"(const unsigned char* p, Py_ssize_t n) noexcept
    int pairs_syslog_level "wb_pairs_syslog_level"(long long severity) noexcept


cdef inline bint strip_space(unsigned char c) noexcept:
    """An ASCII character ``str.strip`` takes away (tab to CR, the separators 0x1C-0x1F, space)."""
    return (9 <= c <= 13) or (28 <= c <= 32)


cdef int text_level(Value* v) noexcept:
    """``level_from_text(value, "")``: 0-5, -1 when it is no level, -2 when not sure (text beyond
    ASCII: Unicode's spaces, digits and cases are Python's business)."""
    cdef Py_ssize_t a = 0, b = v.n, i
    cdef unsigned char low[16]
    if v.kind == V_INT:
        return pairs_syslog_level(v.i) if 0 <= v.i <= 7 else -1
    if v.kind != V_TEXT:
        return -1  # nothing, booleans, bytes
    for i in range(v.n):
        if v.p[i] >= 0x80:
            return -2
    while a < b and strip_space(v.p[a]):
        a += 1
    while b > a and strip_space(v.p[b - 1]):
        b -= 1
    if b - a == 1 and is_digit(v.p[a]):
        return pairs_syslog_level(v.p[a] - 48) if v.p[a] <= 55 else -1
    if b - a > 13:
        return -1  # longer than every level word
    for i in range(b - a):
        low[i] = v.p[a + i] + 32 if 65 <= v.p[a + i] <= 90 else v.p[a + i]
    return pairs_level_word(low, b - a)
