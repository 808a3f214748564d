# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The entries of a Fluent Forward PackedForward message (a MessagePack stream of ``[time,
record]`` arrays) straight to stored JSON lines.

``transcode(entries, tag, default_service, peer_host, end_line)`` returns (the lines that
``workbench.shippers.forward.ForwardCodec`` and ``normalise`` would store for the stream, each
ending with ``end_line``, their count), or ``None`` as soon as anything is outside the plain
case; the codec then unpacks the stream in Python, which says which entry is bad and why. The
mapping is the codec's (its docstring has the table); this module only writes it faster.

The plain case: the stream is well-formed MessagePack to its last byte; each entry is an array
of exactly two, a time and a map; the time is an integer (epoch seconds) or an EventTime (fixext 8
of type 0: seconds and nanoseconds); the map's keys are strings (valid UTF-8, each once) and its
values strings (valid UTF-8), bins that are valid UTF-8 (the codec decodes them to text),
integers in int64, booleans or nil; a message key (``message``, ``log``, ``msg``) holds a
non-empty string (without one the codec writes the record as JSON: declined); a level key the
mapping reads holds an integer, a boolean, nil or ASCII text that does not start or end with
whitespace; no two keys promote to the same field (``user_id`` and ``user.id``); and the entry
is within the schema's limits (``_buffer.pxi``). Floats, arrays, maps and ext types as values, a
float time, other ext types, keys that are not strings: declined.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdlib cimport free, malloc
from libc.string cimport memcmp

include "_buffer.pxi"
include "_pairs.pxi"

cdef enum:
    MAX_PAIRS = 256  # keys of one record that are read (more: declined)
    # what a record key is to the mapping: the first of each list that holds a value wins
    R_OTHER = 0
    R_MESSAGE = 1  # message, log, msg (1-3)
    R_LEVEL = 4  # level, severity, log.level (4-6)
    R_SERVICE = 7  # service, service.name, service_name (7-9)
    R_HOST = 10  # host, hostname (10-11)
    R_CONTAINER = 12  # container_name: the service when none is given (stays an attribute)
    R_TAG = 13  # the record's own tag: the message's is not added
    R_KNOWN = 14  # seq, client_id, user_id... (``known``)
    N_ROLES = 15


# ``base.level_from_text``'s tables: its words (lowercase ASCII) and the syslog severities 0-7, as
# the entry's levels 0-5 (TRACE..FATAL)
cdef extern from *:
    """
    #include <string.h>
    static int wb_level_word(const unsigned char *p, Py_ssize_t n) {
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
    static int wb_syslog_level(long long severity) {
        static const int levels[8] = {5, 5, 5, 4, 3, 2, 2, 1};
        return levels[severity];
    }
    """
    int level_word "wb_level_word"(const unsigned char* p, Py_ssize_t n) noexcept
    int syslog_level "wb_syslog_level"(long long severity) noexcept


cdef long long MAX_SECONDS = 1000000000000  # |integer time| beyond this is past year 9999 anyway


cdef struct Record:
    long long micros
    int n
    Pair pairs[MAX_PAIRS]
    unsigned int sig[MAX_PAIRS]  # each key's length and end bytes: compared before the keys
    char role[MAX_PAIRS]
    char gone[MAX_PAIRS]  # popped by the mapping, promoted, or nil: not an attribute


cdef struct Context:
    Value tag
    Value service  # the codec's default service
    Value peer  # the sender's address: the default host
    const char* tail  # how each line ends
    Py_ssize_t ntail


# --- reading MessagePack ------------------------------------------------------------------------

cdef inline Py_ssize_t be(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, int width,
                          unsigned long long* v):
    """A big-endian unsigned integer of ``width`` bytes at pos: the position after it, or -1."""
    cdef unsigned long long r = 0
    cdef int i
    if end - pos < width:
        return -1
    for i in range(width):
        r = (r << 8) | s[pos + i]
    v[0] = r
    return pos + width


