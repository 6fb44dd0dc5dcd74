"""The Flight SQL server: the protocol layer over a ``MeshRuntime``, its auth, and the CLI.

One concept per module:

==================  ==========================================================================
``app``             ``FlightMeshServer``: routes each RPC and command to the module below
``auth``            Handshake (Basic -> Bearer), the token store, the check on every call
``errors``          the one mapping from the mesh's error tree to Flight statuses
``messages``        Flight SQL commands in and out of ``google.protobuf.Any``
``proto``           flightmesh's ``.proto`` files and the classes generated from them
``sqlinfo``         GetSqlInfo: the values and their six-child union encoding
``schemas``         the exact Arrow schemas of the catalog commands
``metadata``        GetCatalogs / GetDbSchemas / GetTables / GetTableTypes for one principal
``queries``         prepare, bind parameters, describe and run statements
``statements``      prepared-statement handles and result tickets, bound to their user
``streams``         DoGet streams: schema discipline and cancellation
``sessions``        session options (catalog, schema) and CloseSession
``runtime``         the Protocol of what the server needs from the runtime
``cli``             the ``flightmesh`` command; ``table_format`` prints its results
==================  ==========================================================================

Nothing else in flightmesh imports this package.
"""

from .app import FlightMeshServer

__all__ = ["FlightMeshServer"]
