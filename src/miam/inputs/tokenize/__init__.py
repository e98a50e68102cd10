"""Readers that turn dataset folders (real or embedded) into a `miam.core.tokens.TokenSet`."""
