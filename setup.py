"""Only the optional C extension: the project's metadata is in pyproject.toml.

`dnsctl.resolver._replay` (the UDP reader's loop in C) is optional: where it does not compile (no
compiler, another platform), the install goes on and the reader runs its Python loop.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "dnsctl.resolver._replay",
            ["dnsctl/resolver/_replay.c"],
            extra_compile_args=["-Wall"],
            optional=True,
        )
    ]
)
