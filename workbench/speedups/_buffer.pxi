# A growable output buffer and JSON string escaping, shared by the transcoders (textual include).

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memchr, memcmp, memcpy

cdef const char* HEX = b"0123456789abcdef"

# The one way to write into an output buffer (every transcoder follows it; no other code indexes
# ``Buf.data``):
#
# * ``put``, ``put_byte``, ``puts``, ``put_escaped``, ``put_int`` and ``put_timestamp`` append and
#   make room first;
# * a writer that must write through a pointer (a record's worst case reserved up front, text
#   decoded in place) asks ``reserve(b, n)`` for room for n bytes, writes at most n there and
#   hands the end back to ``commit``, which refuses an end past the reservation (it aborts the
#   process: memory past it may already be overwritten, and going on would hide that).
#
# A build with ``WB_CHECKED`` (``python -m workbench.speedups.build --sanitize``) adds a stricter
# mode for the sanitizers, chosen by ``WB_TIGHT_BUFFERS=1``: each reservation reallocates the
# buffer to end exactly where the reservation ends, so that every output size lands on an
# allocation boundary and AddressSanitizer reports the first byte written past a reservation,
# whatever the input.
cdef extern from *:
    """
    #include <stdio.h>
    #include <stdlib.h>
    #ifndef WB_CHECKED
    #define WB_CHECKED 0
    #endif
    static int wb_tight_buffers(void) {
    #if WB_CHECKED
        static int mode = -1;
        if (mode < 0) {
            const char *v = getenv("WB_TIGHT_BUFFERS");
            mode = v != NULL && v[0] == '1';
        }
        return mode;
    #else
        return 0;
    #endif
    }
    static void wb_overrun(const char *what, Py_ssize_t over) {
        fprintf(stderr, "workbench.speedups: %s wrote %zd bytes past its reservation; aborting\\n", what, over);
        abort();
    }
    """
    bint WB_CHECKED
    bint wb_tight_buffers() noexcept nogil
    void wb_overrun(const char* what, Py_ssize_t over) noexcept nogil


cdef struct Buf:
    char* data
    Py_ssize_t len
    Py_ssize_t cap
    Py_ssize_t limit  # the end of the latest reservation (len <= limit <= cap)
    bint fixed  # storage the caller owns (``buf_fixed``): never reallocated


cdef int buf_open(Buf* b, Py_ssize_t cap) except -1:
    """An empty buffer of ``cap`` bytes (it grows as needed); ``free(b.data)`` when done."""
    if cap < 16:
        cap = 16
    if wb_tight_buffers():
        cap = 0
    b.cap = cap
    b.len = 0
    b.limit = 0
    b.fixed = False
    b.data = <char*>malloc(cap if cap else 1)
    if b.data == NULL:
        raise MemoryError()
    return 0


cdef inline void buf_fixed(Buf* b, char* storage, Py_ssize_t cap) noexcept:
    """A buffer over ``cap`` bytes the caller owns; writing more raises instead of growing."""
    b.data = storage
    b.cap = cap
    b.len = 0
    b.limit = 0
    b.fixed = True


cdef int make_room(Buf* b, Py_ssize_t n) except -1:
    """``cap >= len + n`` (doubling), or exactly ``len + n`` in the tight mode."""
    cdef Py_ssize_t want = b.len + n, cap = b.cap
    cdef char* p
    if n < 0 or want < b.len:
        raise OverflowError("speedups: a reservation of a negative or huge size")
    if b.fixed:
        if want > b.cap:
            raise OverflowError("speedups: a fixed buffer is too small (a bug)")
        return 0
    if wb_tight_buffers():
        cap = want
    else:
        if want <= cap:
            return 0
        while cap < want:
            cap *= 2
    p = <char*>realloc(b.data, cap if cap else 1)
    if p == NULL:
        raise MemoryError()
    b.data = p
    b.cap = cap
    return 0


cdef inline char* reserve(Buf* b, Py_ssize_t n) except NULL:
    """Room for n bytes at the end: where to write them. ``commit`` says where the writing ended."""
    if b.len + n > b.cap or wb_tight_buffers():
        make_room(b, n)
    b.limit = b.len + n
    return b.data + b.len


