# A growable output buffer and JSON string escaping, shared by the transcoders (textual include).

from libc.stdlib cimport malloc, realloc
from libc.string cimport memcpy

cdef const char* HEX = b"0123456789abcdef"


cdef struct Buf:
    char* data
    Py_ssize_t len
    Py_ssize_t cap


cdef int buf_open(Buf* b, Py_ssize_t cap) except -1:
    """An empty buffer of ``cap`` bytes (it grows as needed); ``free(b.data)`` when done."""
    b.cap = cap
    b.len = 0
    b.data = <char*>malloc(cap)
    if b.data == NULL:
        raise MemoryError()
    return 0


cdef int grow(Buf* b, Py_ssize_t extra) except -1:
    cdef Py_ssize_t want = b.len + extra
    cdef char* p
    if want <= b.cap:
        return 0
    while b.cap < want:
        b.cap *= 2
    p = <char*>realloc(b.data, b.cap)
    if p == NULL:
        raise MemoryError()
    b.data = p
    return 0


cdef inline int put(Buf* b, const char* s, Py_ssize_t n) except -1:
    if b.len + n > b.cap:
        grow(b, n)
    memcpy(b.data + b.len, s, n)
    b.len += n
    return 0


cdef inline int puts(Buf* b, const char* s) except -1:
    cdef Py_ssize_t n = 0
    while s[n]:
        n += 1
    return put(b, s, n)


cdef int put_escaped(Buf* b, const unsigned char* s, Py_ssize_t n) except -1:
    """A JSON string body: quote, backslash and control characters escaped as msgspec does."""
    cdef Py_ssize_t i
    cdef unsigned char c
    grow(b, n * 6)
    for i in range(n):
        c = s[i]
        if c == 34 or c == 92:
            b.data[b.len] = 92
            b.data[b.len + 1] = c
            b.len += 2
        elif c < 32:
            b.data[b.len] = 92
            if c == 10:
                b.data[b.len + 1] = 110
                b.len += 2
            elif c == 13:
                b.data[b.len + 1] = 114
                b.len += 2
            elif c == 9:
                b.data[b.len + 1] = 116
                b.len += 2
            elif c == 8:
                b.data[b.len + 1] = 98
                b.len += 2
            elif c == 12:
                b.data[b.len + 1] = 102
                b.len += 2
            else:
                memcpy(b.data + b.len + 1, b"u00", 3)
                b.data[b.len + 4] = HEX[c >> 4]
                b.data[b.len + 5] = HEX[c & 15]
                b.len += 6
        else:
            b.data[b.len] = c
            b.len += 1
    return 0


cdef inline bint is_digit(unsigned char c):
    return 48 <= c <= 57


cdef int put_int(Buf* b, long long v) except -1:
    """A decimal integer (JSON number)."""
    cdef char tmp[24]
    cdef int n = 0, i
    cdef unsigned long long u = <unsigned long long>(-v) if v < 0 else <unsigned long long>v
    if v < 0:
        put(b, b"-", 1)
    while True:
        tmp[n] = <char>(48 + u % 10)
        n += 1
        u //= 10
        if u == 0:
            break
    grow(b, n)
    for i in range(n):
        b.data[b.len + i] = tmp[n - 1 - i]
    b.len += n
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
