"""The service-package catalog (服务包目录): package files read and validated
(`files`), the versions loaded into the database (`versions`), and the pure
rules over them: pricing to the fen (`pricing`) and who may take a package
(`eligibility`). The pure modules import without Flask or the database.
"""
from services.core.exports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "versions": ("current_by_codes", "current_versions", "definition_of", "load_catalog"),
    "files": ("CATALOG_DIR", "CatalogError", "load_directory", "scan_directory"),
})
