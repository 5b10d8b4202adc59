"""Reproduction, bisect and candidate fixes, each run in a sandbox (no network, no credentials):
`repro` (verdict at the deployed commit), `bisect` (the culprit), `revert` + `verify` (the
candidate fix), `publish` (host side: a draft pull request, or a local branch and a patch)."""
