"""MIAM: modality imbalance-aware masking for multimodal ecological models.

The core and running a model (``miam.core``, ``miam.runs``) import only torch, numpy, pandas and
pyyaml, so they run on a bare GPU node; data generation and
tokenization (``miam.inputs.datasets``, ``miam.inputs.tokenize``) need the ``data`` extra.
"""

__version__ = "0.1.0"
