"""The layer's AWS I/O: functions that take a boto3 client or resource (and handle botocore's errors). The decisions
they apply are plain functions in the modules one level up, which import neither boto3 nor botocore."""
