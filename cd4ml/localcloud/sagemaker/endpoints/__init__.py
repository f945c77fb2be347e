"""SageMaker endpoints as local model servers with blue/green updates (`engine` is the entry point)."""
