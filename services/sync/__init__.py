"""Offline sync (巡诊离线同步): the per-team change feed every write keeps in
its own transaction, the pull that pages a team's panel past a cursor without
ever skipping a change, and the push that stores each record made offline
exactly once, judged as online.
"""
from services.core.exports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "feed": ("install_change_tracking", "rebuild", "touch"),
    "pull": ("DEFAULT_LIMIT", "MAX_LIMIT", "PullResult", "SyncSettings", "pull_changes", "resident_record"),
    "push": ("PushContext", "StaleRecord", "push_records", "update_resident_checked"),
})
