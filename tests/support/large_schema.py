"""A generated schema of a large business database, for schema retrieval's tests and benchmark.

Sixteen domains (crm, billing, hr, inventory, support, ...) of a dozen hand-written tables each, with
comments and foreign keys within and across domains, all in one PostgreSQL schema with the domain as
the name's prefix (`crm_accounts`, `billing_invoices`). Past those 190-odd tables, each core table gets
companions of the kinds real databases accumulate (`_history`, `_notes`, `_tags`, `_attachments`,
`_snapshots`, `_import_staging`, ...), which reference it and make retrieval's job realistic: many
tables look alike.

`build(conn, schema, n)` creates the first `n` tables (core tables domain by domain, then companions).
"""
from __future__ import annotations

from dataclasses import dataclass

from psycopg import Connection, sql

from app.chat.schema_retrieval import singular

# domain -> [(entity, comment, "column type, column->domain_entity, ...")]; a `->` column is an integer
# foreign key to that table's id. Every table also gets `id integer primary key` and `created_at`.
DOMAINS: dict[str, list[tuple[str, str, str]]] = {
    "crm": [
        ("accounts", "Companies we sell to", "name text, industry text, annual_revenue numeric, country_code text, "
         "website text, owner_id->hr_employees"),
        ("contacts", "People at customer accounts", "account_id->crm_accounts, first_name text, last_name text, "
         "email text, phone text, job_title text"),
        ("customers", "Paying customers (people or companies) with their lifetime value", "account_id->crm_accounts, "
         "display_name text, email text, segment text, lifetime_value numeric, signed_up_on date"),
        ("leads", "Prospects not yet qualified", "source text, company_name text, email text, score integer, "
         "status text, assigned_to->hr_employees"),
        ("opportunities", "Potential deals in the sales pipeline", "account_id->crm_accounts, stage text, "
         "amount numeric, close_date date, probability integer, owner_id->hr_employees"),
        ("activities", "Calls, meetings and emails logged by sales reps", "contact_id->crm_contacts, kind text, "
         "subject text, happened_at timestamptz, duration_minutes integer, employee_id->hr_employees"),
        ("campaigns", "Marketing campaigns that generate leads", "name text, channel text, budget numeric, "
         "starts_on date, ends_on date"),
        ("campaign_members", "Leads and contacts enrolled in a campaign", "campaign_id->crm_campaigns, "
         "lead_id->crm_leads, responded boolean"),
        ("territories", "Sales territories by region", "name text, region text, manager_id->hr_employees"),
        ("quotes", "Price quotes sent for an opportunity", "opportunity_id->crm_opportunities, total numeric, "
         "valid_until date, status text"),
        ("quote_lines", "Products and prices on a quote", "quote_id->crm_quotes, product_id->catalog_products, "
         "quantity integer, unit_price numeric, discount_percent numeric"),
        ("competitors", "Competitors met in deals", "name text, strengths text, weaknesses text"),
    ],
    "billing": [
        ("invoices", "Invoices sent to customers, with due date and payment status", "customer_id->crm_customers, "
         "number text, issued_on date, due_on date, total numeric, currency text, status text"),
        ("invoice_lines", "Line items of an invoice", "invoice_id->billing_invoices, product_id->catalog_products, "
         "description text, quantity numeric, unit_price numeric, tax_rate numeric"),
        ("payments", "Money received against invoices", "invoice_id->billing_invoices, amount numeric, paid_at "
         "timestamptz, method_id->billing_payment_methods, reference text"),
        ("payment_methods", "Cards and bank accounts customers pay with", "customer_id->crm_customers, kind text, "
         "last4 text, expires_on date, is_default boolean"),
        ("subscriptions", "Recurring plans customers are subscribed to", "customer_id->crm_customers, "
         "plan_id->billing_plans, status text, started_on date, cancelled_on date, renews_on date"),
        ("plans", "Subscription plans and their monthly price", "name text, monthly_price numeric, "
         "billing_interval text, trial_days integer"),
        ("credit_notes", "Credits issued to reduce an invoice", "invoice_id->billing_invoices, amount numeric, "
         "reason text, issued_on date"),
        ("refunds", "Money returned to customers", "payment_id->billing_payments, amount numeric, reason text, "
         "refunded_at timestamptz"),
        ("tax_rates", "Sales tax and VAT rates by country", "country_code text, region text, rate numeric, "
         "valid_from date"),
        ("dunning_events", "Reminders sent for overdue invoices", "invoice_id->billing_invoices, step integer, "
         "sent_at timestamptz, channel text"),
        ("coupons", "Discount codes for subscriptions", "code text, percent_off numeric, valid_until date, "
         "max_redemptions integer"),
        ("usage_records", "Metered usage billed per subscription", "subscription_id->billing_subscriptions, "
         "metric text, quantity numeric, recorded_at timestamptz"),
    ],
    "hr": [
        ("employees", "Staff with their job, manager and hire date", "first_name text, last_name text, email text, "
         "job_title text, department_id->hr_departments, manager_id->hr_employees, hired_on date, "
         "office_id->facilities_offices"),
        ("departments", "Organisational departments", "name text, cost_center text, head_id->hr_employees"),
        ("salaries", "Salary history of each employee", "employee_id->hr_employees, amount numeric, currency text, "
         "effective_from date"),
        ("leave_requests", "Vacation and sick leave requests", "employee_id->hr_employees, kind text, starts_on date, "
         "ends_on date, status text, approved_by->hr_employees"),
        ("performance_reviews", "Yearly performance reviews and ratings", "employee_id->hr_employees, "
         "reviewer_id->hr_employees, period text, rating integer, summary text"),
        ("job_postings", "Open positions advertised", "title text, department_id->hr_departments, location text, "
         "opened_on date, closed_on date"),
        ("candidates", "Applicants to job postings", "posting_id->hr_job_postings, full_name text, email text, "
         "stage text, applied_on date"),
        ("interviews", "Interviews scheduled with candidates", "candidate_id->hr_candidates, "
         "interviewer_id->hr_employees, scheduled_at timestamptz, outcome text"),
        ("trainings", "Training courses offered to staff", "title text, provider text, hours integer, cost numeric"),
        ("training_enrollments", "Employees enrolled in trainings", "training_id->hr_trainings, "
         "employee_id->hr_employees, completed_on date, score integer"),
        ("benefits", "Benefit plans (health, pension)", "name text, kind text, monthly_cost numeric"),
        ("benefit_enrollments", "Employees enrolled in benefit plans", "benefit_id->hr_benefits, "
         "employee_id->hr_employees, enrolled_on date"),
    ],
    "inventory": [
        ("warehouses", "Warehouses holding stock", "name text, city text, country_code text, capacity_units integer"),
        ("stock_levels", "Units on hand per product and warehouse", "product_id->catalog_products, "
         "warehouse_id->inventory_warehouses, on_hand integer, reserved integer, reorder_point integer"),
        ("stock_movements", "Every receipt, pick and transfer of stock", "product_id->catalog_products, "
         "warehouse_id->inventory_warehouses, quantity integer, reason text, moved_at timestamptz"),
        ("suppliers", "Vendors we buy products from", "name text, country_code text, lead_time_days integer, "
         "rating integer, email text"),
        ("purchase_orders", "Orders placed with suppliers", "supplier_id->inventory_suppliers, "
         "warehouse_id->inventory_warehouses, ordered_on date, expected_on date, status text, total numeric"),
        ("purchase_order_lines", "Products on a purchase order", "purchase_order_id->inventory_purchase_orders, "
         "product_id->catalog_products, quantity integer, unit_cost numeric"),
        ("stock_counts", "Physical inventory counts", "warehouse_id->inventory_warehouses, counted_on date, "
         "counted_by->hr_employees"),
        ("stock_count_lines", "Counted quantity per product", "stock_count_id->inventory_stock_counts, "
         "product_id->catalog_products, expected integer, counted integer"),
        ("bins", "Storage bin locations inside a warehouse", "warehouse_id->inventory_warehouses, aisle text, "
         "shelf text, max_units integer"),
        ("lots", "Production lots with expiry dates", "product_id->catalog_products, lot_number text, "
         "expires_on date, quantity integer"),
        ("transfers", "Stock moved between warehouses", "from_warehouse_id->inventory_warehouses, "
         "to_warehouse_id->inventory_warehouses, product_id->catalog_products, quantity integer, shipped_on date"),
        ("supplier_prices", "Price lists agreed with suppliers", "supplier_id->inventory_suppliers, "
         "product_id->catalog_products, unit_cost numeric, valid_from date"),
    ],
    "catalog": [
        ("products", "Products we sell, with price and category", "sku text, name text, category_id->catalog_categories, "
         "brand_id->catalog_brands, list_price numeric, weight_grams integer, is_active boolean"),
        ("categories", "Product category tree", "name text, parent_id->catalog_categories, slug text"),
        ("brands", "Product brands", "name text, country_code text"),
        ("product_variants", "Sizes and colours of a product", "product_id->catalog_products, size text, colour text, "
         "sku text, price_delta numeric"),
        ("price_lists", "Prices per market and currency", "name text, currency text, market text"),
        ("prices", "Product price in a price list", "price_list_id->catalog_price_lists, product_id->catalog_products, "
         "price numeric, valid_from date"),
        ("product_images", "Images shown on product pages", "product_id->catalog_products, url text, position integer"),
        ("product_reviews", "Star ratings and reviews written by customers", "product_id->catalog_products, "
         "customer_id->crm_customers, stars integer, body text, reviewed_at timestamptz"),
        ("bundles", "Products sold together at a discount", "name text, discount_percent numeric"),
        ("bundle_items", "Products in a bundle", "bundle_id->catalog_bundles, product_id->catalog_products, "
         "quantity integer"),
        ("attributes", "Product attributes such as material", "name text, unit text"),
        ("product_attributes", "Attribute values of a product", "product_id->catalog_products, "
         "attribute_id->catalog_attributes, value text"),
    ],
    "sales": [
        ("orders", "Customer orders from the web shop and stores", "customer_id->crm_customers, "
         "store_id->retail_stores, ordered_at timestamptz, status text, total numeric, currency text"),
        ("order_items", "Products and quantities in an order", "order_id->sales_orders, product_id->catalog_products, "
         "quantity integer, unit_price numeric, discount numeric"),
        ("returns", "Products customers sent back", "order_id->sales_orders, reason text, requested_at timestamptz, "
         "status text"),
        ("return_items", "Order items in a return", "return_id->sales_returns, order_item_id->sales_order_items, "
         "quantity integer, condition text"),
        ("carts", "Shopping carts not yet checked out", "customer_id->crm_customers, updated_at timestamptz, "
         "abandoned boolean"),
        ("cart_items", "Products in a shopping cart", "cart_id->sales_carts, product_id->catalog_products, "
         "quantity integer"),
        ("promotions", "Price promotions and sales events", "name text, starts_on date, ends_on date, "
         "discount_percent numeric"),
        ("order_promotions", "Promotions applied to an order", "order_id->sales_orders, "
         "promotion_id->sales_promotions, amount numeric"),
        ("sales_targets", "Monthly revenue targets per sales rep", "employee_id->hr_employees, month date, "
         "target_amount numeric"),
        ("commissions", "Commission earned by sales reps on orders", "employee_id->hr_employees, "
         "order_id->sales_orders, amount numeric, paid boolean"),
        ("gift_cards", "Gift cards sold and their balance", "code text, initial_balance numeric, balance numeric, "
         "purchased_by->crm_customers"),
        ("wishlists", "Products customers saved for later", "customer_id->crm_customers, "
         "product_id->catalog_products, added_at timestamptz"),
    ],
    "shipping": [
        ("shipments", "Parcels sent for orders, with carrier and tracking", "order_id->sales_orders, "
         "carrier_id->shipping_carriers, tracking_number text, shipped_at timestamptz, delivered_at timestamptz, "
         "status text"),
        ("carriers", "Delivery companies", "name text, service_level text, phone text"),
        ("shipment_items", "Order items in a shipment", "shipment_id->shipping_shipments, "
         "order_item_id->sales_order_items, quantity integer"),
        ("addresses", "Delivery and billing addresses of customers", "customer_id->crm_customers, line1 text, "
         "city text, postal_code text, country_code text, is_default boolean"),
        ("shipping_rates", "Carrier prices by zone and weight", "carrier_id->shipping_carriers, zone text, "
         "max_weight_grams integer, price numeric"),
        ("tracking_events", "Scans of a parcel along its route", "shipment_id->shipping_shipments, status text, "
         "location text, scanned_at timestamptz"),
        ("delivery_exceptions", "Failed or delayed deliveries", "shipment_id->shipping_shipments, kind text, "
         "noted_at timestamptz, resolved boolean"),
        ("pickups", "Carrier pickups scheduled at warehouses", "carrier_id->shipping_carriers, "
         "warehouse_id->inventory_warehouses, pickup_on date, parcels integer"),
        ("zones", "Shipping zones by country", "name text, country_code text"),
        ("packages", "Box types used for parcels", "name text, length_cm integer, width_cm integer, height_cm integer"),
        ("customs_declarations", "Customs forms for international parcels", "shipment_id->shipping_shipments, "
         "hs_code text, declared_value numeric"),
        ("proof_of_delivery", "Signatures and photos at delivery", "shipment_id->shipping_shipments, "
         "signed_by text, photo_url text"),
    ],
    "support": [
        ("tickets", "Customer support tickets with priority and status", "customer_id->crm_customers, subject text, "
         "priority text, status text, opened_at timestamptz, closed_at timestamptz, agent_id->support_agents, "
         "queue_id->support_queues"),
        ("ticket_messages", "Messages exchanged on a ticket", "ticket_id->support_tickets, author text, body text, "
         "sent_at timestamptz"),
        ("agents", "Support agents who answer tickets", "employee_id->hr_employees, team text, "
         "max_open_tickets integer"),
        ("queues", "Support queues tickets are routed to", "name text, language text"),
        ("sla_policies", "Response and resolution time targets", "name text, priority text, "
         "first_response_minutes integer, resolution_hours integer"),
        ("sla_breaches", "Tickets that missed their SLA", "ticket_id->support_tickets, policy_id->support_sla_policies, "
         "breached_at timestamptz"),
        ("satisfaction_surveys", "Customer satisfaction (CSAT) ratings after a ticket", "ticket_id->support_tickets, "
         "rating integer, comment text, answered_at timestamptz"),
        ("kb_articles", "Help centre articles", "title text, body text, views integer, author_id->support_agents"),
        ("macros", "Canned replies agents use", "name text, body text"),
        ("escalations", "Tickets escalated to engineering", "ticket_id->support_tickets, reason text, "
         "escalated_at timestamptz, issue_id->engineering_issues"),
        ("ticket_tags", "Labels on tickets", "ticket_id->support_tickets, tag text"),
        ("chat_sessions", "Live chat conversations with visitors", "customer_id->crm_customers, "
         "agent_id->support_agents, started_at timestamptz, ended_at timestamptz"),
    ],
    "finance": [
        ("ledger_accounts", "Chart of accounts of the general ledger", "code text, name text, kind text"),
        ("journal_entries", "General ledger journal entries", "posted_on date, description text, "
         "period_id->finance_fiscal_periods"),
        ("journal_lines", "Debits and credits of a journal entry", "entry_id->finance_journal_entries, "
         "account_id->finance_ledger_accounts, debit numeric, credit numeric"),
        ("fiscal_periods", "Accounting periods and whether they are closed", "name text, starts_on date, ends_on date, "
         "closed boolean"),
        ("budgets", "Budget per department and year", "department_id->hr_departments, year integer, amount numeric"),
        ("expenses", "Expense claims submitted by employees", "employee_id->hr_employees, category text, "
         "amount numeric, spent_on date, status text"),
        ("vendor_bills", "Bills received from suppliers", "supplier_id->inventory_suppliers, number text, "
         "due_on date, amount numeric, status text"),
        ("bank_accounts", "Company bank accounts", "name text, iban text, currency text"),
        ("bank_transactions", "Bank statement lines", "bank_account_id->finance_bank_accounts, amount numeric, "
         "booked_on date, counterparty text"),
        ("exchange_rates", "Daily currency exchange rates", "currency text, rate_to_eur numeric, rate_on date"),
        ("cost_centers", "Cost centres for reporting", "code text, name text, department_id->hr_departments"),
        ("assets", "Fixed assets and their depreciation", "name text, purchase_cost numeric, purchased_on date, "
         "useful_life_months integer"),
    ],
    "marketing": [
        ("email_campaigns", "Newsletters and email blasts", "name text, subject text, sent_at timestamptz, "
         "recipients integer"),
        ("email_events", "Opens, clicks and bounces of campaign emails", "campaign_id->marketing_email_campaigns, "
         "contact_id->crm_contacts, kind text, happened_at timestamptz"),
        ("segments", "Audience segments for targeting", "name text, rule text"),
        ("segment_members", "Customers in an audience segment", "segment_id->marketing_segments, "
         "customer_id->crm_customers"),
        ("ad_campaigns", "Paid ad campaigns on search and social", "platform text, name text, daily_budget numeric, "
         "starts_on date"),
        ("ad_spend", "Daily spend, impressions and clicks of ad campaigns", "ad_campaign_id->marketing_ad_campaigns, "
         "spend_on date, spend numeric, impressions integer, clicks integer"),
        ("landing_pages", "Landing pages and their conversion", "url text, visits integer, conversions integer"),
        ("utm_sources", "Traffic sources tracked by UTM parameters", "source text, medium text, campaign text"),
        ("web_sessions", "Website visits", "customer_id->crm_customers, utm_source_id->marketing_utm_sources, "
         "started_at timestamptz, pages integer"),
        ("referrals", "Customers who referred other customers", "referrer_id->crm_customers, "
         "referred_id->crm_customers, rewarded boolean"),
        ("loyalty_accounts", "Loyalty program points per customer", "customer_id->crm_customers, points integer, "
         "tier text"),
        ("loyalty_transactions", "Points earned and redeemed", "loyalty_account_id->marketing_loyalty_accounts, "
         "points integer, reason text, happened_at timestamptz"),
    ],
    "engineering": [
        ("projects", "Software projects", "name text, repository_url text, lead_id->hr_employees"),
        ("issues", "Bugs and feature requests", "project_id->engineering_projects, title text, kind text, "
         "severity text, status text, assignee_id->hr_employees, opened_at timestamptz, closed_at timestamptz"),
        ("sprints", "Two-week development sprints", "project_id->engineering_projects, name text, starts_on date, "
         "ends_on date"),
        ("sprint_issues", "Issues planned in a sprint", "sprint_id->engineering_sprints, issue_id->engineering_issues, "
         "story_points integer"),
        ("releases", "Software releases and versions", "project_id->engineering_projects, version text, "
         "released_on date"),
        ("deployments", "Deployments of releases to environments", "release_id->engineering_releases, "
         "environment text, deployed_at timestamptz, succeeded boolean"),
        ("incidents", "Production outages and incidents", "project_id->engineering_projects, severity text, "
         "started_at timestamptz, resolved_at timestamptz, summary text"),
        ("code_reviews", "Pull request reviews", "project_id->engineering_projects, author_id->hr_employees, "
         "reviewer_id->hr_employees, opened_at timestamptz, merged_at timestamptz"),
        ("build_runs", "CI build runs and their result", "project_id->engineering_projects, status text, "
         "duration_seconds integer, started_at timestamptz"),
        ("feature_flags", "Feature flags and rollout percentage", "key text, rollout_percent integer, enabled boolean"),
        ("time_entries", "Hours engineers logged on issues", "issue_id->engineering_issues, "
         "employee_id->hr_employees, hours numeric, worked_on date"),
        ("on_call_shifts", "Who is on call and when", "employee_id->hr_employees, starts_at timestamptz, "
         "ends_at timestamptz"),
    ],
    "facilities": [
        ("offices", "Office buildings and their address", "name text, city text, country_code text, seats integer"),
        ("rooms", "Meeting rooms in an office", "office_id->facilities_offices, name text, capacity integer"),
        ("room_bookings", "Meeting room reservations", "room_id->facilities_rooms, booked_by->hr_employees, "
         "starts_at timestamptz, ends_at timestamptz"),
        ("desks", "Desks employees can reserve", "office_id->facilities_offices, label text, has_monitor boolean"),
        ("desk_bookings", "Desk reservations (hot desking)", "desk_id->facilities_desks, employee_id->hr_employees, "
         "booked_on date"),
        ("maintenance_requests", "Repairs requested in offices", "office_id->facilities_offices, "
         "requested_by->hr_employees, description text, status text, requested_at timestamptz"),
        ("equipment", "Laptops, phones and monitors issued to staff", "kind text, serial_number text, "
         "assigned_to->hr_employees, purchased_on date"),
        ("leases", "Office rental leases and rent", "office_id->facilities_offices, monthly_rent numeric, "
         "starts_on date, ends_on date"),
        ("visitors", "Visitors signed in at reception", "office_id->facilities_offices, name text, "
         "host_id->hr_employees, arrived_at timestamptz"),
        ("parking_spaces", "Parking spaces and who holds them", "office_id->facilities_offices, number text, "
         "employee_id->hr_employees"),
        ("energy_readings", "Electricity meter readings per office", "office_id->facilities_offices, read_on date, "
         "kwh numeric"),
        ("cleaning_schedules", "Cleaning rounds per office", "office_id->facilities_offices, weekday integer, "
         "vendor text"),
    ],
    "retail": [
        ("stores", "Physical shops and their city", "name text, city text, country_code text, opened_on date, "
         "manager_id->hr_employees"),
        ("pos_terminals", "Cash registers in stores", "store_id->retail_stores, serial_number text"),
        ("pos_transactions", "Till receipts from store cash registers", "terminal_id->retail_pos_terminals, "
         "total numeric, paid_with text, happened_at timestamptz"),
        ("store_shifts", "Staff working hours in stores", "store_id->retail_stores, employee_id->hr_employees, "
         "starts_at timestamptz, ends_at timestamptz"),
        ("foot_traffic", "Visitors counted at store entrances per hour", "store_id->retail_stores, "
         "counted_at timestamptz, visitors integer"),
        ("store_inventory", "Units on the shelf per store", "store_id->retail_stores, product_id->catalog_products, "
         "on_shelf integer"),
        ("planograms", "Shelf layouts of stores", "store_id->retail_stores, aisle text, updated_on date"),
        ("store_targets", "Monthly sales targets per store", "store_id->retail_stores, month date, target numeric"),
        ("cash_drawers", "Cash counted at the end of a day", "terminal_id->retail_pos_terminals, counted_on date, "
         "expected numeric, counted numeric"),
        ("store_events", "In-store events and promotions", "store_id->retail_stores, name text, held_on date"),
        ("mystery_shops", "Mystery shopper visit scores", "store_id->retail_stores, visited_on date, score integer"),
        ("store_expenses", "Running costs of a store", "store_id->retail_stores, category text, amount numeric, "
         "month date"),
    ],
    "manufacturing": [
        ("work_orders", "Production orders on the factory floor", "product_id->catalog_products, quantity integer, "
         "due_on date, status text, line_id->manufacturing_production_lines"),
        ("production_lines", "Assembly lines in the factory", "name text, capacity_per_hour integer"),
        ("bills_of_materials", "Components needed to build a product", "product_id->catalog_products, "
         "component_id->manufacturing_components, quantity numeric"),
        ("components", "Raw materials and parts", "name text, unit text, supplier_id->inventory_suppliers, "
         "unit_cost numeric"),
        ("machine_downtime", "Machine stoppages and their cause", "line_id->manufacturing_production_lines, "
         "started_at timestamptz, ended_at timestamptz, cause text"),
        ("quality_inspections", "Quality checks of produced batches", "work_order_id->manufacturing_work_orders, "
         "inspector_id->hr_employees, passed boolean, defects integer, inspected_at timestamptz"),
        ("machines", "Machines on production lines", "line_id->manufacturing_production_lines, model text, "
         "installed_on date"),
        ("maintenance_logs", "Preventive maintenance done on machines", "machine_id->manufacturing_machines, "
         "done_on date, technician_id->hr_employees, notes text"),
        ("scrap_records", "Material scrapped during production", "work_order_id->manufacturing_work_orders, "
         "quantity integer, reason text"),
        ("shift_reports", "Output per production shift", "line_id->manufacturing_production_lines, shift_on date, "
         "units_produced integer"),
        ("routings", "Steps to produce a product", "product_id->catalog_products, step integer, operation text, "
         "minutes numeric"),
        ("safety_incidents", "Workplace accidents in the factory", "line_id->manufacturing_production_lines, "
         "employee_id->hr_employees, happened_at timestamptz, severity text"),
    ],
    "legal": [
        ("contracts", "Signed contracts with customers and suppliers", "account_id->crm_accounts, "
         "supplier_id->inventory_suppliers, title text, signed_on date, expires_on date, value numeric"),
        ("contract_clauses", "Clauses of a contract", "contract_id->legal_contracts, heading text, body text"),
        ("ndas", "Non-disclosure agreements", "counterparty text, signed_on date, employee_id->hr_employees"),
        ("disputes", "Legal disputes and claims", "contract_id->legal_contracts, opened_on date, status text, "
         "amount_claimed numeric"),
        ("compliance_checks", "Regulatory compliance audits", "area text, checked_on date, passed boolean"),
        ("data_requests", "GDPR access and deletion requests", "customer_id->crm_customers, kind text, "
         "received_on date, completed_on date"),
        ("trademarks", "Registered trademarks", "name text, registered_on date, country_code text"),
        ("policies", "Internal policies and their version", "title text, version text, approved_on date"),
        ("policy_acknowledgements", "Employees who read a policy", "policy_id->legal_policies, "
         "employee_id->hr_employees, acknowledged_on date"),
        ("counsel", "Outside law firms", "name text, hourly_rate numeric"),
        ("legal_invoices", "Bills from outside law firms", "counsel_id->legal_counsel, amount numeric, "
         "billed_on date"),
        ("signatures", "Electronic signatures on contracts", "contract_id->legal_contracts, signer text, "
         "signed_at timestamptz"),
    ],
    "analytics": [
        ("daily_revenue", "Revenue rolled up per day and channel", "day date, channel text, revenue numeric, "
         "orders integer"),
        ("kpi_definitions", "Business KPIs and how they are computed", "name text, formula text, "
         "owner_id->hr_employees"),
        ("kpi_values", "Measured value of a KPI per month", "kpi_id->analytics_kpi_definitions, month date, "
         "value numeric"),
        ("dashboards", "Saved BI dashboards", "name text, owner_id->hr_employees, views integer"),
        ("cohorts", "Customer cohorts by signup month", "signup_month date, customers integer"),
        ("cohort_retention", "Share of a cohort still active after N months", "cohort_id->analytics_cohorts, "
         "months_after integer, retained_percent numeric"),
        ("churn_scores", "Predicted churn risk per customer", "customer_id->crm_customers, score numeric, "
         "scored_on date"),
        ("forecasts", "Demand forecast per product and month", "product_id->catalog_products, month date, "
         "forecast_units integer"),
        ("experiments", "A/B tests and their variants", "name text, started_on date, ended_on date, winner text"),
        ("experiment_assignments", "Which variant a customer saw", "experiment_id->analytics_experiments, "
         "customer_id->crm_customers, variant text"),
        ("nps_responses", "Net promoter score survey answers", "customer_id->crm_customers, score integer, "
         "answered_on date"),
        ("search_queries", "What visitors searched for on the site", "query text, results integer, "
         "searched_at timestamptz"),
    ],
}

