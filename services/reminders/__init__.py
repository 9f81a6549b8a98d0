"""Reminders (提醒): the planner fills the outbox with one row per message
(unique dedupe keys, so planning twice adds nothing), the dispatcher sends
them exactly once at a bounded rate outside quiet hours through a channel
(console, Twilio SMS, WeChat subscribe messages), and the outbox answers
provider callbacks, opt-outs, preferences and the admin's delivery figures.
"""
