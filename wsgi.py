"""gunicorn serves wsgi:app; `flask --app wsgi ...` runs the CLI."""
from app import create_app

app = create_app()
