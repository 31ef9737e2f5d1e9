"""The version catalog and the product's "approved version" standard.

``load_catalog`` gives every known release (shipped snapshot + refreshed overlay); ``approved_release``
applies a policy's baseline on a given day; ``assess`` judges a running version; ``decide_build`` is the
new-build gate. All of them take the day as a parameter, so any past or future day can be evaluated.
"""

from tasks.catalog.approval import (
    ApprovalReason,
    approval_reason,
    approved_release,
    approved_releases,
    find_baseline,
    is_approved,
    is_rejected,
)
from tasks.catalog.catalog import Catalog, MajorInfo, Release, load_catalog
from tasks.catalog.compliance import Assessment, ComplianceStatus, assess, cu_level
from tasks.catalog.gate import BuildDecision, BuildSpec, decide_build
from tasks.catalog.refresh import (
    RefreshResult,
    SourceUnavailable,
    learn_installable,
    refresh_from_endoflife,
    versions_from_package_output,
)
from tasks.catalog.store import mark_canary_validated
from tasks.catalog.versions import VersionError, major_of, parse_engine, parse_major, parse_version, sort_key

__all__ = [
    "ApprovalReason",
    "Assessment",
    "BuildDecision",
    "BuildSpec",
    "Catalog",
    "ComplianceStatus",
    "MajorInfo",
    "RefreshResult",
    "Release",
    "SourceUnavailable",
    "VersionError",
    "approval_reason",
    "approved_release",
    "approved_releases",
    "assess",
    "cu_level",
    "decide_build",
    "find_baseline",
    "is_approved",
    "is_rejected",
    "learn_installable",
    "load_catalog",
    "major_of",
    "mark_canary_validated",
    "parse_engine",
    "parse_major",
    "parse_version",
    "refresh_from_endoflife",
    "sort_key",
    "versions_from_package_output",
]
