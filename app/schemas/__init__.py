"""Request/response schemas, one module per resource."""
from app.schemas import zh  # noqa: F401  (Chinese validation messages first)
from app.schemas.fastdump import install as _install_fast_dump

_install_fast_dump()  # responses serialised from a per-schema plan (see fastdump.py)