cdef inline Py_ssize_t sized(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, int width,
                             Py_ssize_t* n):
    """A length of ``width`` bytes, then that many bytes: where they start, or -1."""
    cdef unsigned long long u = 0
    pos = be(s, pos, end, width, &u)
    if pos < 0 or u > <unsigned long long>(end - pos):
        return -1
    n[0] = <Py_ssize_t>u
    return pos


cdef inline Py_ssize_t text_at(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, bint bin,
                               Py_ssize_t* n):
    """A str (or, with ``bin``, a bin) header at pos: where its bytes start, or -1."""
    cdef unsigned char c = s[pos]
    if 0xA0 <= c <= 0xBF:
        n[0] = c & 31
        return pos + 1 if n[0] <= end - pos - 1 else -1
    if c == 0xD9 or c == 0xDA or c == 0xDB:
        return sized(s, pos + 1, end, 1 << (c - 0xD9), n)
    if bin and (c == 0xC4 or c == 0xC5 or c == 0xC6):
        return sized(s, pos + 1, end, 1 << (c - 0xC4), n)
    return -1


cdef inline Py_ssize_t count_at(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, unsigned char fix,
                                unsigned char wide, Py_ssize_t* n):
    """An array (``fix`` 0x90, ``wide`` 0xDC) or map (0x80, 0xDE) header: the position after it."""
    cdef unsigned char c
    cdef unsigned long long u = 0
    if pos >= end:
        return -1
    c = s[pos]
    if fix <= c <= fix + 15:
        n[0] = c & 15
        return pos + 1
    if c == wide or c == wide + 1:
        pos = be(s, pos + 1, end, 2 if c == wide else 4, &u)
        n[0] = <Py_ssize_t>u
        return pos
    return -1


cdef Py_ssize_t integer(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, long long* v):
    """An integer in int64 at pos: the position after it, or -1 (not one, or a uint64 past it)."""
    cdef unsigned char c = s[pos]
    cdef unsigned long long u = 0
    cdef int width
    if c < 0x80:
        v[0] = c
        return pos + 1
    if c >= 0xE0:
        v[0] = <long long>c - 256
        return pos + 1
    if 0xCC <= c <= 0xCF:
        pos = be(s, pos + 1, end, 1 << (c - 0xCC), &u)
        if pos < 0 or u > 9223372036854775807ULL:
            return -1
        v[0] = <long long>u
        return pos
    if 0xD0 <= c <= 0xD3:
        width = 1 << (c - 0xD0)
        pos = be(s, pos + 1, end, width, &u)
        if pos < 0:
            return -1
        if width < 8 and u >> (8 * width - 1):  # negative: sign-extend
            u |= ~0ULL << (8 * width)
        v[0] = <long long>u
        return pos
    return -1


cdef inline Py_ssize_t text_chars(const unsigned char* p, Py_ssize_t n):
    """``utf8_chars``, with short ASCII text (most keys and values) counted here."""
    cdef Py_ssize_t i
    cdef unsigned char high = 0
    if n > 24:
        return utf8_chars(p, n)
    for i in range(n):
        high |= p[i]
    return n if high < 0x80 else utf8_chars(p, n)


cdef Py_ssize_t value(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, Value* v):
    """A record value of the plain kinds into v: the position after it, or -1."""
    cdef unsigned char c = s[pos]
    cdef Py_ssize_t n = 0
    v.n = 0
    v.i = 0
    v.chars = 0
    v.p = s + pos
    if c == 0xC0:
        v.kind = V_NONE
        return pos + 1
    if c == 0xC2 or c == 0xC3:
        v.kind = V_BOOL
        v.i = c == 0xC3
        v.chars = 5 - v.i  # "true"/"false"
        return pos + 1
    if c < 0x80 or c >= 0xE0 or 0xCC <= c <= 0xD3:
        v.kind = V_INT
        v.chars = 20  # at most
        return integer(s, pos, end, &v.i)
    pos = text_at(s, pos, end, True, &n)
    if pos < 0:
        return -1  # floats, arrays, maps, ext types
    v.kind = V_TEXT
    v.p = s + pos
    v.n = n
    v.chars = text_chars(v.p, n)
    return pos + n if v.chars >= 0 else -1


