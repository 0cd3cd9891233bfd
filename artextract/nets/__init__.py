"""Models: RLA-ResNet and ResNet backbones with multi-attribute heads, BYOL, safe checkpoints.

Import from the submodules (``artextract.nets.registry``, ``.checkpoint``, ``.byol``); nothing heavy
happens at package import.
"""
