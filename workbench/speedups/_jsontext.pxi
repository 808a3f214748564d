# JSON strings: scanning them (``scan_string``: valid JSON, valid UTF-8, code points, escapes) and
# writing their text as msgspec writes a string (``put_text``), shared by the JSON transcoders
# (textual include, after ``_buffer.pxi``).
#
# The scanners read a NUL-terminated buffer (a bytes object's) and stop at the NUL or at a
# newline, neither of which can continue a string: no bounds check but the 16-byte loads'.

cdef enum:
    # what scan_string found in a string
    ESCAPED = 1  # an escape: the text is written through put_text
    REWRITTEN = 2  # an escape msgspec writes otherwise (``\/``, ``\u00e9``, ``\u000a``): not verbatim

cdef extern from *:
    """
    #if defined(__SSE2__) && defined(__GNUC__)
    #include <emmintrin.h>
    #endif
    /* The first byte at or after s[i] that a string scan stops at: a quote, a backslash, a byte
       below 0x20 (invalid raw) or from 0x80 (UTF-8 to check). 16 bytes at a time where SSE2 is
       (always on x86-64), never loading past s[n]; the byte loop ends at the NUL or newline that
       ends a line. */
    static inline Py_ssize_t json_to_stop(const unsigned char *s, Py_ssize_t i, Py_ssize_t n) {
    #if defined(__SSE2__) && defined(__GNUC__)
        const __m128i quote = _mm_set1_epi8(0x22), backslash = _mm_set1_epi8(0x5C), space = _mm_set1_epi8(0x20);
        while (i + 16 <= n) {
            __m128i x = _mm_loadu_si128((const __m128i *)(s + i));
            /* as signed bytes, those below 0x20 and those from 0x80 are all less than a space */
            __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)),
                                       _mm_cmplt_epi8(x, space));
            int mask = _mm_movemask_epi8(hit);
            if (mask)
                return i + __builtin_ctz(mask);
            i += 16;
        }
    #endif
        while (s[i] >= 0x20 && s[i] < 0x80 && s[i] != 0x22 && s[i] != 0x5C)
            i++;
        return i;
    }
    """
    Py_ssize_t to_stop "json_to_stop"(const unsigned char* s, Py_ssize_t i, Py_ssize_t n) noexcept nogil


cdef inline char* copy(char* d, const void* src, Py_ssize_t n) noexcept:
    """n bytes to d; short ones in two overlapping moves rather than a call. The end."""
    cdef const char* p = <const char*>src
    if n >= 8 and n <= 16:
        memcpy(d, p, 8)
        memcpy(d + n - 8, p + n - 8, 8)
    elif n >= 4 and n < 8:
        memcpy(d, p, 4)
        memcpy(d + n - 4, p + n - 4, 4)
    elif n < 4:
        if n > 0:
            d[0] = p[0]
            d[n - 1] = p[n - 1]
            d[n >> 1] = p[n >> 1]
    else:
        memcpy(d, p, n)
    return d + n


cdef inline int hex4(const unsigned char* s, Py_ssize_t i) noexcept:
    """The value of four hex digits at s[i], or -1 (read in order: stops at a line's end)."""
    cdef int v = 0, k
    cdef unsigned char c
    for k in range(4):
        c = s[i + k]
        if 48 <= c <= 57:
            v = v * 16 + (c - 48)
        elif 97 <= (c | 32) <= 102:
            v = v * 16 + ((c | 32) - 87)
        else:
            return -1
    return v


cdef inline int utf8_seq(const unsigned char* s, Py_ssize_t i) noexcept:
    """Length of the UTF-8 sequence at s[i] (a byte >= 0x80), or -1 when Python would not decode
    it (as ``utf8_chars``: overlong forms, surrogates, over U+10FFFF, truncated)."""
    cdef unsigned char c = s[i], c1
    if c < 0xC2:
        return -1
    if c < 0xE0:
        return 2 if s[i + 1] & 0xC0 == 0x80 else -1
    c1 = s[i + 1]
    if c1 & 0xC0 != 0x80:
        return -1
    if c < 0xF0:
        if (c == 0xE0 and c1 < 0xA0) or (c == 0xED and c1 >= 0xA0) or s[i + 2] & 0xC0 != 0x80:
            return -1
        return 3
    if c < 0xF5:
        if (c == 0xF0 and c1 < 0x90) or (c == 0xF4 and c1 >= 0x90) or s[i + 2] & 0xC0 != 0x80 \
                or s[i + 3] & 0xC0 != 0x80:
            return -1
        return 4
    return -1


cdef inline Py_ssize_t scan_string(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, Py_ssize_t* chars,
                                   int* flags) noexcept:
    """The position of the closing quote of the JSON string whose body starts at s[i], or -1 when
    it is not valid JSON or not valid UTF-8. Sets the code points of its text and ESCAPED /
    REWRITTEN (without an escape its bytes are its text, which msgspec writes back unchanged)."""
    cdef Py_ssize_t stop = to_stop(s, i, n)
    if s[stop] == 34:  # plain ASCII
        chars[0] = stop - i
        flags[0] = 0
        return stop
    return scan_rest(s, i, stop, n, chars, flags)


