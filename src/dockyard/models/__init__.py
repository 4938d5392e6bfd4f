"""torch and Lightning: plain nn.Module networks (`nets`), the LightningModule
(`lightning_module`), batches sliced from resident tensors (`batches`), `fit` and its
Trainer (`training`), the captured CUDA-graph step (`capture`), experiment loggers
(`loggers`), the model folder saved and loaded as one pair (`artifact`), test metrics and
plot rows (`evaluation`) and the ONNX export (`onnx`). It knows nothing of serving.

The package face names its modules and imports none of them (torch is imported only by
the code that needs it).
"""

__all__ = [
    "artifact",
    "batches",
    "capture",
    "evaluation",
    "lightning_module",
    "loggers",
    "nets",
    "onnx",
    "training",
]
