"""The template's GitOps machinery: the PR report, deploy, rollback, the drift check, job files.

A fork rarely edits this: its ML lives in the modules beside this package (the pipeline stages,
features, metrics) and in params.yaml.
"""
