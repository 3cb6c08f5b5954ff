"""Types every layer of the hub shares (matching, mirror, review, sync, checks), below all of them: the hub's
view of a student and the fields the hub writes at each gateway. Nothing here imports another hub package."""
