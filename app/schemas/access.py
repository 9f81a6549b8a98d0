from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from app.schemas.common import BaseSchema, Int


class StaffLoginSchema(BaseSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=60))
    password = fields.String(required=True, validate=validate.Length(min=1, max=200),
                             load_only=True)


class UserSchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    username = fields.String()
    name = fields.String()
    role = fields.String(metadata={"description": "doctor | admin"})
    institution_id = Int(allow_none=True)
    team_id = Int(allow_none=True, metadata={"description": "管理员为 null"})
    team_role = fields.String(allow_none=True,
                              metadata={"description": "doctor | nurse | public_health | village_doctor"})
    community_id = Int()


class TokensSchema(ma.Schema):
    class Meta:
        ordered = True

    access_token = fields.String()
    refresh_token = fields.String()
    token_type = fields.String()
    expires_in = Int(metadata={"description": "访问令牌有效秒数"})


class StaffLoginResponseSchema(TokensSchema):
    user = fields.Nested(UserSchema)


class ResidentIdentitySchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    name = fields.String()
    role = fields.String()
    wechat_linked = fields.Boolean()


class ResidentLoginResponseSchema(TokensSchema):
    resident = fields.Nested(ResidentIdentitySchema)
    wechat_link_error = fields.String(allow_none=True, metadata={
        "description": "仅 /auth/resident/login 带 wechat_code 时：未能绑定微信的原因代码，成功为 null"})


class OtpRequestSchema(BaseSchema):
    phone = fields.String(required=True, validate=validate.Length(min=1, max=30))


class OtpAcceptedSchema(ma.Schema):
    message = fields.String()
    expires_in = Int()


class ResidentLoginSchema(BaseSchema):
    phone = fields.String(required=True, validate=validate.Length(min=1, max=30))
    code = fields.String(required=True, validate=validate.Regexp(r"^\s*\d{6}\s*$", error="验证码应为6位数字"))
    resident_id = Int(metadata={"description": "一个手机号关联多位居民时，指定登录哪一位"})
    wechat_code = fields.String(validate=validate.Length(min=1, max=200),
                                metadata={"description": "可选：同时绑定微信（wx.login 的 code）"})


class WechatLoginSchema(BaseSchema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=200))


class LogoutSchema(BaseSchema):
    refresh_token = fields.String(metadata={"description": "可选：同时注销该刷新令牌及其所属的整次登录"})


class RefreshResponseSchema(ma.Schema):
    class Meta:
        ordered = True

    access_token = fields.String()
    refresh_token = fields.String(metadata={
        "description": "新的刷新令牌：刷新令牌只能使用一次，下次刷新须使用此令牌；再次使用旧令牌将注销本次登录"})
    token_type = fields.String()
    expires_in = Int(metadata={"description": "访问令牌有效秒数"})
