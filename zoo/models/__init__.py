"""Our model builders, one module per family.

Every builder is ``build_xxx(entry, **overrides) -> nn.Module``. The module tree (attribute
names, order, shapes) mirrors the published checkpoint files so they load unchanged with
``strict=True``; the implementation is our own.
"""
