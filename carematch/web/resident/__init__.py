"""The resident portal (居民端): a resident's own record and services."""
