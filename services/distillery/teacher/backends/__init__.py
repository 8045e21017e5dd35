"""Teacher backends: one interface, chosen per job (see :mod:`.base`)."""
