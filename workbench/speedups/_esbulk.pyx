# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Elasticsearch bulk requests (``/_bulk``, ``/{index}/_bulk``) straight to stored JSON lines.

``transcode(body, default_index, default_service, peer_host, now_micros, id_prefix, first_id,
end_line)`` returns (the JSON lines that ``workbench.shippers.elasticsearch.ElasticsearchCodec``
would store for the body, each ending with ``end_line``; their count; how many ids it made; the
answer's items without their ``_seq_no``, each ended by a NUL), or ``None`` as soon as anything is
outside the plain case; the codec then decodes the body with msgspec and maps each document in
Python, which says which item is bad and why. ``default_index`` is the path's index (``None``:
none); a document's id, when its action gives none, is what the codec's ``_new_id`` makes of
``first_id``, ``first_id + 1``...: URL-safe base64 of ``id_prefix`` (7 bytes) and the number as 8
big-endian bytes. ``bulk_items(heads, first_seq_no)`` writes the answer's ``items`` (without the
brackets) from those heads, numbering them from ``first_seq_no``, as the codec's ``reply`` does.

The mapping is the codec's (its docstring and ``docs/protocol.md`` have the table); this module
only writes it faster. The plain case, line by line (blank lines skipped, each value alone on its
line):

* every action ``index`` or ``create`` (one member), its metadata an object of scalars: ``_index``
  a string or null (empty or null: the path's index, which must then be given), ``_id`` a string,
  an integer or null; other keys are read and ignored, as the codec ignores them;
* every action followed by its source line, an object: keys unique within each object (nested
  objects are flattened to dotted keys, a later key of the same dotted name taking the earlier
  one's place, as the codec's dict does), values strings, integers within int64 (not ``-0``),
  floats from 1e-4 to 1e16 (or zero) whose token is no shorter than ``repr`` writes them,
  booleans, null, nested objects, and arrays of those but objects (written back as msgspec writes
  them: the attribute's text);
* ``@timestamp`` (else ``timestamp``) absent, epoch milliseconds (an integer or ASCII digits), or
  ``put_rfc3339``'s shape (``YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+HH:MM|-HH:MM)``), giving an instant
  in years 1-9999;
* a ``log.level``/``level`` string in ASCII (its level word is read after ``str.strip`` and
  ``str.lower``: Unicode's spaces and cases are left to Python), a ``seq`` of digits within int64;
  at most 192 dotted keys to a document and 16 levels of nesting;
* what the schema admits (``_buffer.pxi``'s limits), so that no document is a 400 item.

Anything else (``update`` and ``delete``, other floats, objects in arrays, a key twice in one
object, a document the schema refuses, a line that is not JSON) declines the whole request.

Text is held as Python holds it (``Value``s of ``_pairs.pxi``, plain UTF-8): a string with escapes
is decoded into ``Context.texts``, a buffer as long as the body that never moves (no string's text,
and no array written back, is longer than its JSON), and written through ``put_escaped`` as
msgspec writes it. Reading past the body is never needed: a bytes object ends with a NUL, which
no token can continue, so the scanners stop there without a bounds check.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport PyObject
from libc.math cimport fabs
from libc.stdlib cimport free, malloc
from libc.string cimport memchr, memcmp, memcpy, strlen

include "_buffer.pxi"
include "_jsontext.pxi"
include "_pairs.pxi"

cdef extern from "Python.h":
    double PyOS_string_to_double(const char* s, char** endptr, PyObject* overflow_exception) except? -1.0
    char* PyOS_double_to_string(double val, char format_code, int precision, int flags, int* ptype) except NULL
    void PyMem_Free(void* p)
    int Py_DTSF_ADD_DOT_0

cdef enum:
    V_JSON = 5  # an array, an empty object or a float: its text is the JSON msgspec writes for it
    V_FLOAT = 6  # a number with a fraction or an exponent, as read (``float_value`` writes it)
    V_OTHER = 7  # an integer outside int64, or -0 (an int 0 to msgspec)
    MAX_FLOAT_TEXT = 32
    MAX_FIELDS = 192  # a document's dotted keys (more: declined)
    MAX_KEYS = 256  # keys of the objects being read, for the duplicates within one
    MAX_DEPTH = 16
    MAX_INT_DIGITS = 19
    MAX_MILLIS_DIGITS = 15  # more is past year 9999 anyway
    ID_PREFIX_BYTES = 7
    ID_CHARS = 20
    OP_INDEX = 0
    OP_CREATE = 1

cdef const char* BASE64URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


cdef struct Context:
    Value service  # the codec's default service
    Value peer  # the client's address: the default host
    Value index  # the path's index (V_NONE: none)
    long long now
    const unsigned char* id_prefix
    unsigned long long next_id
    Py_ssize_t made  # ids made
    const char* tail  # how each line ends
    Py_ssize_t ntail
    Buf texts  # the text of strings with escapes, and arrays written back (fixed: pointers stay)
    Buf names  # the dotted keys of nested values (it grows: pairs hold offsets until the end)
    int n_work
    Pair work[MAX_FIELDS]  # the flattened document, as the codec's dict holds it
    Py_ssize_t name_at[MAX_FIELDS]  # where a pair's key is in ``names``; -1: ``key`` points at it
    bint alive[MAX_FIELDS]  # not taken out (``pop``)
    int role[MAX_FIELDS]  # what its key is to the mapping (``role_of``)
    int n_keys
    const unsigned char* keys[MAX_KEYS]  # the keys of the objects being read, outermost first
    Py_ssize_t key_lens[MAX_KEYS]
    unsigned char id[ID_CHARS]  # the id made for the current action


# --- reading ------------------------------------------------------------------------------------

cdef inline Py_ssize_t ws(const unsigned char* s, Py_ssize_t i) noexcept:
    """Past JSON whitespace within a line (the NUL after the body stops it)."""
    while s[i] == 32 or s[i] == 9 or s[i] == 13:
        i += 1
    return i


cdef inline void set_text(Value* v, const char* text, Py_ssize_t n) noexcept:
    v.kind = V_TEXT
    v.p = <const unsigned char*>text
    v.n = n
    v.chars = n
    v.i = 0


cdef Py_ssize_t number(const unsigned char* s, Py_ssize_t pos, Value* v) noexcept:
    """The JSON number at s[pos]: V_INT (its token and value) for an integer within int64 but
    ``-0``, V_FLOAT (its token) for a fraction or an exponent, else V_OTHER; the position after
    it, or -1 when it is not JSON."""
    cdef Py_ssize_t i = pos, digits
    cdef bint negative = s[i] == 45, integer = True
    cdef unsigned long long value = 0
    cdef Py_ssize_t k
    if negative:
        i += 1
    if s[i] == 48:
        i += 1
    elif 49 <= s[i] <= 57:
        while is_digit(s[i]):
            i += 1
    else:
        return -1
    digits = i - pos - negative
    if s[i] == 46:
        i += 1
        if not is_digit(s[i]):
            return -1
        while is_digit(s[i]):
            i += 1
        integer = False
    if s[i] == 101 or s[i] == 69:
        i += 1
        if s[i] == 43 or s[i] == 45:
            i += 1
        if not is_digit(s[i]):
            return -1
        while is_digit(s[i]):
            i += 1
        integer = False
    v.p = s + pos
    v.n = v.chars = i - pos
    v.kind = V_FLOAT if not integer else V_OTHER
    if not integer or digits > MAX_INT_DIGITS or (negative and s[pos + 1] == 48):
        return i
    for k in range(pos + negative, pos + negative + digits):
        value = value * 10 + (s[k] - 48)  # (19 digits fit 64 unsigned bits)
    if value > 9223372036854775807ULL + negative:
        return i
    v.i = <long long>(0ULL - value) if negative else <long long>value
    v.kind = V_INT
    return i


cdef int float_value(Context* c, Value* v) except -2:
    """A V_FLOAT as V_JSON: its text as msgspec writes the float back, into ``c.texts``; -1 when
    not sure. msgspec reads the double correctly rounded, as ``PyOS_string_to_double`` does, and
    writes it as ``repr`` does from 1e-4 to 1e16 (past them their exponents differ); a text longer
    than the token is declined too (``c.texts`` holds no more than the body)."""
    cdef char token[MAX_FLOAT_TEXT + 1]
    cdef char* written
    cdef char* d
    cdef double x
    cdef Py_ssize_t n
    if v.n > MAX_FLOAT_TEXT:
        return -1
    memcpy(token, v.p, v.n)
    token[v.n] = 0
    x = PyOS_string_to_double(token, NULL, NULL)  # (a JSON number is a float's text; inf past DBL_MAX)
    if not (x == 0.0 or 1e-4 <= fabs(x) < 1e16):
        return -1
    written = PyOS_double_to_string(x, 114, 0, Py_DTSF_ADD_DOT_0, NULL)  # repr: 'r'
    try:
        n = strlen(written)
        if n > v.n:
            return -1
        d = reserve(&c.texts, n)
        memcpy(d, written, n)
        commit(&c.texts, d + n, "esbulk float")
    finally:
        PyMem_Free(written)
    v.kind = V_JSON
    v.p = <const unsigned char*>d
    v.n = v.chars = n
    return 0


cdef Py_ssize_t text(Context* c, const unsigned char* s, Py_ssize_t pos, Py_ssize_t size, Value* v) except -2:
    """The string at s[pos] (its quote) as V_TEXT: its text and code points; the position after
    it, or -1 when it is not JSON or not UTF-8."""
    cdef Py_ssize_t stop, chars
    cdef int flags
    cdef char* d
    stop = scan_string(s, pos + 1, size, &chars, &flags)
    if stop < 0:
        return -1
    v.kind = V_TEXT
    v.chars = chars
    v.i = 0
    if flags & ESCAPED:
        d = reserve(&c.texts, stop - pos - 1)
        v.p = <const unsigned char*>d
        d = put_unescaped(d, s, pos + 1, stop)
        v.n = d - <char*>v.p
        commit(&c.texts, d, "esbulk text")
    else:
        v.p = s + pos + 1
        v.n = stop - pos - 1
    return stop + 1


cdef Py_ssize_t scalar(Context* c, const unsigned char* s, Py_ssize_t pos, Py_ssize_t size, Value* v) except -2:
    """A string, number, true, false or null at s[pos] into v; the position after it, or -1."""
    cdef unsigned char ch = s[pos]
    if ch == 34:
        return text(c, s, pos, size, v)
    if ch == 45 or is_digit(ch):
        return number(s, pos, v)
    v.p = s + pos
    v.i = 0
    # each byte is read only when the one before matched, so never past the NUL
    if ch == 116 and s[pos + 1] == 114 and s[pos + 2] == 117 and s[pos + 3] == 101:
        v.kind = V_BOOL
        v.i = 1
        v.n = v.chars = 4
        return pos + 4
    if ch == 102 and s[pos + 1] == 97 and s[pos + 2] == 108 and s[pos + 3] == 115 and s[pos + 4] == 101:
        v.kind = V_BOOL
        v.n = v.chars = 5
        return pos + 5
    if ch == 110 and s[pos + 1] == 117 and s[pos + 2] == 108 and s[pos + 3] == 108:
        v.kind = V_NONE
        v.n = v.chars = 4
        return pos + 4
    return -1


cdef Py_ssize_t array(Context* c, const unsigned char* s, Py_ssize_t pos, Py_ssize_t size, int depth) except -2:
    """The array at s[pos] written into ``c.texts`` as msgspec writes it back (compact, strings
    in its escapes); the position after it, or -1 (an object or a float in it: declined)."""
    cdef Value v
    cdef Py_ssize_t stop, chars
    cdef int flags
    cdef char* d
    if depth >= MAX_DEPTH:
        return -1
    put_byte(&c.texts, 91)
    pos = ws(s, pos + 1)
    if s[pos] == 93:
        put_byte(&c.texts, 93)
        return pos + 1
    while True:
        if s[pos] == 34:
            stop = scan_string(s, pos + 1, size, &chars, &flags)
            if stop < 0:
                return -1
            put_byte(&c.texts, 34)
            d = reserve(&c.texts, stop - pos - 1)
            commit(&c.texts, put_text(d, s, pos + 1, stop, flags), "esbulk array")
            put_byte(&c.texts, 34)
            pos = stop + 1
        elif s[pos] == 91:
            pos = array(c, s, pos, size, depth + 1)
        else:
            pos = scalar(c, s, pos, size, &v)
            if pos < 0 or v.kind == V_OTHER:
                return -1
            if v.kind == V_FLOAT:
                if float_value(c, &v) < 0:  # (written in place: at the end of c.texts)
                    return -1
            else:
                put(&c.texts, <const char*>v.p, v.n)  # an integer's token, true, false, null
        if pos < 0:
            return -1
        pos = ws(s, pos)
        if s[pos] == 44:
            put_byte(&c.texts, 44)
            pos = ws(s, pos + 1)
        elif s[pos] == 93:
            put_byte(&c.texts, 93)
            return pos + 1
        else:
            return -1


cdef inline const unsigned char* key_of(Context* c, int i) noexcept:
    if c.name_at[i] < 0:
        return c.work[i].key
    return <const unsigned char*>c.names.data + c.name_at[i]


cdef int set_field(Context* c, Py_ssize_t prefix_at, Py_ssize_t prefix_n, Value* key, Value* v) except -2:
    """``flat[prefix + key] = value`` as the codec's dict does it: in the place of the key when
    it is there, else at the end; -1 when the document has too many keys."""
    cdef Py_ssize_t at = -1, n = key.n
    cdef const unsigned char* name = key.p
    cdef char* d
    cdef int i
    if prefix_n:
        at = c.names.len
        n = prefix_n + key.n
        d = reserve(&c.names, n)
        memcpy(d, c.names.data + prefix_at, prefix_n)
        commit(&c.names, copy(d + prefix_n, key.p, key.n), "esbulk name")
        name = <const unsigned char*>c.names.data + at
    for i in range(c.n_work):
        if c.work[i].key_len == n and memcmp(key_of(c, i), name, n) == 0:
            c.work[i].value = v[0]
            if at >= 0:
                c.names.len = at  # (the name is there already)
            return 0
    if c.n_work >= MAX_FIELDS:
        return -1
    c.work[c.n_work].key = name if at < 0 else NULL
    c.work[c.n_work].key_len = n
    c.work[c.n_work].value = v[0]
    c.name_at[c.n_work] = at
    c.alive[c.n_work] = True
    c.n_work += 1
    return 0


cdef Py_ssize_t members(Context* c, const unsigned char* s, Py_ssize_t pos, Py_ssize_t size,
                        Py_ssize_t prefix_at, Py_ssize_t prefix_n, int depth) except -2:
    """The object at s[pos] (``{``, not empty) flattened into ``c.work``, its keys under the
    dotted prefix ``c.names[prefix_at:prefix_at + prefix_n]``; the position after it, or -1."""
    cdef int level = c.n_keys, k
    cdef Py_ssize_t inner, at
    cdef Value key, v
    cdef char* d
    pos = ws(s, pos + 1)
    while True:
        if s[pos] != 34:
            return -1
        pos = text(c, s, pos, size, &key)
        if pos < 0:
            return -1
        for k in range(level, c.n_keys):  # a key twice: the dict keeps the last value, in the
            if c.key_lens[k] == key.n and memcmp(c.keys[k], key.p, key.n) == 0:  # first place
                return -1
        if c.n_keys >= MAX_KEYS:
            return -1
        c.keys[c.n_keys] = key.p
        c.key_lens[c.n_keys] = key.n
        c.n_keys += 1
        pos = ws(s, pos)
        if s[pos] != 58:
            return -1
        pos = ws(s, pos + 1)
        if s[pos] == 123:
            inner = ws(s, pos + 1)
            if s[inner] == 125:  # an empty object is a value (an attribute "{}")
                set_text(&v, b"{}", 2)
                v.kind = V_JSON
                pos = inner + 1
                if set_field(c, prefix_at, prefix_n, &key, &v) < 0:
                    return -1
            else:
                if depth + 1 >= MAX_DEPTH:
                    return -1
                at = c.names.len
                d = reserve(&c.names, prefix_n + key.n + 1)
                memcpy(d, c.names.data + prefix_at, prefix_n)
                d = copy(d + prefix_n, key.p, key.n)
                d[0] = 46
                commit(&c.names, d + 1, "esbulk prefix")
                pos = members(c, s, pos, size, at, prefix_n + key.n + 1, depth + 1)
        else:
            if s[pos] == 91:
                at = c.texts.len
                pos = array(c, s, pos, size, depth + 1)
                if pos < 0:
                    return -1
                v.kind = V_JSON
                v.p = <const unsigned char*>c.texts.data + at
                v.n = c.texts.len - at
                v.chars = utf8_chars(v.p, v.n)
            else:
                pos = scalar(c, s, pos, size, &v)
                if pos < 0 or v.kind == V_OTHER or (v.kind == V_FLOAT and float_value(c, &v) < 0):
                    return -1
            if set_field(c, prefix_at, prefix_n, &key, &v) < 0:
                return -1
        if pos < 0:
            return -1
        pos = ws(s, pos)
        if s[pos] == 44:
            pos = ws(s, pos + 1)
        elif s[pos] == 125:
            c.n_keys = level
            return pos + 1
        else:
            return -1


cdef Py_ssize_t source(Context* c, const unsigned char* s, Py_ssize_t pos, Py_ssize_t size) except -2:
    """The source object at s[pos] (``{``) flattened into ``c.work``; the position after it, or -1."""
    cdef Py_ssize_t inner = ws(s, pos + 1)
    cdef int i
    c.n_work = 0
    c.n_keys = 0
    c.names.len = 0
    if s[inner] == 125:
        return inner + 1
    pos = members(c, s, pos, size, 0, 0, 0)
    for i in range(c.n_work):  # ``names`` is done growing
        c.work[i].key = key_of(c, i)
    return pos


cdef void make_id(Context* c) noexcept:
    """The next id, as ``_new_id`` makes it, into ``c.id``."""
    cdef unsigned char raw[15]
    cdef int g, k
    memcpy(raw, c.id_prefix, ID_PREFIX_BYTES)
    for k in range(8):
        raw[ID_PREFIX_BYTES + k] = (c.next_id >> (56 - 8 * k)) & 0xFF
    for g in range(5):
        c.id[4 * g] = BASE64URL[raw[3 * g] >> 2]
        c.id[4 * g + 1] = BASE64URL[((raw[3 * g] & 3) << 4) | (raw[3 * g + 1] >> 4)]
        c.id[4 * g + 2] = BASE64URL[((raw[3 * g + 1] & 15) << 2) | (raw[3 * g + 2] >> 6)]
        c.id[4 * g + 3] = BASE64URL[raw[3 * g + 2] & 63]
    c.next_id += 1
    c.made += 1


cdef Py_ssize_t action(Context* c, const unsigned char* s, Py_ssize_t pos, Py_ssize_t size, int* op,
                       Value* index, Value* doc_id) except -2:
    """The action line's value at s[pos] (``{``): its operation, index and id (made when it gives
    none); the position after it, or -1."""
    cdef Value key, v, given_index, given_id
    given_index.kind = given_id.kind = V_NONE
    pos = ws(s, pos + 1)
    if s[pos] != 34:
        return -1
    pos = text(c, s, pos, size, &key)
    if pos < 0:
        return -1
    if key.n == 5 and memcmp(key.p, b"index", 5) == 0:
        op[0] = OP_INDEX
    elif key.n == 6 and memcmp(key.p, b"create", 6) == 0:
        op[0] = OP_CREATE
    else:
        return -1
    pos = ws(s, pos)
    if s[pos] != 58:
        return -1
    pos = ws(s, pos + 1)
    if s[pos] != 123:  # the metadata is an object
        return -1
    pos = ws(s, pos + 1)
    if s[pos] != 125:
        while True:
            if s[pos] != 34:
                return -1
            pos = text(c, s, pos, size, &key)
            if pos < 0:
                return -1
            pos = ws(s, pos)
            if s[pos] != 58:
                return -1
            pos = scalar(c, s, ws(s, pos + 1), size, &v)  # (an object or array: not ours)
            if pos < 0:
                return -1
            if key.n == 6 and memcmp(key.p, b"_index", 6) == 0:
                given_index = v  # given twice, the last one counts, as in the dict
            elif key.n == 3 and memcmp(key.p, b"_id", 3) == 0:
                given_id = v
            pos = ws(s, pos)
            if s[pos] == 44:
                pos = ws(s, pos + 1)
            elif s[pos] == 125:
                break
            else:
                return -1
    pos = ws(s, pos + 1)
    if s[pos] != 125:  # one member only
        return -1
    # ``meta.get("_index") or default_index``, which must be a string that is not empty
    if given_index.kind == V_TEXT and given_index.n > 0:
        index[0] = given_index
    elif given_index.kind == V_NONE or given_index.kind == V_TEXT:
        if c.index.kind != V_TEXT or c.index.n == 0:
            return -1
        index[0] = c.index
    else:
        return -1
    # ``str(given)``, else a new id
    if given_id.kind == V_TEXT:
        doc_id[0] = given_id
    elif given_id.kind == V_INT:
        doc_id[0] = given_id
        doc_id.kind = V_TEXT  # the token is its str()
    elif given_id.kind == V_NONE:
        make_id(c)
        set_text(doc_id, <const char*>c.id, ID_CHARS)
    else:
        return -1
    return pos + 1


# --- the mapping --------------------------------------------------------------------------------

cdef enum:
    # what a key is to the mapping: the names it looks up, in the order it tries them
    R_AT_TIMESTAMP = 0
    R_TIMESTAMP = 1
    R_MESSAGE = 2  # message, msg, log
    R_LOG_LEVEL = 5  # log.level, level
    R_SERVICE_NAME = 7  # service.name, service
    R_HOST_NAME = 9  # host.name, host.hostname, host
    R_INDEX = 12
    R_ID = 13
    N_ROLES = 14
    R_KNOWN = 14  # one of mapping.KNOWN_FIELDS
    R_OTHER = 15


cdef inline bint key_eq(Pair* p, const char* name, Py_ssize_t n) noexcept:
    return memcmp(p.key, name, n) == 0


cdef int role_of(Pair* p) noexcept:
    """What the key is to the mapping (the R_ constants)."""
    cdef Py_ssize_t n = p.key_len
    if n == 3:
        if key_eq(p, b"msg", 3):
            return R_MESSAGE + 1
        if key_eq(p, b"log", 3):
            return R_MESSAGE + 2
        if key_eq(p, b"_id", 3):
            return R_ID
    elif n == 4:
        if key_eq(p, b"host", 4):
            return R_HOST_NAME + 2
    elif n == 5:
        if key_eq(p, b"level", 5):
            return R_LOG_LEVEL + 1
    elif n == 6:
        if key_eq(p, b"_index", 6):
            return R_INDEX
    elif n == 7:
        if key_eq(p, b"message", 7):
            return R_MESSAGE
        if key_eq(p, b"service", 7):
            return R_SERVICE_NAME + 1
    elif n == 9:
        if key_eq(p, b"timestamp", 9):
            return R_TIMESTAMP
        if key_eq(p, b"log.level", 9):
            return R_LOG_LEVEL
        if key_eq(p, b"host.name", 9):
            return R_HOST_NAME
    elif n == 10:
        if key_eq(p, b"@timestamp", 10):
            return R_AT_TIMESTAMP
    elif n == 12:
        if key_eq(p, b"service.name", 12):
            return R_SERVICE_NAME
    elif n == 13:
        if key_eq(p, b"host.hostname", 13):
            return R_HOST_NAME + 1
    return R_KNOWN if known(p) != K_NONE else R_OTHER


cdef inline int first_of(int* at, int role, int n) noexcept:
    """The place of the first of n names (from ``role``) the document has, or -1."""
    cdef int k
    for k in range(role, role + n):
        if at[k] >= 0:
            return at[k]
    return -1


cdef int pop_text(Context* c, int* at, int role, int n) noexcept:
    """``mapping.pop_text`` over n names from ``role``: the first whose value is a string that is
    not empty, taken out; its place, or -1."""
    cdef int k, i
    for k in range(role, role + n):
        i = at[k]
        if i < 0:
            continue
        if c.work[i].value.kind == V_TEXT and c.work[i].value.n > 0:
            c.alive[i] = False
            return i
    return -1


cdef int pop_level(Context* c, int* at) noexcept:
    """``mapping.pop_level`` over log.level, level: 0-5 (INFO when none), -1 when not sure."""
    cdef int k, i, level
    for k in range(R_LOG_LEVEL, R_LOG_LEVEL + 2):
        i = at[k]
        if i < 0:
            continue
        level = text_level(&c.work[i].value)
        if level == -2:
            return -1
        if level >= 0:
            c.alive[i] = False
            return level
    return 2


cdef void as_text(Value* v, Value* out) noexcept:
    """The value as the str the codec makes of it (``msgspec.json.encode`` but for a string)."""
    out[0] = v[0]
    if v.kind == V_BOOL:
        set_text(out, b"true" if v.i else b"false", 4 if v.i else 5)
    elif v.kind == V_NONE:
        set_text(out, b"null", 4)
    else:
        out.kind = V_TEXT  # a string; an integer's token, an array's JSON: their text


cdef int stamp_micros(Value* v, long long* micros) except -2:
    """``_timestamp``: epoch millis (an integer, or ASCII digits) or an RFC 3339 string, in µs;
    -1 when not sure (the caller declines)."""
    cdef char storage[32]
    cdef const char* t
    cdef Buf stamp
    cdef Py_ssize_t a = 0, i
    cdef long long millis = 0
    if v.kind == V_INT:
        if v.n - (v.p[0] == 45) > MAX_MILLIS_DIGITS:
            return -1
        micros[0] = v.i * 1000
        return 0
    if v.kind != V_TEXT or v.n == 0:
        return -1
    for i in range(v.n):
        if not is_digit(v.p[i]):
            break
    else:  # ``int(value)`` of ASCII digits
        while a < v.n - 1 and v.p[a] == 48:
            a += 1
        if v.n - a > MAX_MILLIS_DIGITS:
            return -1
        for i in range(a, v.n):
            millis = millis * 10 + (v.p[i] - 48)
        micros[0] = millis * 1000
        return 0
    # ``put_rfc3339`` reads and checks the stamp and writes it in UTC, which is read back
    buf_fixed(&stamp, storage, sizeof(storage))
    if put_rfc3339(&stamp, v.p, 0, v.n) != v.n:
        return -1
    t = stamp.data
    micros[0] = (days_from_civil(digits(<const unsigned char*>t, 0, 4), digits(<const unsigned char*>t, 5, 2),
                                 digits(<const unsigned char*>t, 8, 2)) * 86400
                 + digits(<const unsigned char*>t, 11, 2) * 3600 + digits(<const unsigned char*>t, 14, 2) * 60
                 + digits(<const unsigned char*>t, 17, 2)) * 1000000
    if stamp.len == 27:  # ``.ffffffZ``
        micros[0] += digits(<const unsigned char*>t, 20, 6)
    return 0


cdef int set_meta(Context* c, int i, const char* name, Py_ssize_t n, Value* v) noexcept:
    """``flat[name] = value`` for ``_index`` and ``_id`` (``i``: its place, or -1); -1 when the
    document is full."""
    if i >= 0:
        c.work[i].value = v[0]
        return 0
    if c.n_work >= MAX_FIELDS:
        return -1
    c.work[c.n_work].key = <const unsigned char*>name
    c.work[c.n_work].key_len = n
    c.work[c.n_work].value = v[0]
    c.alive[c.n_work] = True
    c.role[c.n_work] = R_OTHER
    c.n_work += 1
    return 0


cdef int write_doc(Context* c, Buf* out, Value* index, Value* doc_id) except -2:
    """The stored line of the document read into ``c``; -1 when it is not the plain case (the
    line is left unfinished: the caller drops the output)."""
    cdef Value message, service, host, attribute
    cdef Value opt[N_OPTIONAL]
    cdef Value* v
    cdef int at[N_ROLES]
    cdef int i, field, got, level, role, n_attrs = 0
    cdef bint has_seq = False, first = True
    cdef long long seq = 0, micros = c.now
    for i in range(N_ROLES):
        at[i] = -1
    for i in range(c.n_work):  # (keys are unique: one place to a role)
        role = role_of(&c.work[i])
        c.role[i] = role
        if role < N_ROLES:
            at[role] = i
    i = first_of(at, R_AT_TIMESTAMP, 2)
    if i >= 0:
        c.alive[i] = False
        if stamp_micros(&c.work[i].value, &micros) < 0:
            return -1
    set_text(&message, b"", 0)
    i = first_of(at, R_MESSAGE, 3)
    if i >= 0:
        c.alive[i] = False
        as_text(&c.work[i].value, &message)
    level = pop_level(c, at)
    if level < 0:
        return -1
    i = pop_text(c, at, R_SERVICE_NAME, 2)
    service = c.work[i].value if i >= 0 else c.service
    i = pop_text(c, at, R_HOST_NAME, 3)
    host = c.work[i].value if i >= 0 else c.peer
    if set_meta(c, at[R_INDEX], b"_index", 6, index) < 0 or set_meta(c, at[R_ID], b"_id", 3, doc_id) < 0:
        return -1
    # promote seq, client_id, user_id, session_id, trace_id (mapping.promote: the last one wins)
    for i in range(N_OPTIONAL):
        opt[i].kind = V_NONE
    for i in range(c.n_work):
        v = &c.work[i].value
        if not c.alive[i] or v.kind == V_NONE:
            continue  # (a None stays, and attributes leave it out)
        if c.role[i] != R_KNOWN:
            n_attrs += 1
            continue
        field = known(&c.work[i])
        if field == K_SEQ:
            got = seq_of(v, &seq)
            if got < 0:
                return -1
            if got:
                has_seq = True
                c.alive[i] = False
            else:
                n_attrs += 1
            continue
        as_text(v, &opt[field])
        c.alive[i] = False
    # the schema's limits
    if service.chars < 1 or service.chars > MAX_STRING or host.chars > MAX_STRING \
            or message.chars > MAX_MESSAGE or n_attrs > MAX_ATTRIBUTES:
        return -1
    for i in range(N_OPTIONAL):
        if opt[i].kind != V_NONE and opt[i].chars > MAX_STRING:
            return -1
    for i in range(c.n_work):
        if c.alive[i] and c.work[i].value.chars > MAX_ATTRIBUTE_VALUE:
            return -1
    if put_head(out, micros, level, &service, &message, &host, opt) < 0:
        return -1
    put(out, b',"attributes":{', 15)  # (never empty: _index and _id are there)
    for i in range(c.n_work):
        v = &c.work[i].value
        if c.alive[i] and v.kind != V_NONE:
            if v.kind == V_JSON:
                as_text(v, &attribute)
                v = &attribute
            put_pair(out, c.work[i].key, c.work[i].key_len, v, &first)
    put_byte(out, 125)
    put_tail(out, opt, has_seq, seq, c.tail, c.ntail)
    return 0


cdef int write_head(Buf* heads, int op, Value* index, Value* doc_id) except -1:
    """The answer's item for a stored document, up to its ``_seq_no`` (``bulk_items`` adds it and
    the rest), ended by a NUL (no JSON text holds one)."""
    if op == OP_CREATE:
        put(heads, b'{"create":{"_index":"', 21)
    else:
        put(heads, b'{"index":{"_index":"', 20)
    put_escaped(heads, index.p, index.n)
    put(heads, b'","_id":"', 9)
    put_escaped(heads, doc_id.p, doc_id.n)
    puts(heads, b'","_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},'
                b'"_seq_no":')
    put_byte(heads, 0)
    return 0


# --- the body -----------------------------------------------------------------------------------

cdef inline Py_ssize_t next_line(const unsigned char* s, Py_ssize_t pos) noexcept:
    """Past blank lines (JSON whitespace and newlines; the NUL after the body stops it)."""
    while s[pos] == 32 or s[pos] == 10 or s[pos] == 13 or s[pos] == 9:
        pos += 1
    return pos


cdef inline Py_ssize_t line_end(const unsigned char* s, Py_ssize_t pos, Py_ssize_t size) noexcept:
    """Past the whitespace after a line's value and its newline; -1 when anything else follows."""
    pos = ws(s, pos)
    if pos >= size:
        return size
    return pos + 1 if s[pos] == 10 else -1


cdef int raw_text(Value* v, object text) except -1:
    """A default (bytes, UTF-8) as a V_TEXT value, V_NONE for None; -1 when not UTF-8."""
    cdef bytes b
    if text is None:
        v.kind = V_NONE
        return 0
    b = text
    v.kind = V_TEXT
    v.p = <const unsigned char*>PyBytes_AS_STRING(b)
    v.n = PyBytes_GET_SIZE(b)
    v.chars = utf8_chars(v.p, v.n)
    return 0 if v.chars >= 0 else -1


def transcode(bytes body not None, default_index, bytes default_service not None, bytes peer_host not None,
              long long now_micros, bytes id_prefix not None, unsigned long long first_id,
              bytes end_line not None = b"}\n"):
    """(stored JSON lines, each ending with ``end_line``; their count; ids made; the answer's item
    heads) of a bulk body, or None (see the module docstring). The defaults are UTF-8 bytes;
    ``default_index`` may be None (no index in the path)."""
    cdef const unsigned char* s = <const unsigned char*>PyBytes_AS_STRING(body)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(body), pos = 0, count = 0
    cdef Value index, doc_id
    cdef int op
    cdef Buf out, heads
    cdef char* storage = NULL
    cdef Context* c
    if PyBytes_GET_SIZE(id_prefix) != ID_PREFIX_BYTES:
        raise ValueError(f"id_prefix must be {ID_PREFIX_BYTES} bytes")
    c = <Context*>malloc(sizeof(Context))
    if c == NULL:
        raise MemoryError()
    out.data = heads.data = c.names.data = NULL
    try:
        # (the bytes objects stay referenced by the caller for the call)
        if raw_text(&c.service, default_service) < 0 or raw_text(&c.peer, peer_host) < 0 \
                or raw_text(&c.index, default_index) < 0:
            return None
        c.now = now_micros
        c.id_prefix = <const unsigned char*>PyBytes_AS_STRING(id_prefix)
        c.next_id = first_id
        c.made = 0
        c.tail = PyBytes_AS_STRING(end_line)
        c.ntail = PyBytes_GET_SIZE(end_line)
        storage = <char*>malloc(size + 16)
        if storage == NULL:
            raise MemoryError()
        buf_fixed(&c.texts, storage, size + 16)
        buf_open(&c.names, 256)
        buf_open(&out, size + size // 2 + 4096)
        buf_open(&heads, size // 2 + 4096)
        while True:
            pos = next_line(s, pos)
            if pos >= size:
                break
            if s[pos] != 123:
                return None
            pos = action(c, s, pos, size, &op, &index, &doc_id)
            if pos < 0:
                return None
            pos = line_end(s, pos, size)
            if pos < 0:
                return None
            pos = next_line(s, pos)
            if pos >= size or s[pos] != 123:  # no source line, or not an object
                return None
            pos = source(c, s, pos, size)
            if pos < 0:
                return None
            pos = line_end(s, pos, size)
            if pos < 0 or write_doc(c, &out, &index, &doc_id) < 0:
                return None
            write_head(&heads, op, &index, &doc_id)
            count += 1
        if count == 0:  # no action: the codec's "no requests added"
            return None
        return (PyBytes_FromStringAndSize(out.data, out.len), count, c.made,
                PyBytes_FromStringAndSize(heads.data, heads.len))
    finally:
        free(out.data)
        free(heads.data)
        free(c.names.data)
        free(storage)
        free(c)


def bulk_items(bytes heads not None, long long first_seq_no):
    """The answer's ``items`` (without the brackets) from ``transcode``'s heads, their
    ``_seq_no`` counted from ``first_seq_no``, as msgspec writes the codec's answer."""
    cdef const char* s = PyBytes_AS_STRING(heads)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(heads), pos = 0, stop
    cdef long long seq = first_seq_no
    cdef const void* nul
    cdef Buf out
    buf_open(&out, size + size // 2 + 64)
    try:
        while pos < size:
            nul = memchr(s + pos, 0, size - pos)
            stop = <const char*>nul - s if nul != NULL else size
            if pos:
                put_byte(&out, 44)
            put(&out, s + pos, stop - pos)
            put_int(&out, seq)
            put(&out, b',"_primary_term":1,"status":201}}', 33)
            seq += 1
            pos = stop + 1
        return PyBytes_FromStringAndSize(out.data, out.len)
    finally:
        free(out.data)
