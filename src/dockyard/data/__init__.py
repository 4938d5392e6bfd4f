"""Tables, never torch: where they come from (`sources`, `readers`), what they must look
like (`schemas` with pandera for the pipeline, `fastcheck` compiled to numpy for scoring,
`validation` and its data report), dates and timestamps (`times`), splits (`split`), the
fitted transform (`features`), and registering tables and batches (`register` for
`dockyard data add`, `append` for `dockyard data append`).

The package face names its modules and imports none of them: a light stage that reads
one module never pays for the others.
"""

__all__ = [
    "append",
    "fastcheck",
    "features",
    "readers",
    "register",
    "schemas",
    "sources",
    "split",
    "times",
    "validation",
]
