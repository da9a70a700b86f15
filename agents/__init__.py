"""The four agents of the Data Advisor loop, their output schemas and the model factory."""