cdef inline bint key_eq(Pair* p, const char* name, Py_ssize_t n):
    return memcmp(p.key, name, n) == 0


cdef int role_of(Pair* p):
    """What the key is to the mapping (the R_ constants)."""
    cdef Py_ssize_t n = p.key_len
    if n == 3:
        if key_eq(p, b"log", 3):
            return R_MESSAGE + 1
        if key_eq(p, b"msg", 3):
            return R_MESSAGE + 2
        if key_eq(p, b"tag", 3):
            return R_TAG
        if key_eq(p, b"seq", 3):
            return R_KNOWN
    elif n == 4:
        if key_eq(p, b"host", 4):
            return R_HOST
    elif n == 5:
        if key_eq(p, b"level", 5):
            return R_LEVEL
    elif n == 7:
        if key_eq(p, b"message", 7):
            return R_MESSAGE
        if key_eq(p, b"service", 7):
            return R_SERVICE
    elif n == 8:
        if key_eq(p, b"severity", 8):
            return R_LEVEL + 1
        if key_eq(p, b"hostname", 8):
            return R_HOST + 1
    elif n == 9:
        if key_eq(p, b"log.level", 9):
            return R_LEVEL + 2
    elif n == 12:
        if key_eq(p, b"service.name", 12):
            return R_SERVICE + 1
        if key_eq(p, b"service_name", 12):
            return R_SERVICE + 2
    elif n == 14:
        if key_eq(p, b"container_name", 14):
            return R_CONTAINER
    return R_KNOWN if known(p) != K_NONE else R_OTHER


