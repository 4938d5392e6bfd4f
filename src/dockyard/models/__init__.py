"""Models: plain nn.Module networks (nets), the Lightning module and batching (training)."""
