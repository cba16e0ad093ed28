"""PyTorch models of popcen: small ``nn.Module``s with the tensor shapes written beside their layers."""
