"""Request/response schemas, one module per resource."""
from app.schemas import zh  # noqa: F401  (Chinese validation messages first)
