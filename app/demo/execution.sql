-- Demo of the execution tools (docs/mcp.md): one function exposed to invoke_rpc in the `default`
-- namespace. SECURITY INVOKER (the default): it reads order_items as the caller, so row-level
-- security limits it to the caller's own orders; another user's order totals to null.
CREATE OR REPLACE FUNCTION public.order_total(order_id integer) RETURNS numeric
  LANGUAGE sql STABLE
  AS $$ SELECT sum(i.quantity * i.unit_price) FROM public.order_items i WHERE i.order_id = order_total.order_id $$;

-- Functions are executable by PUBLIC unless revoked: only signed-in users may call this one.
REVOKE ALL ON FUNCTION public.order_total(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.order_total(integer) TO authenticated;

INSERT INTO ai.exposed_rpc (namespace, schema_name, function_name, description)
VALUES ('default', 'public', 'order_total', 'Total of one of the current user''s orders, from its items')
ON CONFLICT (namespace, schema_name, function_name) DO NOTHING;
