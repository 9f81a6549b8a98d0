from __future__ import annotations

from flask_smorest import Blueprint

from app.auth import cipher, current_actor, login_required, request_context
from app.schemas.me import MeSchema
from app.tx import commit
from services import me, residents

blp = Blueprint("me", __name__, url_prefix="/me", description="居民本人")


@blp.route("", methods=["GET"])
@login_required("resident")
@blp.response(200, MeSchema)
def get_me():
    """居民本人的档案、当前签约和待办事项"""
    scope = current_actor().scope
    resident = residents.read_resident(scope.resident_id, scope, request_context())
    summary = me.summary(resident)
    commit()
    return {"profile": residents.view(resident, cipher()), "contract": summary.contract,
            "upcoming": summary.upcoming}
