"""The administrators' dashboard (管理看板) at /admin/: one server-rendered page
in Chinese and its static files, all served by the app (counties run on
government networks without internet: no CDN). The page signs in with the
staff accounts of POST /auth/staff/login, keeps the tokens in memory only
(never in the URL or in storage), and draws every figure from the documented
API, so it is scoped exactly as the API is. Not part of the OpenAPI spec: it
is a page, not an endpoint."""
from __future__ import annotations

import os

from flask import Blueprint, Response, render_template

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ECHARTS = "vendor/echarts-5.6.0/echarts.min.js"

bp = Blueprint("dashboard", __name__, url_prefix="/admin",
               static_folder=os.path.join(HERE, "static"), static_url_path="/static",
               template_folder=os.path.join(HERE, "templates"))

# Only this origin's own files and API. ECharts sets element styles from script, hence
# 'unsafe-inline' for styles only; no inline script runs.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")


@bp.get("/")
def dashboard() -> Response:
    response = Response(render_template("dashboard.html", echarts=ECHARTS), mimetype="text/html")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response
