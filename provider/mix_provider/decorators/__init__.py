"""TaskFlow decorators of the Mix provider (``@task.mix``)."""
