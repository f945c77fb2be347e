"""SageMaker jobs as local processes under the container contract (`engine` is the entry point)."""
