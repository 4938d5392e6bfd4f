"""The model registry: versions and stages as GTO git tags, the promotion gate, lineage.

`resolve_model` turns NAME@vX.Y.Z / NAME@STAGE (or a folder) into a local model folder
for `dockyard predict` and `serve`; `check_policy` validates the `promotion:` section.
"""

from dockyard.registry.policy import check_policy
from dockyard.registry.resolve import resolve_model

__all__ = ["check_policy", "resolve_model"]
