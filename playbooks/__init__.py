"""Built-in playbooks (YAML files in this package)."""
