"""File identity: device + inode, checked by a hash of the file's first bytes.

The inode follows a file through a rename (rotation by rename keeps our offset); the
fingerprint catches what the inode alone cannot: an inode reused by a new file after a delete,
and a copy-truncated file that was rewritten past our offset before we looked again.
The fingerprint covers the first ``FINGERPRINT_BYTES`` bytes, or fewer while the file is shorter
(``length`` says how many); it is extended as the file grows.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

FINGERPRINT_BYTES = 256


@dataclass(frozen=True, slots=True)
class Fingerprint:
    length: int
    digest: str

    @classmethod
    def of_fd(cls, fd: int, limit: int = FINGERPRINT_BYTES) -> Fingerprint:
        head = os.pread(fd, limit, 0)
        return cls(len(head), hashlib.blake2b(head, digest_size=12).hexdigest())

    def matches(self, fd: int) -> bool:
        """Whether the file still starts with the bytes this fingerprint was taken of."""
        if self.length == 0:
            return True
        head = os.pread(fd, self.length, 0)
        return len(head) == self.length and hashlib.blake2b(head, digest_size=12).hexdigest() == self.digest


def file_key(dev: int, ino: int) -> str:
    return f"{dev}:{ino}"
