"""quantum-llm: reproducible pipeline for quantum and quantum-inspired methods in language models."""

__version__ = "0.1.0"
