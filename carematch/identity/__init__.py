"""Identity: sources, ingest with quarantine, persons (一人一档) and their links."""
