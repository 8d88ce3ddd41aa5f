"""Serving HTTP under gunicorn: deadlines for slow clients, admission of heavy
requests, and gunicorn's own errors in the dialects' envelopes (``worker.py``)."""
