"""A school's sync screen: when it last synced, the local changes waiting for the hub, and what the last
sync brought in (counts created / updated / conflicts, like Dapodik's ``table_sync_log``)."""
