from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Level(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LEVEL_UNSPECIFIED: _ClassVar[Level]
    TRACE: _ClassVar[Level]
    DEBUG: _ClassVar[Level]
    INFO: _ClassVar[Level]
    WARN: _ClassVar[Level]
    ERROR: _ClassVar[Level]
    FATAL: _ClassVar[Level]
LEVEL_UNSPECIFIED: Level
TRACE: Level
DEBUG: Level
INFO: Level
WARN: Level
ERROR: Level
FATAL: Level

class LogEntry(_message.Message):
    __slots__ = ("timestamp", "level", "service", "message", "host", "user_id", "session_id", "trace_id", "attributes", "client_id", "seq")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    timestamp: int
    level: Level
    service: str
    message: str
    host: str
    user_id: str
    session_id: str
    trace_id: str
    attributes: _containers.ScalarMap[str, str]
    client_id: str
    seq: int
    def __init__(self, timestamp: _Optional[int] = ..., level: _Optional[_Union[Level, str]] = ..., service: _Optional[str] = ..., message: _Optional[str] = ..., host: _Optional[str] = ..., user_id: _Optional[str] = ..., session_id: _Optional[str] = ..., trace_id: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ..., client_id: _Optional[str] = ..., seq: _Optional[int] = ...) -> None: ...

class LogBatch(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[LogEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[LogEntry, _Mapping]]] = ...) -> None: ...
