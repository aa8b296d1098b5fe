-- Demo shop. Row-level security is forced on every table that holds a user's data,
-- so a chatbot running as `authenticated` sees only that user's rows whatever SQL it writes.

INSERT INTO auth.users (id, email) VALUES
  ('a11ce000-0000-4000-8000-000000000001', 'alice@example.com'),
  ('b0b00000-0000-4000-8000-000000000002', 'bob@example.com')
ON CONFLICT (id) DO NOTHING;

CREATE TABLE IF NOT EXISTS public.customers (
  id serial PRIMARY KEY,
  user_id uuid UNIQUE REFERENCES auth.users (id),
  name text NOT NULL,
  email text NOT NULL,
  country text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.products (
  id serial PRIMARY KEY,
  name text NOT NULL,
  category text NOT NULL,
  price numeric(10, 2) NOT NULL CHECK (price >= 0),
  stock integer NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS public.orders (
  id serial PRIMARY KEY,
  user_id uuid NOT NULL DEFAULT auth.uid() REFERENCES auth.users (id),
  customer_id integer REFERENCES public.customers (id),
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled')),
  total numeric(10, 2) NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.order_items (
  id serial PRIMARY KEY,
  order_id integer NOT NULL REFERENCES public.orders (id) ON DELETE CASCADE,
  product_id integer NOT NULL REFERENCES public.products (id),
  quantity integer NOT NULL CHECK (quantity > 0),
  unit_price numeric(10, 2) NOT NULL
);

CREATE TABLE IF NOT EXISTS public.locations (
  id serial PRIMARY KEY,
  user_id uuid NOT NULL DEFAULT auth.uid() REFERENCES auth.users (id),
  name text NOT NULL,
  lat double precision NOT NULL,
  lon double precision NOT NULL
);

ALTER TABLE public.customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.customers FORCE ROW LEVEL SECURITY;
ALTER TABLE public.products ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.products FORCE ROW LEVEL SECURITY;
ALTER TABLE public.orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.orders FORCE ROW LEVEL SECURITY;
ALTER TABLE public.order_items ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.order_items FORCE ROW LEVEL SECURITY;
ALTER TABLE public.locations ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.locations FORCE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS customers_own ON public.customers;
CREATE POLICY customers_own ON public.customers FOR SELECT TO authenticated USING (user_id = auth.uid());
DROP POLICY IF EXISTS products_read ON public.products;
CREATE POLICY products_read ON public.products FOR SELECT TO anon, authenticated USING (true);
DROP POLICY IF EXISTS orders_own ON public.orders;
CREATE POLICY orders_own ON public.orders FOR ALL TO authenticated
  USING (user_id = auth.uid()) WITH CHECK (user_id = auth.uid());
DROP POLICY IF EXISTS order_items_own ON public.order_items;
CREATE POLICY order_items_own ON public.order_items FOR ALL TO authenticated
  USING (EXISTS (SELECT 1 FROM public.orders o WHERE o.id = order_id AND o.user_id = auth.uid()))
  WITH CHECK (EXISTS (SELECT 1 FROM public.orders o WHERE o.id = order_id AND o.user_id = auth.uid()));
DROP POLICY IF EXISTS locations_own ON public.locations;
CREATE POLICY locations_own ON public.locations FOR ALL TO authenticated
  USING (user_id = auth.uid()) WITH CHECK (user_id = auth.uid());

GRANT SELECT ON public.products TO anon;
GRANT SELECT ON public.customers, public.products TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON public.orders, public.order_items, public.locations TO authenticated;
GRANT USAGE ON SEQUENCE public.orders_id_seq, public.order_items_id_seq, public.locations_id_seq TO authenticated;

INSERT INTO public.customers (user_id, name, email, country) VALUES
  ('a11ce000-0000-4000-8000-000000000001', 'Alice Martin', 'alice@example.com', 'FR'),
  ('b0b00000-0000-4000-8000-000000000002', 'Bob Schneider', 'bob@example.com', 'DE');

INSERT INTO public.products (name, category, price, stock) VALUES
  ('Espresso beans 1kg', 'coffee', 24.90, 120),
  ('Filter coffee 500g', 'coffee', 11.50, 200),
  ('Ceramic mug', 'kitchen', 9.00, 75),
  ('Pour-over dripper', 'brewing', 22.00, 40),
  ('Hand grinder', 'brewing', 64.00, 18),
  ('Milk frother', 'kitchen', 35.00, 30),
  ('Green tea 100g', 'tea', 8.40, 90),
  ('Travel tumbler', 'kitchen', 19.90, 55);

-- Alice has five orders, Bob three, with different items, so per-user answers differ visibly.
INSERT INTO public.orders (user_id, customer_id, status, total, created_at) VALUES
  ('a11ce000-0000-4000-8000-000000000001', 1, 'delivered', 58.80, now() - interval '40 days'),
  ('a11ce000-0000-4000-8000-000000000001', 1, 'delivered', 64.00, now() - interval '25 days'),
  ('a11ce000-0000-4000-8000-000000000001', 1, 'shipped', 31.40, now() - interval '6 days'),
  ('a11ce000-0000-4000-8000-000000000001', 1, 'paid', 22.00, now() - interval '2 days'),
  ('a11ce000-0000-4000-8000-000000000001', 1, 'pending', 9.00, now() - interval '3 hours'),
  ('b0b00000-0000-4000-8000-000000000002', 2, 'delivered', 35.00, now() - interval '30 days'),
  ('b0b00000-0000-4000-8000-000000000002', 2, 'cancelled', 11.50, now() - interval '12 days'),
  ('b0b00000-0000-4000-8000-000000000002', 2, 'paid', 28.30, now() - interval '1 day');

INSERT INTO public.order_items (order_id, product_id, quantity, unit_price) VALUES
  (1, 1, 2, 24.90), (1, 3, 1, 9.00), (2, 5, 1, 64.00), (3, 7, 1, 8.40), (3, 2, 2, 11.50),
  (4, 4, 1, 22.00), (5, 3, 1, 9.00), (6, 6, 1, 35.00), (7, 2, 1, 11.50), (8, 7, 1, 8.40), (8, 8, 1, 19.90);

INSERT INTO public.locations (user_id, name, lat, lon) VALUES
  ('a11ce000-0000-4000-8000-000000000001', 'Home', 48.8566, 2.3522),
  ('b0b00000-0000-4000-8000-000000000002', 'Office', 52.5200, 13.4050);

-- A per-user summary in a schema of its own, for chatbots that name `analytics.order_metrics`.
-- security_invoker: the view reads orders with the caller's rights, so each user sees only their own row.
CREATE SCHEMA IF NOT EXISTS analytics;
CREATE OR REPLACE VIEW analytics.order_metrics WITH (security_invoker = true) AS
  SELECT user_id, count(*) AS order_count, sum(total) AS total_spent, max(created_at) AS last_order_at
    FROM public.orders
   GROUP BY user_id;
GRANT USAGE ON SCHEMA analytics TO authenticated;
GRANT SELECT ON analytics.order_metrics TO authenticated;
