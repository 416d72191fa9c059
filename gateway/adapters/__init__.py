"""Adapters: the pipeline's ports (``gateway.ports``) implemented over the domain packages."""
