"""Cobol Protocol REST/WebSocket gateway: users, roles, audit, job submission and downloads."""
