"""SageMaker: training, processing and transform jobs (`jobs/`), endpoints (`endpoints/`), the model registry, the
images the local cloud can run, S3 staging of their files, and the one module that hooks them into moto (`hooks`)."""
