"""The names of the wire formats, in one place (light to import: no codec is loaded here).

``Format`` is the type every setting that names a format uses (generator, scenario, CLI choices);
``workbench.codecs`` maps each name to its codec. Adding a format starts with its name here.
"""

from __future__ import annotations

from typing import Literal, get_args

Format = Literal["json", "proto", "avro", "raw", "syslog", "journald"]
FORMATS: tuple[str, ...] = get_args(Format)
BINARY_FORMATS = frozenset({"proto", "avro"})  # length-prefixed frames on a stream; the others are text
