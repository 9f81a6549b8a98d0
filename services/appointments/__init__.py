"""Appointments (预约): sessions teams publish (clinic, home visit, round), who
may book each one, bookings that never overbook, cancellation, rescheduling,
check-in and no-shows with their history, and the day views over them.
"""
from services.core.exports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "sessions": ("AppointmentSettings", "SlotFilters", "create_slots", "slot_view", "slots_page"),
    "bookings": ("AppointmentFilters", "appointment_detail", "appointments_page", "book", "cancel", "cancel_slot",
                 "check_in", "get_appointment_detail", "mark_no_show", "mark_no_shows", "reschedule"),
    "views": ("doctor_agenda", "resident_summary", "team_day"),
})
