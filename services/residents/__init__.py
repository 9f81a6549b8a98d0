"""The register of residents (居民档案): registration with the ID number
encrypted and masked, search, changes, the audited reveal, and what a signed-in
resident sees about themself (`me`), and family links (a resident acting for a
linked member).
"""
from services.core.exports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "register": ("ResidentView", "create_resident", "get_visible_resident", "read_resident", "residents_page",
                 "reveal_resident", "update_resident", "view"),
    "me": ("MeView", "me_view"),
    "importing": ("ImportReport", "import_residents", "template_workbook"),
    "family": ("FamilySettings", "acting_scope", "add_member", "confirm_by_code", "confirm_by_staff", "link_view_dict",
               "list_links", "remove_link", "resend_code"),
})
