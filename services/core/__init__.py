"""The ground floor every part stands on: the database object and its types
(`db`), the one clock, domain errors, pagination, masking, encryption of
personal data, phone and ID-number parsing, the audit trail, idempotency keys,
leader election for the scheduler, and the daily clean-up of short-lived
security records. Nothing here knows about contracts, follow-up or bookings.
"""
