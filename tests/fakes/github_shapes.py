"""GitHub REST response shapes live in `triage.backends.github_shapes`; re-exported here."""

from triage.backends.github_shapes import (
    API,
    WEB,
    basic_error,
    commit,
    content_file,
    deployment,
    deployment_status,
    diff_entry,
    directory_item,
    release,
    repository,
    user,
)

__all__ = ["API", "WEB", "basic_error", "commit", "content_file", "deployment",
           "deployment_status", "diff_entry", "directory_item", "release", "repository", "user"]
