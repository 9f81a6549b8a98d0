"""gunicorn serves wsgi:app; `flask --app wsgi ...` runs the CLI.

A `.env` file, if present, fills in settings the environment does not set.
"""
from dotenv import load_dotenv

load_dotenv(override=False)

from app import create_app  # noqa: E402

app = create_app()
