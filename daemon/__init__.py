"""The sync daemon (installed as promptvc.daemon)."""
