"""Data preparation: the embedded and Hugging Face datasets, their splits, and the sentence encoders."""
