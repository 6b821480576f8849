"""harborkit fix: turn failed checks into planned changes, apply and roll them back."""
