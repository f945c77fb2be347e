"""Programs that run inside the child processes of the local cloud: a Lambda worker's bootstrap, a SageMaker job's
container entry, a model server. They are run by path, never imported by the package, and import only the standard
library, so that the user's code sees the modules it would see in AWS's images (tests/unit/localcloud proves it)."""
