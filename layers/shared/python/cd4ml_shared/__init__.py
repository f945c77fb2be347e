"""Code shared by the project's Lambda functions (a Lambda layer) and its CLI: the pipeline's vocabulary, contracts,
data quality and decisions as plain modules, and in `aws/` the functions that carry them out with boto3 clients."""
