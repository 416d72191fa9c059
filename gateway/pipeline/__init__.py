"""The pipeline: one generation (or one uploaded file) from request to release.

``stages`` runs it (``Pipeline``), ``orders`` says what it is asked, ``records`` writes
what it did (the generation's row, its events, its stored verdict).
"""

from gateway.pipeline.orders import GenerationOrder, PipelineHooks, StampOrder, new_generation_id
from gateway.pipeline.stages import Pipeline

__all__ = ["GenerationOrder", "Pipeline", "PipelineHooks", "StampOrder", "new_generation_id"]
