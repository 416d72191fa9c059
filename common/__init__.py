"""Value types and the error root shared by every domain package.

Domains (``generators``, ``moderation``, ``provenance``, ``ledger``, ``review_ui``)
depend on nothing of each other; the few things they all need to agree on live here.
"""
