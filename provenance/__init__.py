"""Provenance: visible and GB 45438 labels, invisible watermarks, C2PA manifests, keys.

Entry points (nothing heavy is imported until used)::

    from provenance.stamper import build_stamper          # Stamper.stamp(StampRequest)
    from provenance.readback import read_c2pa, read_implicit_label, read_watermark
    from provenance.keys import show_certificates, rotate_signing_certificate
    from provenance.settings import ProvenanceSettings

See ``docs/provenance.md``.
"""