# Companion tables, added round-robin over the core tables once those are all in.
COMPANIONS: tuple[tuple[str, str, str], ...] = (
    ("history", "Change log of {entity}: one row per change", "changed_at timestamptz, changed_by text, "
     "field text, old_value text, new_value text"),
    ("notes", "Free-text notes staff wrote about {entity}", "author text, body text"),
    ("tags", "Labels attached to {entity}", "tag text"),
    ("attachments", "Files attached to {entity}", "file_name text, content_type text, size_bytes integer"),
    ("snapshots", "Nightly copy of {entity} for reporting", "snapshot_on date, payload jsonb"),
    ("import_staging", "Rows of {entity} loaded from the legacy system, not yet validated",
     "raw jsonb, import_batch text, error text"),
    ("archive", "{entity} archived after retention", "archived_on date, payload jsonb"),
)


@dataclass(frozen=True)
class TableSpec:
    name: str
    comment: str
    columns: tuple[tuple[str, str, str | None], ...]   # (name, type, referenced table or None)


def _columns(spec: str) -> list[tuple[str, str, str | None]]:
    out = []
    for part in spec.split(","):
        part = part.strip()
        if "->" in part:
            name, target = part.split("->")
            out.append((name.strip(), "integer", target.strip()))
        else:
            name, type_ = part.split(" ", 1)
            out.append((name, type_, None))
    return out


