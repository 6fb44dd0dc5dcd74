"""flightmesh's protocol messages: ``FlightSql.proto`` and ``FlightSession.proto`` and the Python
classes grpcio-tools generated from them (committed; regenerate with ``make proto``).

Import the generated modules directly (``from flightmesh.server.proto import FlightSql_pb2``);
``flightmesh.server.messages`` wraps them for the server.
"""
