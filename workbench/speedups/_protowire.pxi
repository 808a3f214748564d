# Protobuf wire reading (varints, tags, length prefixes, skipping), shared by the protobuf
# transcoders (textual include). Every reader returns the position after what it read, or -1
# when the data is truncated or corrupt; none reads at or past ``end``.

cdef inline Py_ssize_t varint(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, unsigned long long* v):
    """Reads a varint at pos; the position after it, or -1 when truncated or over 10 bytes."""
    cdef unsigned long long result = 0
    cdef int shift = 0
    cdef unsigned char c
    while pos < end and shift < 70:
        c = s[pos]
        pos += 1
        result |= (<unsigned long long>(c & 0x7F)) << shift
        if c < 0x80:
            v[0] = result
            return pos
        shift += 7
    return -1


cdef inline Py_ssize_t tag(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, int* field, int* wire):
    """Reads a field tag at pos into field and wire type; the position after it, or -1 when it is
    truncated or corrupt (field 0 and numbers past 2^29 - 1 are)."""
    cdef unsigned long long key
    pos = varint(s, pos, end, &key)
    if pos < 0 or key >> 3 == 0 or key >> 3 > 536870911:
        return -1
    field[0] = <int>(key >> 3)
    wire[0] = <int>(key & 7)
    return pos


cdef inline Py_ssize_t length(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t* n):
    """Reads a length prefix at pos whose bytes fit before end; the position after it, or -1."""
    cdef unsigned long long v
    pos = varint(s, pos, end, &v)
    if pos < 0 or v > <unsigned long long>(end - pos):
        return -1
    n[0] = <Py_ssize_t>v
    return pos


cdef Py_ssize_t skip_field(const unsigned char* s, Py_ssize_t pos, Py_ssize_t end, int wire):
    cdef unsigned long long v
    cdef Py_ssize_t n
    if wire == 0:
        return varint(s, pos, end, &v)
    if wire == 1:
        return pos + 8 if pos + 8 <= end else -1
    if wire == 5:
        return pos + 4 if pos + 4 <= end else -1
    if wire == 2:
        pos = length(s, pos, end, &n)
        return pos + n if pos >= 0 else -1
    return -1  # groups: not in this schema
