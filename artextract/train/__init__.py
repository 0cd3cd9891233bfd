"""Training entry points (separate from the library, as in open_clip): ``python -m artextract.train``.

- ``classifier``: multi-attribute RLA-ResNet/ResNet classifier (style, artist, genre) with masked heads.
- ``byol``: self-supervised BYOL encoder on any catalog.
- ``compare``: RLA-ResNet vs plain ResNet of the same depth and budget; writes a results table.

Every command runs alone or under ``torchrun`` (DDP; gloo on CPU, nccl on GPU) and resumes with
``--resume``. Nothing is imported or computed at package import.
"""