cdef Py_ssize_t entry(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, Record* r):
    """One ``[time, record]`` entry into r: the position after it, or -1 (declined)."""
    cdef Py_ssize_t n = 0, i
    cdef unsigned long long seconds = 0, nanos = 0
    cdef long long t = 0
    cdef Pair* p
    pos = count_at(s, pos, end, 0x90, 0xDC, &n)
    if pos < 0 or n != 2 or pos >= end:
        return -1
    if s[pos] == 0xD7:  # fixext 8: an EventTime when of type 0
        if end - pos < 10 or s[pos + 1] != 0:
            return -1
        be(s, pos + 2, end, 4, &seconds)
        be(s, pos + 6, end, 4, &nanos)
        r.micros = <long long>(seconds * 1000000 + nanos // 1000)
        pos += 10
    else:
        pos = integer(s, pos, end, &t)
        if pos < 0 or t > MAX_SECONDS or t < -MAX_SECONDS:
            return -1
        r.micros = t * 1000000
    pos = count_at(s, pos, end, 0x80, 0xDE, &n)
    if pos < 0 or n > MAX_PAIRS:
        return -1
    r.n = <int>n
    for i in range(n):
        p = &r.pairs[i]
        if pos >= end:
            return -1
        pos = text_at(s, pos, end, False, &p.key_len)
        if pos < 0 or text_chars(s + pos, p.key_len) < 0:
            return -1
        p.key = s + pos
        r.sig[i] = (<unsigned int>p.key_len << 16) ^ ((<unsigned int>p.key[0] << 8) ^ p.key[p.key_len - 1]
                                                     if p.key_len else 0)
        pos += p.key_len
        if pos >= end:
            return -1
        pos = value(s, pos, end, &p.value)
        if pos < 0:
            return -1
    return pos


# --- the mapping --------------------------------------------------------------------------------

cdef int level_of(Value* v) except -3:
    """``level_from_text(value, "")``: 0-5, -1 when it is no level, -2 when not sure."""
    cdef Py_ssize_t i
    cdef unsigned char low[16]
    if v.kind == V_INT:
        return syslog_level(v.i) if 0 <= v.i <= 7 else -1
    if v.kind != V_TEXT or v.n == 0:
        return -1  # nil, booleans, ""
    if v.p[0] <= 32 or v.p[v.n - 1] <= 32:
        return -2  # what ``strip`` may take away: Python's business
    for i in range(v.n):
        if v.p[i] >= 0x80:
            return -2  # Unicode whitespace, digits and case: Python's
    if v.n == 1 and is_digit(v.p[0]):
        return syslog_level(v.p[0] - 48) if v.p[0] <= 55 else -1
    if v.n > 13:
        return -1  # longer than every level word
    for i in range(v.n):
        low[i] = v.p[i] + 32 if 65 <= v.p[i] <= 90 else v.p[i]
    return level_word(low, v.n)


cdef bint keys_unique(Record* r):
    """No key given twice (``all_unique``, the keys' signatures compared first)."""
    cdef int i, j
    for i in range(1, r.n):
        for j in range(i):
            if r.sig[j] == r.sig[i] and same_key(&r.pairs[i], &r.pairs[j]):
                return False
    return True


cdef inline bint all_slashes(Value* v):
    cdef Py_ssize_t i
    for i in range(v.n):
        if v.p[i] != 47:
            return False
    return True


cdef inline bint filled(Record* r, int i):
    """The pair holds a non-empty string (what ``pop_text`` takes)."""
    return i >= 0 and r.pairs[i].value.kind == V_TEXT and r.pairs[i].value.n > 0


cdef int write_entry(Buf* out, Context* ctx, Record* r) except -2:
    """The entry's stored line; -1 when it is not the plain case (the caller drops the output)."""
    cdef int at[N_ROLES]
    cdef int i, k, field, got, level = 2, n_attrs = 0
    cdef int message = -1, service_at = -1, host_at = -1
    cdef bint has_seq = False, first = True, add_tag
    cdef long long seq = 0
    cdef Value service, host
    cdef Value opt[N_OPTIONAL]
    cdef Pair* p
    if not keys_unique(r):
        return -1
    for k in range(N_ROLES):
        at[k] = -1
    for i in range(r.n):
        r.role[i] = <char>role_of(&r.pairs[i])
        r.gone[i] = r.pairs[i].value.kind == V_NONE
        if r.role[i] != R_OTHER and r.role[i] != R_KNOWN:
            at[<int>r.role[i]] = i
    for k in range(3):
        if filled(r, at[R_MESSAGE + k]):
            message = at[R_MESSAGE + k]
            break
    if message < 0 or not within(&r.pairs[message].value, MAX_MESSAGE):
        return -1  # a record without a message is written as JSON: the Python path's
    r.gone[message] = True
    for k in range(3):
        i = at[R_LEVEL + k]
        if i < 0:
            continue
        got = level_of(&r.pairs[i].value)
        if got == -2:
            return -1
        if got >= 0:
            level = got
            r.gone[i] = True
            break
    for k in range(3):
        if filled(r, at[R_SERVICE + k]):
            service_at = at[R_SERVICE + k]
            break
    if service_at >= 0:
        service = r.pairs[service_at].value
        r.gone[service_at] = True
    elif at[R_CONTAINER] >= 0 and r.pairs[at[R_CONTAINER]].value.kind == V_TEXT \
            and not all_slashes(&r.pairs[at[R_CONTAINER]].value):
        service = r.pairs[at[R_CONTAINER]].value  # without its leading slashes (Docker's "/web")
        while service.n and service.p[0] == 47:
            service.p += 1
            service.n -= 1
            service.chars -= 1
    else:
        service = ctx.tag
    if service.n == 0:
        service = ctx.service
    for k in range(2):
        if filled(r, at[R_HOST + k]):
            host_at = at[R_HOST + k]
            break
    if host_at >= 0:
        host = r.pairs[host_at].value
        r.gone[host_at] = True
    else:
        host = ctx.peer
    add_tag = at[R_TAG] < 0 and ctx.tag.n > 0
    # promote seq, client_id, user_id, session_id, trace_id (mapping.promote)
    for k in range(N_OPTIONAL):
        opt[k].kind = V_NONE
        opt[k].n = opt[k].chars = 0
    for i in range(r.n):
        if r.role[i] != R_KNOWN or r.gone[i]:
            continue  # (a nil stays, and is left out of the attributes)
        field = known(&r.pairs[i])
        if field == K_SEQ:
            got = seq_of(&r.pairs[i].value, &seq)
            if got < 0:
                return -1
            if got:
                has_seq = r.gone[i] = True
            continue
        if opt[field].kind != V_NONE:  # user_id and user.id both given: let Python say which wins
            return -1
        opt[field] = r.pairs[i].value
        r.gone[i] = True
    # the schema's limits
    if service.chars < 1 or not within(&service, MAX_STRING) or not within(&host, MAX_STRING):
        return -1
    for k in range(N_OPTIONAL):
        if not within(&opt[k], MAX_STRING):
            return -1
    for i in range(r.n):
        if not r.gone[i]:
            if not within(&r.pairs[i].value, MAX_ATTRIBUTE_VALUE):
                return -1
            n_attrs += 1
    if add_tag:
        if not within(&ctx.tag, MAX_ATTRIBUTE_VALUE):
            return -1
        n_attrs += 1
    if n_attrs > MAX_ATTRIBUTES:
        return -1
    if put_head(out, r.micros, level, &service, &r.pairs[message].value, &host, opt) < 0:
        return -1
    if n_attrs:
        put(out, b',"attributes":{', 15)
        for i in range(r.n):
            if not r.gone[i]:
                p = &r.pairs[i]
                put_pair(out, p.key, p.key_len, &p.value, &first)
        if add_tag:
            put_pair(out, b"tag", 3, &ctx.tag, &first)
        put_byte(out, 125)
    put_tail(out, opt, has_seq, seq, ctx.tail, ctx.ntail)
    return 0


cdef int text_arg(Value* v, bytes b) except -1:
    """A UTF-8 argument as a text value; -1 when it is not UTF-8."""
    text_value(v, <const unsigned char*>PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b), V_TEXT, 0)
    v.chars = utf8_chars(v.p, v.n)
    return 0 if v.chars >= 0 else -1


