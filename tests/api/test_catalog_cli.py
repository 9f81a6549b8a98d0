"""`flask catalog check` and `flask catalog load` from the command line."""
from __future__ import annotations

import os
import shutil

from sqlalchemy import select

from app.config import reconfigure
from services.catalog.files import CATALOG_DIR
from services.core.db import db
from services.models import PackageVersion


def _copy_catalog(tmp_path) -> str:
    target = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, target)
    return str(target)


def test_check_passes_on_the_shipped_catalog(app):
    result = app.test_cli_runner().invoke(args=["catalog", "check"])
    assert result.exit_code == 0, result.output
    assert "9 packages valid" in result.output


def test_check_names_file_field_and_reason(app, tmp_path):
    folder = _copy_catalog(tmp_path)
    path = os.path.join(folder, "basic.yaml")
    text = open(path, encoding="utf-8").read().replace("self_pay_fen: 800", "self_pay_fen: 900")
    open(path, "w", encoding="utf-8").write(text)
    reconfigure(app, PACKAGES_CATALOG_DIR=folder)
    result = app.test_cli_runner().invoke(args=["catalog", "check"])
    assert result.exit_code == 1
    assert "basic.yaml" in result.output and "self_pay_fen" in result.output and "4000" in result.output
    load = app.test_cli_runner().invoke(args=["catalog", "load"])
    assert load.exit_code == 1
    assert db.session.scalar(select(PackageVersion.id)) is None  # a bad catalog loads nothing


def test_load_is_idempotent_and_a_changed_file_becomes_a_new_version(app, tmp_path):
    folder = _copy_catalog(tmp_path)
    reconfigure(app, PACKAGES_CATALOG_DIR=folder)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["catalog", "load"])
    assert first.exit_code == 0 and "9 new versions, 0 unchanged" in first.output
    second = runner.invoke(args=["catalog", "load"])
    assert "0 new versions, 9 unchanged" in second.output
    path = os.path.join(folder, "tcm.yaml")
    text = open(path, encoding="utf-8").read().replace("name: 中医药服务包", "name: 中医药特色服务包")
    open(path, "w", encoding="utf-8").write(text)
    third = runner.invoke(args=["catalog", "load"])
    assert "loaded   tcm v2" in third.output and "1 new versions, 8 unchanged" in third.output
    rows = db.session.execute(select(PackageVersion.version, PackageVersion.name)
                              .where(PackageVersion.code == "tcm").order_by(PackageVersion.version)).all()
    assert [(v, n) for v, n in rows] == [(1, "中医药服务包"), (2, "中医药特色服务包")]
