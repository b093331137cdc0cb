"""API assembly: the FastAPI app, shared dependencies and problem+json errors."""
