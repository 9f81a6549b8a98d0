"""Sessions (出诊/上门/巡诊安排), the bookings on them and each booking's history.

A session's `booked` counter is the number of places taken (every booking
that is not cancelled). It only moves through conditional UPDATEs, and the
database refuses `booked > capacity`, so no code path can overbook.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.core.clock import now
from services.core.db import UTCDateTime, db

SLOT_KINDS = ("clinic", "home_visit", "round")
SLOT_KIND_LABELS = {"clinic": "门诊", "home_visit": "上门服务", "round": "巡诊"}
AUDIENCES = ("everyone", "signed_only", "signed_first")
AUDIENCE_LABELS = {"everyone": "所有居民", "signed_only": "仅签约居民", "signed_first": "签约居民优先"}
SLOT_STATUSES = ("open", "cancelled")

APPOINTMENT_STATUSES = ("booked", "cancelled", "checked_in", "no_show")
APPOINTMENT_STATUS_LABELS = {"booked": "已预约", "cancelled": "已取消", "checked_in": "已签到", "no_show": "爽约"}
# A resident holds at most one of these per session.
LIVE_APPOINTMENT_STATUSES = ("booked", "checked_in")
# Who or what cancelled a booking (the reminders work tells residents about
# bookings cancelled with their session).
CANCELLED_BY = ("resident", "staff", "session", "reschedule")


class Slot(db.Model):
    __tablename__ = "slots"
    __table_args__ = (
        CheckConstraint("kind IN ('clinic','home_visit','round')", name="kind_known"),
        CheckConstraint("audience IN ('everyone','signed_only','signed_first')", name="audience_known"),
        CheckConstraint("status IN ('open','cancelled')", name="status_known"),
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint("booked >= 0 AND booked <= capacity", name="booked_within_capacity"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("kind <> 'round' OR round_point_id IS NOT NULL", name="round_has_point"),
        Index("ix_slots_team_starts_at", "team_id", "starts_at"),
        Index("ix_slots_staff_starts_at", "staff_id", "starts_at"),
        Index("ix_slots_round_point_starts_at", "round_point_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    kind: Mapped[str] = mapped_column(String(20))
    round_point_id: Mapped[int | None] = mapped_column(ForeignKey("round_points.id"))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    capacity: Mapped[int] = mapped_column(Integer)
    booked: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    audience: Mapped[str] = mapped_column(String(20))
    # signed_first: when booking opens to residents who have not signed with the team.
    open_to_all_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    title: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="open", server_default=text("'open'"))
    series_id: Mapped[str | None] = mapped_column(String(40), index=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancelled_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)

    team: Mapped["Team"] = relationship()  # noqa: F821
    staff: Mapped["Staff | None"] = relationship(foreign_keys=[staff_id])  # noqa: F821
    round_point: Mapped["RoundPoint | None"] = relationship()  # noqa: F821

    @property
    def remaining(self) -> int:
        return 0 if self.status != "open" else max(0, self.capacity - self.booked)


class Appointment(db.Model):
    __tablename__ = "appointments"
    __table_args__ = (
        CheckConstraint("status IN ('booked','cancelled','checked_in','no_show')", name="status_known"),
        CheckConstraint(
            "cancelled_by IS NULL OR cancelled_by IN ('resident','staff','session','reschedule')",
            name="cancelled_by_known",
        ),
        # One live booking per resident per session, enforced by the database.
        Index("uq_appointments_one_live_per_slot", "slot_id", "resident_id", unique=True,
              sqlite_where=text("status IN ('booked','checked_in')"),
              postgresql_where=text("status IN ('booked','checked_in')")),
        Index("ix_appointments_resident_status", "resident_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id"), index=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    status: Mapped[str] = mapped_column(String(20), default="booked")
    reason: Mapped[str | None] = mapped_column(String(500))
    # The due follow-up this visit serves, if any.
    enrolment_id: Mapped[int | None] = mapped_column(ForeignKey("program_enrolments.id"))
    booked_by: Mapped[str] = mapped_column(String(20))  # resident | staff
    booked_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    # A family member who booked for the resident (家庭成员代约); null when they booked themself or staff did.
    proxy_resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancelled_by: Mapped[str | None] = mapped_column(String(20))
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    checked_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    rescheduled_from_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    slot: Mapped[Slot] = relationship()
    resident: Mapped["Resident"] = relationship(foreign_keys=[resident_id])  # noqa: F821


class AppointmentEvent(db.Model):
    """Every change of a booking: who, when, from which status, why."""

    __tablename__ = "appointment_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor_type: Mapped[str] = mapped_column(String(20))  # resident | staff | system
    actor_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(500))
