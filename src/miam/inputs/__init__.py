"""Getting data in: downloads, archives, embedded datasets, readers, tokenizers, the quality log."""
