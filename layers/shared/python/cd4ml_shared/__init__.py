"""Code shared by the project's Lambda functions (a Lambda layer) and its CLI: contracts and data quality."""
