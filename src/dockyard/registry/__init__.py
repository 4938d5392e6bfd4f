"""The model registry: versions and stages as GTO git tags, the promotion gate, lineage.

`resolve_model` turns NAME@vX.Y.Z / NAME@STAGE (or a folder) into a local model folder
for `dockyard predict` and `serve`; `load_policy` reads the `promotion:` section of
params.yaml (validated by dockyard.config) as the gate's policy.
"""

from dockyard.registry.policy import load_policy, promotion_policy
from dockyard.registry.resolve import resolve_model

__all__ = ["load_policy", "promotion_policy", "resolve_model"]
