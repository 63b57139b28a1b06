"""Who is asking, and may they: users and roles, sessions, CSRF, the API token, a proxy's header."""
