"""CD4ML: event-driven, serverless MLOps on AWS, with a local cloud that runs the same template on one machine."""

__version__ = "0.1.0"
