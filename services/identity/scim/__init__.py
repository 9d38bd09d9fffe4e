"""SCIM representation rules of the identity service: schemas, writes, PATCH, filters.

The stored form of a resource is a JSON object with canonical attribute names
(RFC 7643), extension attributes under their schema URN, and no `id` or
`meta`. Every function here takes the `ResourceSchema` it checks against, so an
org with schemas of its own can pass them in.
"""
