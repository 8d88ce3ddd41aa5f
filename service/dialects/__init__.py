"""Dialects: each translates one wire format into records and calls the ingest API."""
