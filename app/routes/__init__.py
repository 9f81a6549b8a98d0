"""One module per part of the domain, each with its blueprints, all under /api/v1
(health checks at the root)."""
from __future__ import annotations

from flask import Flask
from flask_smorest import Api


def register_blueprints(app: Flask, api: Api) -> None:
    from app.routes import (
        access,
        appointments,
        audit,
        contracts,
        dashboard,
        exports,
        fhir,
        followup,
        health,
        org,
        reminders,
        residents,
        stats,
        sync,
    )

    api.register_blueprint(health.blp, url_prefix="")
    for blp in (access.blp, org.blp, org.staff_blp, residents.blp, contracts.blp, followup.blp, appointments.blp,
                reminders.blp, residents.me_blp, audit.blp, sync.blp, stats.blp, exports.blp, fhir.blp):
        api.register_blueprint(blp, url_prefix="/api/v1" + (blp.url_prefix or ""))
    app.register_blueprint(dashboard.bp)  # the /admin/ page: plain Flask, not in the API spec
