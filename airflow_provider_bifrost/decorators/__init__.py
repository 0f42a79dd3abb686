"""TaskFlow decorators of the provider: ``@task.bifrost_batch``."""