cdef inline void commit(Buf* b, char* end, const char* what) noexcept:
    """The bytes written since ``reserve`` end at ``end``: they become part of the buffer."""
    cdef Py_ssize_t n = end - b.data
    if n > b.limit or n < b.len:
        wb_overrun(what, n - b.limit)
    b.len = n


cdef inline int put(Buf* b, const char* s, Py_ssize_t n) except -1:
    cdef char* d = reserve(b, n)
    memcpy(d, s, n)
    b.len += n
    return 0


cdef inline int put_byte(Buf* b, char c) except -1:
    cdef char* d = reserve(b, 1)
    d[0] = c
    b.len += 1
    return 0


cdef inline int puts(Buf* b, const char* s) except -1:
    cdef Py_ssize_t n = 0
    while s[n]:
        n += 1
    return put(b, s, n)


cdef inline char* escape_byte(char* d, unsigned char c) noexcept:
    """One byte of a JSON string body as msgspec writes it (quote, backslash and control
    characters escaped) at d, which has room for 6; the end."""
    if c == 34 or c == 92:
        d[0] = 92
        d[1] = <char>c
        return d + 2
    if c >= 32:
        d[0] = <char>c
        return d + 1
    d[0] = 92
    if c == 10:
        d[1] = 110
    elif c == 13:
        d[1] = 114
    elif c == 9:
        d[1] = 116
    elif c == 8:
        d[1] = 98
    elif c == 12:
        d[1] = 102
    else:
        d[1] = 117
        d[2] = 48
        d[3] = 48
        d[4] = HEX[c >> 4]
        d[5] = HEX[c & 15]
        return d + 6
    return d + 2


cdef inline unsigned long long load8(const unsigned char* s) noexcept:
    """Eight bytes at s, as one word (any alignment)."""
    cdef unsigned long long w
    memcpy(&w, s, 8)
    return w


cdef inline bint no_escape8(unsigned long long w) noexcept:
    """None of the word's bytes needs a JSON escape: no control character (< 0x20), quote or
    backslash (the has-a-byte-below-n and has-a-zero-byte tests, exact as yes/no answers)."""
    cdef unsigned long long q = w ^ 0x2222222222222222ULL, k = w ^ 0x5C5C5C5C5C5C5C5CULL
    return (((w - 0x2020202020202020ULL) & ~w) | ((q - 0x0101010101010101ULL) & ~q)
            | ((k - 0x0101010101010101ULL) & ~k)) & 0x8080808080808080ULL == 0


cdef int put_escaped(Buf* b, const unsigned char* s, Py_ssize_t n) except -1:
    """A JSON string body: quote, backslash and control characters escaped as msgspec does.
    Plain text is copied a word at a time; the bytes of a word that needs an escape one by one."""
    cdef Py_ssize_t i = 0, k
    cdef unsigned long long w
    cdef char* d = reserve(b, n * 6)
    while i + 8 <= n:
        w = load8(s + i)
        if no_escape8(w):
            memcpy(d, &w, 8)
            d += 8
        else:
            for k in range(8):
                d = escape_byte(d, s[i + k])
        i += 8
    while i < n:
        d = escape_byte(d, s[i])
        i += 1
    commit(b, d, "put_escaped")
    return 0


cdef inline bint is_digit(unsigned char c):
    return 48 <= c <= 57


cdef inline bint blank(const unsigned char* s, Py_ssize_t n):
    """Only ASCII whitespace (``bytes.strip`` would leave nothing): ``split_lines`` skips it."""
    cdef Py_ssize_t i
    cdef unsigned char c
    for i in range(n):
        c = s[i]
        if c != 32 and not (9 <= c <= 13):
            return False
    return True


cdef int put_int(Buf* b, long long v) except -1:
    """A decimal integer (JSON number)."""
    cdef char tmp[24]
    cdef int n = 0, i
    # 0 - v in unsigned arithmetic: defined for every v, LLONG_MIN included
    cdef unsigned long long u = 0ULL - <unsigned long long>v if v < 0 else <unsigned long long>v
    cdef char* d
    if v < 0:
        put_byte(b, 45)
    while True:
        tmp[n] = <char>(48 + u % 10)
        n += 1
        u //= 10
        if u == 0:
            break
    d = reserve(b, n)
    for i in range(n):
        d[i] = tmp[n - 1 - i]
    commit(b, d + n, "put_int")
    return 0


