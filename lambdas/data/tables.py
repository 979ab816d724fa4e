"""The DynamoDB tables and indexes, defined once: the CDK stack and the local stack both build from this.

Every list on a request path is a Query on one of these keys or indexes, never a Scan.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Key:
    partition: str
    sort: str | None = None
    sort_type: str = "S"  # "S" or "N"


@dataclass(frozen=True)
class Index:
    name: str
    key: Key


@dataclass(frozen=True)
class TableSpec:
    setting: str  # the Settings field that holds the table's name
    key: Key
    indexes: tuple[Index, ...] = field(default_factory=tuple)
    ttl_attribute: str | None = None


# Items that must be listed carry a constant `record_type` so that one index lists them all.
USERS = TableSpec(
    setting="users_table",
    key=Key("name"),
    indexes=(
        Index("by_key_hash", Key("key_hash")),
        Index("by_created", Key("record_type", "created_at")),
    ),
)

# Models: `id` items for models; `name#<name>` guard items (no `type`, so outside the type index)
# make names unique and resolve a name to its id with one GetItem.
MODELS = TableSpec(
    setting="models_table",
    key=Key("id"),
    indexes=(Index("by_type", Key("type", "created_at")),),
)

ENDPOINTS = TableSpec(
    setting="endpoints_table",
    key=Key("name"),
    indexes=(Index("by_created", Key("record_type", "created_at")),),
)

# Jobs: newest first per owner; `pending` (present only while in_progress, sparse) + `deadline`
# (epoch seconds) lets the sweeper query overdue jobs; `queue` (the endpoint, present only while in_progress,
# sparse) + `started_at` gives a job's place in its endpoint's queue; `announce` (present from creation on a job with
# a webhook_url until its end is queued, sparse) + `completed_at` (set when it ends) lets the sweeper query the ended
# jobs whose webhook was never queued (the outbox).
JOBS = TableSpec(
    setting="jobs_table",
    key=Key("id"),
    indexes=(
        Index("by_owner", Key("owner", "created_at")),
        Index("by_deadline", Key("pending", "deadline", sort_type="N")),
        Index("by_queue", Key("queue", "started_at")),
        Index("by_announce", Key("announce", "completed_at")),
    ),
)

IDEMPOTENCY = TableSpec(setting="idempotency_table", key=Key("id"), ttl_attribute="expiration")

ALL_TABLES: tuple[TableSpec, ...] = (USERS, MODELS, ENDPOINTS, JOBS, IDEMPOTENCY)
