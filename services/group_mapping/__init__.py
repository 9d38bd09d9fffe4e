"""The group-mapping service: SCIM groups, their members, and group-to-role mapping."""
