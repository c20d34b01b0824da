"""Feast entities: customers and products, keyed by their string ids."""

from __future__ import annotations

from feast import Entity, ValueType

from features import schema as s


def customer() -> Entity:
    return Entity(name="customer", join_keys=[s.CUSTOMER_ID], value_type=ValueType.STRING,
                  description="A person who can receive email")


def product() -> Entity:
    return Entity(name="product", join_keys=[s.PRODUCT_ID], value_type=ValueType.STRING,
                  description="A catalog item")
