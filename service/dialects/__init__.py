"""Dialects: each translates one wire format into records, calls the services
(``service.domain``) and renders their answers in that format. None touches a store."""
