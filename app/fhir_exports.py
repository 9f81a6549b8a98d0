"""The FHIR Bulk Data export's process glue (as app/reminders.py is the reminders'):
its settings from the config, the worker thread a kick-off starts, and the run of
whatever is queued or was interrupted (the scheduler's fhir_exports job)."""
from __future__ import annotations

import os
import threading

from flask import Flask

from services.core.db import db
from services.exports.fhir import bulk


def bulk_settings(app: Flask) -> bulk.BulkSettings:
    c = app.config
    return bulk.BulkSettings(directory=c.get("FHIR_EXPORT_DIR") or os.path.join(app.instance_path, "fhir-exports"),
                             ttl_hours=c["FHIR_EXPORT_TTL_HOURS"])


def run_pending(app: Flask) -> int:
    """Run every export that is queued or was left running (the scheduler's job)."""
    settings = bulk_settings(app)
    ran = 0
    for export_id in bulk.pending_exports(settings):
        bulk.run_export(export_id, settings, app.extensions["pii_cipher"])
        ran += 1
    return ran


def start_worker(app: Flask, export_id: str) -> None:
    def work():
        with app.app_context():
            try:
                bulk.run_export(export_id, bulk_settings(app), app.extensions["pii_cipher"])
            finally:
                db.session.remove()

    if app.config["FHIR_EXPORT_THREAD"]:
        threading.Thread(target=work, name=f"fhir-export-{export_id[:8]}", daemon=True).start()