cdef inline void two(char* d, int v):
    d[0] = <char>(48 + v // 10)
    d[1] = <char>(48 + v % 10)


cdef int put_timestamp(Buf* b, long long micros) except -2:
    """RFC 3339 in UTC as msgspec writes it (``...T21:59:23Z``, or ``.123456Z`` with microseconds);
    -1 when the instant is outside years 1-9999 (Python's datetime range)."""
    cdef long long secs = micros // 1000000, days, sod, z, era, doe, yoe, y, doy, mp, d, m
    cdef long long us = micros - secs * 1000000
    cdef char t[28]
    if us < 0:  # C division truncates toward zero (cdivision): floor it for instants before 1970
        us += 1000000
        secs -= 1
    days = secs // 86400
    sod = secs - days * 86400
    if sod < 0:
        sod += 86400
        days -= 1
    # civil date from days since 1970-01-01 (H. Hinnant's algorithm)
    z = days + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    if m <= 2:
        y += 1
    if y < 1 or y > 9999:
        return -1
    two(t, <int>(y // 100))
    two(t + 2, <int>(y % 100))
    t[4] = 45
    two(t + 5, <int>m)
    t[7] = 45
    two(t + 8, <int>d)
    t[10] = 84
    two(t + 11, <int>(sod // 3600))
    t[13] = 58
    two(t + 14, <int>(sod // 60 % 60))
    t[16] = 58
    two(t + 17, <int>(sod % 60))
    if us:
        t[19] = 46
        two(t + 20, <int>(us // 10000))
        two(t + 22, <int>(us // 100 % 100))
        two(t + 24, <int>(us % 100))
        t[26] = 90
        put(b, t, 27)
    else:
        t[19] = 90
        put(b, t, 20)
    return 0


cdef const char* entry_level(int level):
    """The name of level 0-5 (TRACE..FATAL), in the schema's order."""
    if level == 0:
        return b"TRACE"
    if level == 1:
        return b"DEBUG"
    if level == 2:
        return b"INFO"
    if level == 3:
        return b"WARN"
    if level == 4:
        return b"ERROR"
    return b"FATAL"


# --- checks that let a transcoder's line be stored without a second validation -------------
# Each returns a "no" (-1 or False) for anything it is not sure of; the transcoder then declines
# the record and the Python path (msgspec validation) decides, so a "no" costs speed, never
# correctness.

cdef enum:
    # the limits of schemas/log_entry.schema.json that these checks enforce (see
    # ``workbench.speedups.ENFORCED_SCHEMA``, compared with the loaded schema at import)
    MAX_STRING = 256  # service (and at least 1), host, user_id, session_id, trace_id, client_id
    MAX_MESSAGE = 65536
    MAX_ATTRIBUTES = 128
    MAX_ATTRIBUTE_VALUE = 8192


cdef Py_ssize_t utf8_chars(const unsigned char* s, Py_ssize_t n):
    """Code points in ``s``, or -1 when it is not valid UTF-8 as Python decodes it (overlong
    forms, surrogates and values over U+10FFFF are invalid)."""
    cdef Py_ssize_t i = 0, count = 0
    cdef unsigned char c
    while i < n:
        if i + 8 <= n and load8(s + i) & 0x8080808080808080ULL == 0:  # eight ASCII characters
            i += 8
            count += 8
            continue
        c = s[i]
        if c < 0x80:
            i += 1
        elif c < 0xC2:
            return -1
        elif c < 0xE0:
            if i + 1 >= n or s[i + 1] & 0xC0 != 0x80:
                return -1
            i += 2
        elif c < 0xF0:
            if i + 2 >= n or s[i + 1] & 0xC0 != 0x80 or s[i + 2] & 0xC0 != 0x80:
                return -1
            if (c == 0xE0 and s[i + 1] < 0xA0) or (c == 0xED and s[i + 1] >= 0xA0):
                return -1
            i += 3
        elif c < 0xF5:
            if i + 3 >= n or s[i + 1] & 0xC0 != 0x80 or s[i + 2] & 0xC0 != 0x80 or s[i + 3] & 0xC0 != 0x80:
                return -1
            if (c == 0xF0 and s[i + 1] < 0x90) or (c == 0xF4 and s[i + 1] >= 0x90):
                return -1
            i += 4
        else:
            return -1
        count += 1
    return count


cdef inline bint text_within(const unsigned char* s, Py_ssize_t n, Py_ssize_t limit):
    """Valid UTF-8 of at most ``limit`` code points (the schema's maxLength)."""
    cdef Py_ssize_t chars
    if n <= limit:  # at most n code points: only the encoding to check
        return utf8_chars(s, n) >= 0
    chars = utf8_chars(s, n)
    return 0 <= chars <= limit


cdef inline bint is_level(const unsigned char* s, Py_ssize_t n):
    """One of the schema's levels, exactly."""
    if n == 4:
        return memcmp(s, b"INFO", 4) == 0 or memcmp(s, b"WARN", 4) == 0
    if n == 5:
        return memcmp(s, b"TRACE", 5) == 0 or memcmp(s, b"DEBUG", 5) == 0 or memcmp(s, b"ERROR", 5) == 0 \
            or memcmp(s, b"FATAL", 5) == 0
    return False


cdef inline int digits(const unsigned char* s, Py_ssize_t pos, int n):
    """The value of n ASCII digits at s[pos], or -1."""
    cdef int v = 0, i
    for i in range(n):
        if not is_digit(s[pos + i]):
            return -1
        v = v * 10 + (s[pos + i] - 48)
    return v


cdef inline long long days_from_civil(long long y, long long m, long long d):
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    cdef long long era, yoe, doy, doe
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef Py_ssize_t put_rfc3339(Buf* b, const unsigned char* s, Py_ssize_t pos, Py_ssize_t end) except -2:
    """Read ``YYYY-MM-DDTHH:MM:SS[.f..f](Z|+HH:MM|-HH:MM)`` (1 to 6 fraction digits) at s[pos:]
    and write it in UTC as msgspec writes a datetime (``...:23Z``, ``...:23.120000Z``). Returns the
    position after the stamp, or -1 when it is not in that shape or not a real date and time
    (Feb 30, hour 24, second 60, outside years 1-9999 once in UTC): the caller declines."""
    cdef int year, month, day, hour, minute, second, frac = 0, nfrac = 0, oh, om, dim
    cdef long long micros
    cdef Py_ssize_t i
    if pos + 20 > end:
        return -1
    if s[pos + 4] != 45 or s[pos + 7] != 45 or s[pos + 10] != 84 or s[pos + 13] != 58 or s[pos + 16] != 58:
        return -1
    year = digits(s, pos, 4)
    month = digits(s, pos + 5, 2)
    day = digits(s, pos + 8, 2)
    hour = digits(s, pos + 11, 2)
    minute = digits(s, pos + 14, 2)
    second = digits(s, pos + 17, 2)
    if year < 1 or month < 1 or month > 12 or day < 1 or hour < 0 or hour > 23 or minute < 0 \
            or minute > 59 or second < 0 or second > 59:
        return -1
    if month == 2:
        dim = 29 if (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)) else 28
    elif month == 4 or month == 6 or month == 9 or month == 11:
        dim = 30
    else:
        dim = 31
    if day > dim:
        return -1
    i = pos + 19
    if s[i] == 46:
        i += 1
        while i < end and is_digit(s[i]):
            if nfrac == 6:
                return -1
            frac = frac * 10 + (s[i] - 48)
            nfrac += 1
            i += 1
        if nfrac == 0:
            return -1
        while nfrac < 6:
            frac *= 10
            nfrac += 1
    micros = ((days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second) * 1000000
              + frac)
    if i < end and s[i] == 90:
        i += 1
    elif i + 6 <= end and (s[i] == 43 or s[i] == 45) and s[i + 3] == 58:
        oh = digits(s, i + 1, 2)
        om = digits(s, i + 4, 2)
        if oh < 0 or oh > 23 or om < 0 or om > 59:
            return -1
        if s[i] == 43:
            micros -= (oh * 3600 + om * 60) * 1000000LL
        else:
            micros += (oh * 3600 + om * 60) * 1000000LL
        i += 6
    else:
        return -1
    if put_timestamp(b, micros) < 0:
        return -1
    return i


ctypedef int (*LineWriter)(Buf* out, const unsigned char* s, Py_ssize_t n, const char* end,
                           Py_ssize_t end_len) except -2


cdef object each_line(bytes chunk, bytes end, LineWriter write):
    """(stored lines, count) of a payload of newline-separated records, ``write`` appending each
    record's line ending with ``end``; None as soon as it declines one (returns -1). Blank lines
    are skipped and one CR before LF dropped, as ``split_lines`` does."""
    cdef const unsigned char* s = <const unsigned char*>PyBytes_AS_STRING(chunk)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(chunk), pos = 0, stop, last, count = 0
    cdef const char* tail = PyBytes_AS_STRING(end)
    cdef Py_ssize_t ntail = PyBytes_GET_SIZE(end)
    cdef const void* nl
    cdef Buf out
    buf_open(&out, size * 2 + 4096)
    try:
        while pos < size:
            nl = memchr(s + pos, 10, size - pos)
            stop = <const unsigned char*>nl - s if nl != NULL else size
            last = stop - 1 if stop > pos and s[stop - 1] == 13 else stop
            if not blank(s + pos, last - pos):
                if write(&out, s + pos, last - pos, tail, ntail) < 0:
                    return None
                count += 1
            pos = stop + 1
        return PyBytes_FromStringAndSize(out.data, out.len), count
    finally:
        free(out.data)


# --- epoch seconds as text (a JSON number's token, or a string's text) ---------------------------

from libc.math cimport rint

cdef extern from "Python.h":
    # the function behind Python's float(); ValueError unless it reads the whole text
    double text_to_double "PyOS_string_to_double"(const char* s, char** endptr, void* overflow) except? -1.0

cdef enum:
    MAX_EPOCH_TEXT = 32  # longer epoch seconds are left to Python


cdef bint exact_epoch_micros(const unsigned char* p, Py_ssize_t n, long long* micros) noexcept:
    """``round(float(text) * 1_000_000)`` without a float, for ``[-]digits[.digits]`` with at most
    6 fraction digits whose value M in µs is below 2^51: float(text) is N / 10^k correctly
    rounded, and its product with 1e6 rounded once more is M(1 + d), |d| <= 2^-52 + 2^-106, less
    than 0.5 from M, so round() gives M. False when the text is not in that shape."""
    cdef Py_ssize_t i, fraction = -1
    cdef unsigned long long m = 0
    cdef bint negative = n > 0 and p[0] == 45
    i = negative
    if i >= n or not is_digit(p[i]):
        return False
    while i < n:
        if is_digit(p[i]):
            if m >= 1ULL << 51:
                return False
            m = m * 10 + (p[i] - 48)
            if fraction >= 0:
                fraction += 1
        elif p[i] == 46 and fraction < 0:
            fraction = 0
        else:
            return False
        i += 1
    if fraction > 6:
        return False
    for i in range(6 - (fraction if fraction > 0 else 0)):
        if m >= 1ULL << 51:
            return False
        m *= 10
    if m >= 1ULL << 51:
        return False
    micros[0] = -<long long>m if negative else <long long>m
    return True


cdef int epoch_micros_text(const unsigned char* p, Py_ssize_t n, long long* micros) except -2:
    """``round(float(text) * 1_000_000)`` (``timestamp_from_seconds``) for text of digits, ``.``,
    ``e``, ``E``, ``+`` and ``-``; -1 when it is anything else (whitespace, underscores, inf and
    nan are float's too: Python's), not a number, or past ±9e18 µs. Rounded half to even, as
    round() rounds."""
    cdef char buf[MAX_EPOCH_TEXT + 1]
    cdef double x
    cdef Py_ssize_t i
    cdef unsigned char ch
    if n == 0 or n > MAX_EPOCH_TEXT:
        return -1
    if exact_epoch_micros(p, n, micros):
        return 0
    for i in range(n):
        ch = p[i]
        if not (is_digit(ch) or ch == 46 or ch == 101 or ch == 69 or ch == 43 or ch == 45):
            return -1
    memcpy(buf, p, n)
    buf[n] = 0
    try:
        x = text_to_double(buf, NULL, NULL) * 1000000.0
    except ValueError:
        return -1
    if not (-9.0e18 < x < 9.0e18):  # inf and nan fail too
        return -1
    micros[0] = <long long>rint(x)
    return 0
