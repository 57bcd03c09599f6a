"""One router per resource; app.py includes them all (new resources slot in as new modules)."""
