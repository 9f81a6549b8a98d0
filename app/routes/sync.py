"""Doctors' offline sync: push what the phone recorded, then pull the team's changes."""
from __future__ import annotations

import marshmallow as ma
from flask import current_app
from flask_smorest import Blueprint

from app.auth import cipher, current_actor, login_required, request_context, settings
from app.errors import flatten_messages
from app.extensions import compress
from app.schemas.common import Int
from app.schemas.contracts import ContractCreateSchema, ContractDetailSchema, ServiceCreateSchema, ServiceSchema
from app.schemas.followup import EXTRA_KEYS, FollowUpCreateSchema, FollowUpSchema
from app.schemas.residents import ResidentUpdateSchema
from app.schemas.sync import SyncPullQuerySchema, SyncPullSchema, SyncPushResultSchema, SyncPushSchema
from app.tx import commit
from services import contracts, followup, residents, sync
from services.core import clock
from services.core.errors import ValidationFailed

blp = Blueprint("sync", __name__, url_prefix="/sync", description="巡诊离线同步：先推送手机上的记录，再拉取团队的变更")

_FOLLOWUP_IN, _FOLLOWUP_OUT = FollowUpCreateSchema(), FollowUpSchema()
_SERVICE_IN, _SERVICE_OUT = ServiceCreateSchema(), ServiceSchema()
_CONTRACT_IN, _CONTRACT_OUT = ContractCreateSchema(), ContractDetailSchema()
_RESIDENT_IN = ResidentUpdateSchema()
_ID = Int(required=True)


@blp.route("/pull", methods=["GET"])
@compress.compressed()
@login_required("doctor", "admin")
@blp.arguments(SyncPullQuerySchema, location="query")
@blp.response(200, SyncPullSchema)
@blp.alt_response(422, description="INVALID_CURSOR：游标无效或属于其他团队，请不带 cursor 重新全量同步")
def pull(args):
    """拉取本团队的变更（居民、慢病管理、预约、签约、巡诊点、服务包目录）。不带 cursor 为首次全量；
    has_more 为 true 时用返回的 cursor 继续，直到 false；保存最后的 cursor 供下次增量同步。
    请求头 Accept-Encoding: gzip 时响应压缩。"""
    result = sync.pull_changes(current_actor().scope, args.get("team_id"), args.get("cursor"), args["limit"],
                               cipher(), settings().sync, request_context())
    commit()
    return {"changes": result.changes, "cursor": result.cursor, "has_more": result.has_more}


def _load(schema: ma.Schema, data: dict) -> dict:
    try:
        return schema.load(data)
    except ma.ValidationError as err:
        raise ValidationFailed("提交的数据有误", errors=flatten_messages(err.messages)) from None


def _take_id(data: dict, name: str) -> tuple[int, dict]:
    rest = dict(data)
    try:
        return _ID.deserialize(rest.pop(name, ma.missing), name, rest), rest
    except ma.ValidationError as err:
        raise ValidationFailed("提交的数据有误", errors={name: [str(m) for m in err.messages]}) from None


def _handlers():
    scope, ctx, pii = current_actor().scope, request_context(), cipher()
    rules, conf = current_app.extensions["followup_rules"], settings()

    def followup_record(record, not_reached=False):
        data = {**record["data"], **({"not_reached": True} if not_reached else {})}
        body = _load(_FOLLOWUP_IN, data)
        body = {**body, "extra": {k: body.pop(k) for k in list(body) if k in EXTRA_KEYS}}
        return "created", _FOLLOWUP_OUT.dump(followup.record_followup(body, scope, rules, ctx))

    def service_delivery(record):
        contract_id, rest = _take_id(record["data"], "contract_id")
        body = _load(_SERVICE_IN, rest)
        return "created", _SERVICE_OUT.dump(contracts.record_service(contract_id, body, scope))

    def contract_signing(record):
        body = _load(_CONTRACT_IN, record["data"])
        return "created", _CONTRACT_OUT.dump(contracts.create_contract(body, scope, conf.contracts))

    def resident_update(record):
        resident_id, rest = _take_id(record["data"], "resident_id")
        changes = _load(_RESIDENT_IN, rest)
        today = clock.today()
        shown = sync.update_resident_checked(
            resident_id, record.get("base_version"), changes, scope, pii,
            lambda r: sync.resident_record(r, pii, conf.sync, today), residents.update_resident, ctx)
        return "updated", shown

    return {"followup": followup_record, "not_reached": lambda r: followup_record(r, not_reached=True),
            "service_delivery": service_delivery, "contract_signing": contract_signing,
            "resident_update": resident_update}


@blp.route("/push", methods=["POST"])
@login_required("doctor", "admin")
@blp.arguments(SyncPushSchema)
@blp.response(200, SyncPushResultSchema)
def push(body):
    """推送离线记录（最多 500 条）：每条单独提交，按顺序返回 created / updated / duplicate / rejected。
    随访与在线登记同样评估；同一 UUID 重复推送只保存一次并返回第一次的结果；
    resident_update 依据的版本已过时返回 CONFLICT 和当前记录，不覆盖。"""
    records = [{**r, "uuid": str(r["uuid"])} for r in body["records"]]
    ctx = sync.PushContext(scope=current_actor().scope, receipt_days=settings().sync.receipt_days)
    return {"results": sync.push_records(records, _handlers(), ctx)}
