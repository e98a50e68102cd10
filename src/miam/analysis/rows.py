"""Names of the table rows that are neither a strategy nor an oracle, shared with the workflow.

Torch-free, so the workflow can read them while it parses.
"""

# Late fusion's two combiners of the unimodal models (miam.analysis.late_fusion).
LATE_FUSION_MODELS = ("late_fusion", "late_fusion_learned")
