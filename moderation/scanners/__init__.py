"""The scanners a policy may name, one module each; ``moderation.registry`` builds them.

    from moderation.scanners.pii import PersonalDataScanner

    PersonalDataScanner().scan("电话13812345678")[0].category  # "pii.cn_mobile"

Text scanners (``Scanner``): ``lexicon`` (Aho-Corasick lists with context rules),
``bias``, ``pii``, ``toxicity`` (detoxify and alt-profanity-check). Image scanners
(``ImageScanner``): ``image_hash``. ``model3d`` opens a GLB so that the engine can run
the text scanners on its strings and the image scanners on its textures.
"""
