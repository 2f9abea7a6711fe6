"""The base language model: its offline or Hugging Face source, loading, and adapter merge and export."""
