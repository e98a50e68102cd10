"""The model's core: tokens, device data, the model, masking strategies, metrics, subsets, split.

Imports only torch, numpy, pandas and pyyaml, so it runs on a bare GPU node."""
