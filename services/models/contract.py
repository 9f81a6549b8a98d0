"""Contracts (签约) and what hangs off them: the package snapshot, the
entitlements (履约), delivered services, status history and evaluations."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.core.clock import now
from services.core.db import UTCDateTime, db

CONTRACT_STATUSES = ("pending", "awaiting_payment", "scheduled", "active", "expired", "terminated",
                     "rejected")
CONTRACT_STATUS_LABELS = {
    "pending": "待团队审核", "awaiting_payment": "待缴费", "scheduled": "已续约待生效",
    "active": "生效中", "expired": "已到期", "terminated": "已解约", "rejected": "已拒绝",
}
# Statuses under which the team looks after the resident (and may see them).
LIVE_CONTRACT_STATUSES = ("pending", "awaiting_payment", "scheduled", "active")
# A resident has at most one of these at a time (an application or a paid renewal in waiting).
OPEN_CONTRACT_STATUSES = ("pending", "awaiting_payment", "scheduled")
PAYMENT_METHODS = ("cash", "wechat", "medical_insurance_card")
DELIVERY_PLACES = ("clinic", "home", "round_point")


class Contract(db.Model):
    __tablename__ = "contracts"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending','awaiting_payment','scheduled','active','expired','terminated','rejected')",
            name="status_known",
        ),
        # One active contract per resident, enforced by the database on both engines.
        Index("uq_contracts_one_active_per_resident", "resident_id", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
        # At most one open application / renewal in waiting per resident.
        Index("uq_contracts_one_open_per_resident", "resident_id", unique=True,
              sqlite_where=text("status IN ('pending','awaiting_payment','scheduled')"),
              postgresql_where=text("status IN ('pending','awaiting_payment','scheduled')")),
        Index("ix_contracts_team_status", "team_id", "status"),
        Index("ix_contracts_status_ends_on", "status", "ends_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    status: Mapped[str] = mapped_column(String(20))
    starts_on: Mapped[dt.date | None] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    term_months: Mapped[int] = mapped_column(Integer, default=12)
    applied_by: Mapped[str] = mapped_column(String(20), default="staff")  # resident | staff
    created_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    # A family member who applied or renewed for the resident; null when they did it themself or staff did.
    proxy_resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"))
    renewed_from_id: Mapped[int | None] = mapped_column(ForeignKey("contracts.id"))
    list_value_fen: Mapped[int] = mapped_column(Integer, default=0)
    self_pay_fen: Mapped[int] = mapped_column(Integer, default=0)
    funding: Mapped[dict] = mapped_column(JSON, default=dict)
    payment_amount_fen: Mapped[int | None] = mapped_column(Integer)
    payment_method: Mapped[str | None] = mapped_column(String(30))
    receipt_no: Mapped[str | None] = mapped_column(String(60))
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reject_reason: Mapped[str | None] = mapped_column(String(500))
    terminate_reason: Mapped[str | None] = mapped_column(String(500))
    terminated_on: Mapped[dt.date | None] = mapped_column(Date)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    team: Mapped["Team"] = relationship()  # noqa: F821
    packages: Mapped[list["ContractPackage"]] = relationship(
        cascade="all, delete-orphan", order_by="ContractPackage.id", lazy="selectin")
    entitlements: Mapped[list["ContractEntitlement"]] = relationship(
        cascade="all, delete-orphan", order_by="ContractEntitlement.id", lazy="selectin")


class ContractPackage(db.Model):
    """A package as it was when signed: version, prices, items, discounts."""

    __tablename__ = "contract_packages"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"), index=True)
    package_version_id: Mapped[int] = mapped_column(ForeignKey("package_versions.id"))
    code: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    list_value_fen: Mapped[int] = mapped_column(Integer)
    funding: Mapped[dict] = mapped_column(JSON)
    self_pay_fen: Mapped[int] = mapped_column(Integer)
    waiver: Mapped[str | None] = mapped_column(String(200))
    definition: Mapped[dict] = mapped_column(JSON)


class ContractEntitlement(db.Model):
    """What the contract promised for one service item, and how much is used.

    `used` only grows through a conditional UPDATE (used < promised), so two
    doctors recording the last visit at once cannot both succeed.
    """

    __tablename__ = "contract_entitlements"
    __table_args__ = (
        UniqueConstraint("contract_id", "item_code", name="uq_contract_entitlements_contract_item"),
        CheckConstraint("used >= 0 AND used <= promised", name="used_within_promised"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    item_code: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(100))
    package_codes: Mapped[list] = mapped_column(JSON)
    promised: Mapped[int] = mapped_column(Integer)
    used: Mapped[int] = mapped_column(Integer, default=0)
    unit_value_fen: Mapped[int] = mapped_column(Integer)


class ServiceDelivery(db.Model):
    __tablename__ = "service_deliveries"
    __table_args__ = (
        CheckConstraint("place IN ('clinic','home','round_point')", name="place_known"),
        Index("ix_service_deliveries_contract_date", "contract_id", "delivered_on"),
        # 履约率 of a past period subtracts the deliveries after its end (services.stats.figures)
        Index("ix_service_deliveries_delivered_on", "delivered_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    entitlement_id: Mapped[int] = mapped_column(ForeignKey("contract_entitlements.id", ondelete="CASCADE"))
    item_code: Mapped[str] = mapped_column(String(60))
    delivered_on: Mapped[dt.date] = mapped_column(Date)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    place: Mapped[str] = mapped_column(String(20))
    round_point_id: Mapped[int | None] = mapped_column(ForeignKey("round_points.id"))
    note: Mapped[str | None] = mapped_column(String(500))
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class ContractEvent(db.Model):
    """Each status change: who, when, from which status, why."""

    __tablename__ = "contract_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor_type: Mapped[str] = mapped_column(String(20))  # staff | resident | system
    actor_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)


class Evaluation(db.Model):
    """满意度评价: one per contract per calendar month."""

    __tablename__ = "evaluations"
    __table_args__ = (
        UniqueConstraint("contract_id", "month", name="uq_evaluations_contract_month"),
        CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),
        Index("ix_evaluations_team_created", "team_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM in the deployment's time zone
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(String(500))
    # A family member who rated for the resident; null when the resident rated themself.
    proxy_resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
