"""Room connection, publishing policy, backend clients and session state. No Qt."""
