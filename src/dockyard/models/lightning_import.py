"""`import pytorch_lightning` without the seconds it spends on modules no stage uses.

Lightning imports torchmetrics (its version check and its logging both do), and torchmetrics
imports `scipy.signal` at import time for its audio metrics, only to probe it for
`hamming`. On a 2-core machine that import is about 2 of the ~9 seconds a small train
stage takes, paid on every train stage of every `dvc repro`. `load()` imports Lightning
with a placeholder in `scipy.signal`'s place that answers that probe; any other use of the
placeholder loads the real module, and once Lightning is in, the placeholder is gone, so a
later `import scipy.signal` (yours, a custom network's, a metric's) gets the real module.
A stopgap until torchmetrics stops importing it (Lightning-AI/torchmetrics#3457, #3459);
with such a torchmetrics the placeholder is never touched.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

# module -> the attributes it is probed for (with hasattr) while Lightning imports
DEFERRED: dict[str, tuple[str, ...]] = {"scipy.signal": ("hamming",)}


class Placeholder(types.ModuleType):
    """Stands in for a module that is only probed: the probed names are set (to None);
    any other attribute loads the real module and answers from it, and so does `__path__`
    (an import of a submodule). Other dunder names are not answered: `inspect.getmodule`,
    which torch calls while registering its ops, reads `__file__` of every module in
    sys.modules."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__") and name != "__path__":
            raise AttributeError(name)
        return getattr(_real(self), name)


def _real(placeholder: Placeholder) -> types.ModuleType:
    if sys.modules.get(placeholder.__name__) is placeholder:
        del sys.modules[placeholder.__name__]
    _unbind(placeholder)
    return importlib.import_module(placeholder.__name__)


def _unbind(placeholder: Placeholder) -> None:
    """Drop the placeholder from its parent package's namespace (read through __dict__:
    scipy's module __getattr__ would import the real submodule)."""
    parent_name, _, child = placeholder.__name__.rpartition(".")
    parent = sys.modules.get(parent_name)
    if parent is not None and parent.__dict__.get(child) is placeholder:
        delattr(parent, child)


def load() -> types.ModuleType:
    """pytorch_lightning, imported with placeholders for DEFERRED's modules (those not
    imported already)."""
    if "pytorch_lightning" in sys.modules:
        return sys.modules["pytorch_lightning"]
    placeholders = []
    for name, probed in DEFERRED.items():
        if name in sys.modules or importlib.util.find_spec(name.partition(".")[0]) is None:
            continue
        placeholder = Placeholder(name)
        for attribute in probed:
            setattr(placeholder, attribute, None)
        sys.modules[name] = placeholder
        placeholders.append(placeholder)
    try:
        import pytorch_lightning
    finally:
        for placeholder in placeholders:
            if sys.modules.get(placeholder.__name__) is placeholder:
                del sys.modules[placeholder.__name__]
            _unbind(placeholder)
    return pytorch_lightning


pl = load()
