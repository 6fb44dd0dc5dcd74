"""Flight SQL commands on the wire: packing and unpacking ``google.protobuf.Any``.

Every Flight SQL command (a ``FlightDescriptor.cmd``, a ticket flightmesh hands out, an
``Action.body``) is an ``Any`` whose ``type_url`` names the message. ``unpack_command`` turns those
bytes into the generated message, refusing anything that is not a well-formed ``Any`` of a
Flight SQL message; which commands the server *implements* is decided by the server, not here.
"""

from __future__ import annotations

from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message

from .errors import BadRequest
from .proto import FlightSession_pb2 as session
from .proto import FlightSql_pb2 as sql

__all__ = ["TYPE_URL_PREFIX", "pack", "parse_bare", "session", "sql", "type_url_of", "unpack_command"]

TYPE_URL_PREFIX = "type.googleapis.com/"
_SQL_PACKAGE = sql.DESCRIPTOR.package + "."

# Every message of FlightSql.proto, by its full name: what a client may send inside an Any.
_SQL_MESSAGES: dict[str, type[Message]] = {
    descriptor.full_name: getattr(sql, name)
    for name, descriptor in sql.DESCRIPTOR.message_types_by_name.items()
}


def type_url_of(message_class: type[Message]) -> str:
    return TYPE_URL_PREFIX + str(message_class.DESCRIPTOR.full_name)


def pack(message: Message) -> bytes:
    """``message`` wrapped in an ``Any`` and serialized, as clients expect commands and results."""
    wrapper = any_pb2.Any()
    wrapper.Pack(message)
    return bytes(wrapper.SerializeToString())


def unpack_command(data: bytes) -> Message:
    """Decode an ``Any``-wrapped Flight SQL message; BadRequest when it is not one."""
    wrapper = any_pb2.Any()
    try:
        wrapper.ParseFromString(data)
    except DecodeError:
        raise BadRequest("the command is not a protobuf Any message") from None
    name = wrapper.type_url.rpartition("/")[2]
    if not wrapper.type_url or not name.startswith(_SQL_PACKAGE):
        raise BadRequest("the command is not a Flight SQL command") from None
    message_class = _SQL_MESSAGES.get(name)
    if message_class is None:
        raise BadRequest(f"unknown Flight SQL command {name[len(_SQL_PACKAGE):]}") from None
    message = message_class()
    try:
        message.ParseFromString(wrapper.value)
    except DecodeError:
        raise BadRequest(f"malformed {message_class.__name__}") from None
    return message


def parse_bare(message_class: type[Message], data: bytes) -> Message:
    """Decode a message sent without an ``Any`` wrapper (session actions, CancelFlightInfo)."""
    message = message_class()
    try:
        message.ParseFromString(data)
    except DecodeError:
        raise BadRequest(f"malformed {message_class.__name__}") from None
    return message
