"""The demo job `demo.order_summary` (registered in app/jobs_registry.py): the user's orders, summed up.

It runs as the submitting user, so row-level security decides what it sees: another user's order
is "not found", exactly as it would be for that user's own query.
"""
from __future__ import annotations

from app.execution.job_context import JobContext, JobFailed

ONE_ORDER = """
select o.id, o.status, o.total, count(i.id) as items, coalesce(sum(i.quantity), 0) as units,
       coalesce(sum(i.quantity * i.unit_price), 0) as items_total
  from public.orders o left join public.order_items i on i.order_id = o.id
 where o.id = %s
 group by o.id
"""

ALL_ORDERS = """
select (select count(*) from public.orders) as orders,
       (select coalesce(sum(total), 0) from public.orders) as total,
       (select coalesce(jsonb_object_agg(status, n), '{}'::jsonb)
          from (select status, count(*) as n from public.orders group by status) s) as by_status
"""


def order_summary(ctx: JobContext) -> dict:
    payload = ctx.payload
    unknown = sorted(set(payload) - {"order_id"})
    if unknown:
        raise JobFailed(f"unknown payload field {unknown[0]!r} (expected only order_id)")
    order_id = payload.get("order_id")
    if order_id is None:
        row = ctx.query(ALL_ORDERS).rows[0]
        return {"orders": row["orders"], "total": row["total"], "by_status": row["by_status"]}
    if isinstance(order_id, bool) or not isinstance(order_id, int) or not 0 < order_id < 2**31:
        raise JobFailed("order_id must be a positive integer")
    rows = ctx.query(ONE_ORDER, [order_id]).rows
    if not rows:
        raise JobFailed(f"order {order_id} was not found")
    return rows[0]
