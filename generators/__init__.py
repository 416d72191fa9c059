"""Generators: prompt in, one artifact out (text, image, 3D); see ``docs/generators.md``.

The gateway builds each configured generator once (``gateway.catalog``) through
:func:`generators.registry.build_generator`; ``aigc-gateway models init`` calls
:func:`generators.tiny.build_default_models`. Nothing heavy is imported here.
"""
