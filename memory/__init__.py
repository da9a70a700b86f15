"""The vector memory of the run: Chroma collections of accepted items and known safety issues."""
