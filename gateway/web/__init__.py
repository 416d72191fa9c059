"""The public ``/verify`` page: its template, strings and static assets (no frameworks)."""