def core_tables() -> list[TableSpec]:
    return [TableSpec(f"{domain}_{entity}", comment, tuple(_columns(spec)))
            for domain, entities in DOMAINS.items() for entity, comment, spec in entities]


def tables(n: int) -> list[TableSpec]:
    """The first `n` tables; references to tables not among them are left out (a plain integer column)."""
    chosen = core_tables()[:n]
    core = list(chosen)
    round_ = 0
    while len(chosen) < n:
        kind, comment, spec = COMPANIONS[round_ % len(COMPANIONS)]
        for base in core:
            if len(chosen) >= n:
                break
            entity = base.name.split("_", 1)[1].replace("_", " ")
            owner = "_".join(base.name.split("_")[1:-1] + [singular(base.name.split("_")[-1])])
            columns = [(f"{owner}_id", "integer", base.name), *_columns(spec)]
            chosen.append(TableSpec(f"{base.name}_{kind}", comment.format(entity=entity), tuple(columns)))
        round_ += 1
    names = {t.name for t in chosen}
    return [TableSpec(t.name, t.comment, tuple((c, ty, ref if ref in names else None) for c, ty, ref in t.columns))
            for t in chosen]


def build(conn: Connection, schema: str, n: int, *, grant_to: tuple[str, ...] = ("authenticated",)) -> list[TableSpec]:
    """Create `schema` with the first `n` tables (dropping what was there), granted SELECT to `grant_to`."""
    specs = tables(n)
    ident = sql.Identifier(schema)
    statements = [sql.SQL("drop schema if exists {} cascade").format(ident), sql.SQL("create schema {}").format(ident)]
    for spec in specs:
        columns = [sql.SQL("id integer primary key")]
        for name, type_, _ref in spec.columns:
            columns.append(sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(type_)))
        columns.append(sql.SQL("created_at timestamptz not null default now()"))
        table = sql.Identifier(schema, spec.name)
        statements.append(sql.SQL("create table {} ({})").format(table, sql.SQL(", ").join(columns)))
        statements.append(sql.SQL("comment on table {} is {}").format(table, sql.Literal(spec.comment)))
    for spec in specs:
        for name, _type, ref in spec.columns:
            if ref:
                statements.append(sql.SQL("alter table {} add foreign key ({}) references {} (id)").format(
                    sql.Identifier(schema, spec.name), sql.Identifier(name), sql.Identifier(schema, ref)))
    for role in grant_to:
        statements.append(sql.SQL("grant usage on schema {} to {}").format(ident, sql.Identifier(role)))
        statements.append(sql.SQL("grant select on all tables in schema {} to {}").format(ident, sql.Identifier(role)))
    with conn.transaction():
        for statement in statements:
            conn.execute(statement)
    return specs
