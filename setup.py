"""The C reader of plain flat documents (wxhook/core/_flatxml.c); everything else is in
pyproject.toml. Optional: without a C compiler the install goes on, and wxhook.core.xmlcodec reads
every document in Python, with the same results."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("wxhook.core._flatxml", ["wxhook/core/_flatxml.c"], optional=True),
    ]
)