def transcode(bytes entries not None, bytes tag not None, bytes default_service not None,
              bytes peer_host not None, bytes end_line not None = b"}\n"):
    """(stored JSON lines, each ending with ``end_line``, count) of a PackedForward entries
    stream (already gunzipped), or None (see the module docstring). ``tag`` (the message's),
    ``default_service`` and ``peer_host`` are UTF-8."""
    cdef const unsigned char* s = <const unsigned char*>PyBytes_AS_STRING(entries)
    cdef Py_ssize_t end = PyBytes_GET_SIZE(entries), pos = 0, count = 0
    cdef Buf out
    cdef Context ctx
    cdef Record* rec
    if text_arg(&ctx.tag, tag) < 0 or text_arg(&ctx.service, default_service) < 0 \
            or text_arg(&ctx.peer, peer_host) < 0:
        return None
    ctx.tail = PyBytes_AS_STRING(end_line)
    ctx.ntail = PyBytes_GET_SIZE(end_line)
    rec = <Record*>malloc(sizeof(Record))
    if rec == NULL:
        raise MemoryError()
    try:
        buf_open(&out, end * 2 + 4096)
        try:
            while pos < end:
                pos = entry(s, pos, end, rec)
                if pos < 0 or write_entry(&out, &ctx, rec) < 0:
                    return None
                count += 1
            return PyBytes_FromStringAndSize(out.data, out.len), count
        finally:
            free(out.data)
    finally:
        free(rec)
