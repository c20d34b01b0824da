"""Column names, event types and table schemas: the one definition the project shares.

Every module refers to columns through these constants; `docs/data.md` documents them.
"""

from __future__ import annotations

from enum import StrEnum

# --- column names -------------------------------------------------------------------------
EVENT_ID = "event_id"
CUSTOMER_ID = "customer_id"
EVENT_TYPE = "event_type"
EVENT_TS = "timestamp"
PRODUCT_ID = "product_id"
CATEGORY = "category"
PRICE = "price"
QUANTITY = "quantity"
QUERY = "query"
CAMPAIGN_ID = "campaign_id"
CHANNEL = "channel"

SIGNUP_TS = "signup_ts"
COUNTRY = "country"
TIMEZONE = "timezone"
CONSENT = "consent"
UNSUBSCRIBED = "unsubscribed"
SMS_CONSENT = "sms_consent"  # consent to other channels (channel escalation); missing: none
PUSH_CONSENT = "push_consent"

MARGIN = "margin"
DEFAULT_MARGIN = 0.3  # a product's margin when the data gives none (loaders, policy)
IN_STOCK = "in_stock"

REASON = "reason"  # rejects files: why a row was refused
ROW = "source_row"  # rejects files: 1-based row number in the input (data rows)


class EventType(StrEnum):
    """Behavioral events the service understands."""

    SIGNUP = "signup"
    PRODUCT_VIEW = "product_view"
    CATEGORY_VIEW = "category_view"
    SEARCH = "search"
    ADD_TO_CART = "add_to_cart"
    REMOVE_FROM_CART = "remove_from_cart"
    CHECKOUT_START = "checkout_start"
    PURCHASE = "purchase"
    EMAIL_SENT = "email_sent"
    EMAIL_OPEN = "email_open"
    EMAIL_CLICK = "email_click"
    UNSUBSCRIBE = "unsubscribe"
    # a message the caller sent on another channel (a step of a decision's escalation plan)
    SMS_SENT = "sms_sent"
    PUSH_SENT = "push_sent"


EVENT_TYPES: tuple[str, ...] = tuple(e.value for e in EventType)
PRODUCT_EVENTS = frozenset(
    {
        EventType.PRODUCT_VIEW,
        EventType.ADD_TO_CART,
        EventType.REMOVE_FROM_CART,
        EventType.PURCHASE,
    }
)
EMAIL_EVENTS = frozenset(
    {EventType.EMAIL_SENT, EventType.EMAIL_OPEN, EventType.EMAIL_CLICK, EventType.UNSUBSCRIBE}
)
# the channels a decision may escalate to: their send event and their profile consent column
CHANNEL_SENDS: dict[str, EventType] = {"sms": EventType.SMS_SENT, "push": EventType.PUSH_SENT}
CHANNEL_CONSENTS: dict[str, str] = {"sms": SMS_CONSENT, "push": PUSH_CONSENT}
SITE_EVENTS = (frozenset(EventType) - EMAIL_EVENTS - frozenset(CHANNEL_SENDS.values())
               - {EventType.SIGNUP})

# --- table schemas: column -> logical type -------------------------------------------------
# Logical types: "str", "ts" (UTC timestamp), "float", "int", "bool".
EVENT_COLUMNS: dict[str, str] = {
    EVENT_ID: "str",
    CUSTOMER_ID: "str",
    EVENT_TYPE: "str",
    EVENT_TS: "ts",
    PRODUCT_ID: "str",
    CATEGORY: "str",
    PRICE: "float",
    QUANTITY: "int",
    QUERY: "str",
    CAMPAIGN_ID: "str",
    CHANNEL: "str",
}
EVENT_REQUIRED = (CUSTOMER_ID, EVENT_TYPE, EVENT_TS)

CUSTOMER_COLUMNS: dict[str, str] = {
    CUSTOMER_ID: "str",
    SIGNUP_TS: "ts",
    COUNTRY: "str",
    TIMEZONE: "str",
    CONSENT: "bool",
    UNSUBSCRIBED: "bool",
    SMS_CONSENT: "bool",
    PUSH_CONSENT: "bool",
}
CUSTOMER_REQUIRED = (CUSTOMER_ID,)

PRODUCT_COLUMNS: dict[str, str] = {
    PRODUCT_ID: "str",
    CATEGORY: "str",
    PRICE: "float",
    MARGIN: "float",
    IN_STOCK: "bool",
}
PRODUCT_REQUIRED = (PRODUCT_ID,)

# --- dataset files: what a data directory holds ---------------------------------------------
EVENTS_FILE = "events.parquet"
CUSTOMERS_FILE = "customers.parquet"
PRODUCTS_FILE = "products.parquet"
REJECTS_FILE = "rejects.csv"
MANIFEST_FILE = "manifest.json"
TRUTH_DIR = "truth"  # simulator ground truth (latent traits), absent for real data
# campaign-log columns: exact expected reward of each treatment (simulated logs only)
TRUTH_PREFIX = "true_reward_"
