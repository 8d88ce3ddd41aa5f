"""HTTP plumbing shared by every dialect: bodies, parameters, credentials, errors."""
