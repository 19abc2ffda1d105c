"""Other systems' APIs served by tunehouse, one package per system (``clearml``).

A compat package translates a foreign client's calls into calls of the store's
interfaces; it sits below the server (which mounts it and hands it the guarded store of
the authenticated user) and above the store.
"""