cdef Py_ssize_t scan_rest(const unsigned char* s, Py_ssize_t start, Py_ssize_t i, Py_ssize_t n,
                          Py_ssize_t* chars, int* flags) noexcept:
    """scan_string from s[i], the first byte of the string at s[start] that is not plain ASCII."""
    cdef Py_ssize_t extra = 0  # bytes that do not start a code point of the text
    cdef unsigned char c, e
    cdef int cp, k
    flags[0] = 0
    while True:
        c = s[i]
        if c == 34:
            chars[0] = i - start - extra
            return i
        if c == 92:
            flags[0] |= ESCAPED
            e = s[i + 1]
            if e == 117:  # \uXXXX, a surrogate pair as two of them
                cp = hex4(s, i + 2)
                if cp < 0 or 0xDC00 <= cp <= 0xDFFF:
                    return -1
                if 0xD800 <= cp <= 0xDBFF:
                    if s[i + 6] != 92 or s[i + 7] != 117:
                        return -1
                    cp = hex4(s, i + 8)
                    if cp < 0xDC00 or cp > 0xDFFF:
                        return -1
                    flags[0] |= REWRITTEN
                    i += 12
                    extra += 11
                else:
                    # msgspec writes \u00xx (lowercase) for a control character without a short form
                    if cp >= 32 or cp == 8 or cp == 9 or cp == 10 or cp == 12 or cp == 13 \
                            or 65 <= s[i + 5] <= 70:
                        flags[0] |= REWRITTEN
                    i += 6
                    extra += 5
            elif e == 34 or e == 92 or e == 98 or e == 102 or e == 110 or e == 114 or e == 116:
                i += 2
                extra += 1
            elif e == 47:
                flags[0] |= REWRITTEN
                i += 2
                extra += 1
            else:
                return -1
        elif c < 32:  # raw control characters are not JSON (and a line's end is one)
            return -1
        else:
            k = utf8_seq(s, i)
            if k < 0:
                return -1
            i += k
            extra += k - 1
        i = to_stop(s, i, n)


cdef inline char* put_code_point(char* d, int cp) noexcept:
    """One decoded code point as msgspec writes it (``escape_byte`` for ASCII) at d; the end. It is
    never longer than the escape it came from (``put_text``)."""
    if cp < 128:
        return escape_byte(d, <unsigned char>cp)
    if cp < 0x800:
        d[0] = <char>(0xC0 | (cp >> 6))
        d[1] = <char>(0x80 | (cp & 0x3F))
        return d + 2
    if cp < 0x10000:
        d[0] = <char>(0xE0 | (cp >> 12))
        d[1] = <char>(0x80 | ((cp >> 6) & 0x3F))
        d[2] = <char>(0x80 | (cp & 0x3F))
        return d + 3
    d[0] = <char>(0xF0 | (cp >> 18))
    d[1] = <char>(0x80 | ((cp >> 12) & 0x3F))
    d[2] = <char>(0x80 | ((cp >> 6) & 0x3F))
    d[3] = <char>(0x80 | (cp & 0x3F))
    return d + 4


cdef char* put_text(char* d, const unsigned char* s, Py_ssize_t i, Py_ssize_t stop, int flags) noexcept:
    """The body of a string that ``scan_string`` accepted, as msgspec writes its text, at d; the
    end. Never longer than the JSON read, so room for ``stop - i`` bytes is enough."""
    cdef unsigned char e
    cdef int cp
    if not flags & ESCAPED:
        return copy(d, s + i, stop - i)
    while i < stop:
        if s[i] != 92:
            d[0] = <char>s[i]
            d += 1
            i += 1
            continue
        e = s[i + 1]
        if e == 117:
            cp = hex4(s, i + 2)
            if 0xD800 <= cp <= 0xDBFF:
                cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4(s, i + 8) - 0xDC00)
                i += 12
            else:
                i += 6
        else:
            i += 2
            if e == 98:
                cp = 8
            elif e == 102:
                cp = 12
            elif e == 110:
                cp = 10
            elif e == 114:
                cp = 13
            elif e == 116:
                cp = 9
            else:  # " \ /
                cp = e
        d = put_code_point(d, cp)
    return d


cdef char* put_unescaped(char* d, const unsigned char* s, Py_ssize_t i, Py_ssize_t stop) noexcept:
    """The text of the body of a string that ``scan_string`` accepted, as plain UTF-8 (escapes
    decoded, nothing escaped: what Python holds, for comparing and counting; ``put_escaped``
    writes it back as msgspec does) at d; the end. Never longer than the JSON read, so room for
    ``stop - i`` bytes is enough."""
    cdef const void* hit
    cdef Py_ssize_t run
    cdef unsigned char e
    cdef int cp
    while i < stop:
        hit = memchr(s + i, 92, stop - i)
        run = (<const unsigned char*>hit - s if hit != NULL else stop) - i
        d = copy(d, s + i, run)
        i += run
        if i >= stop:
            break
        e = s[i + 1]
        if e == 117:
            cp = hex4(s, i + 2)
            if 0xD800 <= cp <= 0xDBFF:
                cp = 0x10000 + ((cp - 0xD800) << 10) + (hex4(s, i + 8) - 0xDC00)
                i += 12
            else:
                i += 6
        else:
            i += 2
            if e == 98:
                cp = 8
            elif e == 102:
                cp = 12
            elif e == 110:
                cp = 10
            elif e == 114:
                cp = 13
            elif e == 116:
                cp = 9
            else:  # " \ /
                cp = e
        if cp < 128:
            d[0] = <char>cp
            d += 1
        else:
            d = put_code_point(d, cp)
    return d
