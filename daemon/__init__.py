"""The sync daemon (installed as promptvc.daemon): watch prompt files, auto-commit, sync.

Only this package imports watchdog; the CLI imports it inside `pvc daemon` commands.
"""
