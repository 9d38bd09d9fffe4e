"""SCIM 2.0 gateway: authenticates IdP traffic and forwards it to the services."""
