"""The schema comes from the migrations alone, and they match the models exactly
(the equivalent of `flask db check`), on SQLite and on PostgreSQL."""
from __future__ import annotations

import os

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from services.core.db import db


def test_models_and_migrations_agree(app):
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
        diffs = compare_metadata(ctx, db.metadata)
    assert diffs == [], f"models and migrations differ, run `flask db migrate`: {diffs}"


def test_partial_unique_index_for_active_contracts_exists(app):
    indexes = {ix["name"]: ix for ix in inspect(db.engine).get_indexes("contracts")}
    assert indexes["uq_contracts_one_active_per_resident"]["unique"]


def test_no_create_all_in_production_paths():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    offenders = []
    for folder in ("app", "services", "migrations"):
        for dirpath, _, files in os.walk(os.path.join(root, folder)):
            for name in files:
                if name.endswith(".py"):
                    with open(os.path.join(dirpath, name), encoding="utf-8") as fh:
                        if "create_all(" in fh.read():
                            offenders.append(os.path.join(dirpath, name))
    assert offenders == []


def test_foreign_keys_are_enforced(app):
    """SQLite enforces foreign keys too (PRAGMA foreign_keys=ON), like PostgreSQL."""
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        db.session.execute(text(
            "INSERT INTO round_points (institution_id, name, village, created_at) "
            "VALUES (424242, 'x', 'y', CURRENT_TIMESTAMP)"))
        db.session.flush()
    db.session.rollback()
