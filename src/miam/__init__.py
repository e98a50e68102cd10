"""MIAM: modality imbalance-aware masking for multimodal ecological models.

The core (``miam.masking``, ``miam.model``, ``miam.training``, ``miam.evaluation``) imports only
torch, numpy, pandas and pyyaml, so it runs on a bare GPU node; data generation and
tokenization (``miam.datasets``, ``miam.tokenize``) need the ``data`` extra.
"""

__version__ = "0.1.0"
