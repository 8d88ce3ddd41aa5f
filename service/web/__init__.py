"""HTTP plumbing shared by every dialect: app factory, bodies, errors."""
