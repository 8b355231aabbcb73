"""edgebench-plainconv: a bicubic x3 model and a pure-numpy runtime, registered with edgebench."""

from edgebench import ModelSpec, hookimpl


def build_cubic():
    from .model import build  # torch is imported only when a model is built, not at start-up

    return build()


@hookimpl
def edgebench_register_models(register):
    register(ModelSpec(
        name="plainconv-cubic",
        scale=3,
        build=build_cubic,
        description="bicubic x3 as a fixed 5x5 conv + pixel shuffle",
    ))


@hookimpl
def edgebench_register_backends(register):
    from .backend import PlainconvBackend

    register(PlainconvBackend())
