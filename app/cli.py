"""flask commands: `demo seed` (more groups arrive with later work)."""
from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

demo_cli = AppGroup("demo", help="演示数据")


@demo_cli.command("seed")
def demo_seed() -> None:
    """Create the demo medical community, staff and 200 residents (idempotent)."""
    from services import demo
    from services.db import db

    result = demo.seed_demo(current_app.extensions["pii_cipher"])
    db.session.commit()
    click.echo(result.summary())


def register_cli(app: Flask) -> None:
    app.cli.add_command(demo_cli)
