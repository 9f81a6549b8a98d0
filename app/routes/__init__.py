"""One blueprint per resource, all under /api/v1 (health checks at the root)."""
from __future__ import annotations

from flask import Flask
from flask_smorest import Api


def register_blueprints(app: Flask, api: Api) -> None:
    from app.routes import (
        admin,
        appointments,
        audit,
        auth,
        contracts,
        followups,
        health,
        me,
        org,
        reminders,
        residents,
    )

    for module in (health, auth, org, admin, residents, contracts, followups, appointments, reminders, me, audit):
        prefix = "" if module is health else "/api/v1" + (module.blp.url_prefix or "")
        api.register_blueprint(module.blp, url_prefix=prefix)
