"""Core: configuration, database, ids, clock, errors and logging shared by every domain."""
