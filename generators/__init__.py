"""Generators: prompt in, one artifact out (text, image, 3D); see ``docs/generators.md``.

The gateway builds a :class:`generators.registry.GeneratorCatalog` once and asks it for
the generator of each request; ``aigc-gateway models init`` calls
:func:`generators.tiny.build_default_models`. Nothing heavy is imported here.
"""
