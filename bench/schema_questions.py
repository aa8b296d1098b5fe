"""Questions for bench/schema_retrieval.py over tests/support/large_schema.py, each with the tables a
correct query needs. Written the way users ask: mostly without table names. A follow-up carries the
previous question and the tables that turn used (the conversation so far)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Question:
    text: str
    needs: tuple[str, ...]
    previous: str | None = None
    used: tuple[str, ...] = ()


def q(text: str, *needs: str, previous: str | None = None, used: tuple[str, ...] = ()) -> Question:
    return Question(text, needs, previous, used)


QUESTIONS: tuple[Question, ...] = (
    # crm
    q("Which accounts in the software industry have the highest annual revenue?", "crm_accounts"),
    q("How many open opportunities does each sales rep own, and what is their total amount?",
      "crm_opportunities", "hr_employees"),
    q("List the contacts at Acme Corp with their job titles.", "crm_contacts", "crm_accounts"),
    q("Which leads with a score above 80 are still unassigned?", "crm_leads"),
    q("How many calls did each sales rep log last week?", "crm_activities", "hr_employees"),
    q("Which marketing campaigns brought in the most leads that responded?", "crm_campaigns", "crm_campaign_members",
      "crm_leads"),
    q("What is the total value of quotes that are still valid for each opportunity stage?", "crm_quotes",
      "crm_opportunities"),
    q("Which products appear most often on sales quotes?", "crm_quote_lines", "catalog_products"),
    # billing
    q("Which customers have overdue invoices, and how much do they owe?", "billing_invoices", "crm_customers"),
    q("What was our total payment volume per payment method type last month?", "billing_payments",
      "billing_payment_methods"),
    q("How many active subscriptions does each plan have and what monthly revenue do they bring?",
      "billing_subscriptions", "billing_plans"),
    q("Show the refunds issued this quarter with the reason and amount.", "billing_refunds"),
    q("Which invoices received a credit note larger than half of their total?", "billing_credit_notes",
      "billing_invoices"),
    q("How many dunning reminders were sent before overdue invoices got paid?", "billing_dunning_events",
      "billing_invoices", "billing_payments"),
    q("What is the VAT rate for Germany?", "billing_tax_rates"),
    q("Which subscriptions used the most metered API calls this month?", "billing_usage_records",
      "billing_subscriptions"),
    q("Which cards expire next month for customers with an active subscription?", "billing_payment_methods",
      "billing_subscriptions"),
    # hr
    q("How many employees does each department have?", "hr_employees", "hr_departments"),
    q("What is the average salary per job title?", "hr_salaries", "hr_employees"),
    q("Who has pending vacation requests longer than a week?", "hr_leave_requests", "hr_employees"),
    q("Which employees got a rating of 5 in their last performance review?", "hr_performance_reviews",
      "hr_employees"),
    q("How many candidates applied to each open position?", "hr_candidates", "hr_job_postings"),
    q("Which interviewers conducted the most interviews this month?", "hr_interviews", "hr_employees"),
    q("Which employees completed the security training and what were their scores?", "hr_training_enrollments",
      "hr_trainings", "hr_employees"),
    q("How much do we pay per month for health benefits across all enrolled staff?", "hr_benefits",
      "hr_benefit_enrollments"),
    # inventory
    q("Which products are below their reorder point in the Berlin warehouse?", "inventory_stock_levels",
      "inventory_warehouses", "catalog_products"),
    q("What purchase orders from suppliers are still expected this week?", "inventory_purchase_orders",
      "inventory_suppliers"),
    q("Which supplier has the longest lead time, and what do we buy from them?", "inventory_suppliers",
      "inventory_supplier_prices", "catalog_products"),
    q("Which lots expire within 30 days and how many units are left?", "inventory_lots"),
    q("Where did the physical stock count differ from the expected quantity?", "inventory_stock_count_lines",
      "inventory_stock_counts"),
    q("How many units were transferred between warehouses last month?", "inventory_transfers"),
    q("Show the stock movements for product SKU-123 with their reason.", "inventory_stock_movements",
      "catalog_products"),
    # catalog
    q("Which product categories have the most active products?", "catalog_products", "catalog_categories"),
    q("What is the average star rating of each brand's products?", "catalog_product_reviews", "catalog_products",
      "catalog_brands"),
    q("List the colour variants of the running shoe with their prices.", "catalog_product_variants",
      "catalog_products"),
    q("What does the winter bundle contain?", "catalog_bundles", "catalog_bundle_items", "catalog_products"),
    q("What is the price of each product in the Swiss franc price list?", "catalog_prices", "catalog_price_lists",
      "catalog_products"),
    # sales
    q("What were our top 10 best-selling products by revenue last month?", "sales_order_items", "sales_orders",
      "catalog_products"),
    q("Which customers placed more than five orders this year?", "sales_orders", "crm_customers"),
    q("What is the most common reason customers return products?", "sales_returns"),
    q("How many shopping carts were abandoned yesterday and what was in them?", "sales_carts", "sales_cart_items"),
    q("How much discount did the summer sale promotion give across all orders?", "sales_order_promotions",
      "sales_promotions"),
    q("Which sales reps met their monthly revenue target?", "sales_sales_targets", "sales_commissions",
      "sales_orders"),
    q("What is the remaining balance on gift cards bought by our top customers?", "sales_gift_cards",
      "crm_customers"),
    q("Which store sold the most in March?", "sales_orders", "retail_stores"),
    # shipping
    q("What is the average delivery time per carrier?", "shipping_shipments", "shipping_carriers"),
    q("Which orders shipped more than three days after they were placed?", "shipping_shipments", "sales_orders"),
    q("How many deliveries failed or were delayed last week?", "shipping_delivery_exceptions"),
    q("Where is the parcel with tracking number 1Z999 right now?", "shipping_tracking_events", "shipping_shipments"),
    q("How many customers have their default address in France?", "shipping_addresses"),
    # support
    q("How many high priority tickets are open per queue?", "support_tickets", "support_queues"),
    q("Which support agents have the best customer satisfaction ratings?", "support_satisfaction_surveys",
      "support_tickets", "support_agents"),
    q("Which tickets breached their SLA this month?", "support_sla_breaches", "support_tickets"),
    q("Which help centre articles are viewed the most?", "support_kb_articles"),
    q("How many tickets were escalated to engineering and which bugs did they become?", "support_escalations",
      "engineering_issues"),
    q("What is the average first response time per priority compared with the SLA target?", "support_tickets",
      "support_ticket_messages", "support_sla_policies"),
    # finance
    q("What are total expenses by category submitted by employees this quarter?", "finance_expenses"),
    q("Which vendor bills are due next week?", "finance_vendor_bills"),
    q("What is the balance of each ledger account?", "finance_journal_lines", "finance_ledger_accounts"),
    q("How does actual spend compare with the budget for each department this year?", "finance_budgets",
      "finance_expenses", "hr_departments"),
    q("What was the euro exchange rate of the dollar on January 1st?", "finance_exchange_rates"),
    # marketing
    q("What were the open and click rates of last month's newsletters?", "marketing_email_events",
      "marketing_email_campaigns"),
    q("What is the cost per click of each paid ad campaign?", "marketing_ad_spend", "marketing_ad_campaigns"),
    q("Which customers have the most loyalty points, and in which tier are they?", "marketing_loyalty_accounts",
      "crm_customers"),
    q("Which traffic sources bring the most website visits?", "marketing_web_sessions", "marketing_utm_sources"),
    # engineering
    q("How many critical bugs are open per project?", "engineering_issues", "engineering_projects"),
    q("Which deployments to production failed last month?", "engineering_deployments", "engineering_releases"),
    q("What was the mean time to resolve production incidents this year?", "engineering_incidents"),
    q("How many story points did each sprint complete?", "engineering_sprint_issues", "engineering_sprints",
      "engineering_issues"),
    q("How many hours did each engineer log on issues last week?", "engineering_time_entries", "hr_employees"),
    # facilities, retail, manufacturing, legal, analytics
    q("Which meeting rooms are booked the most?", "facilities_room_bookings", "facilities_rooms"),
    q("Which laptops are assigned to employees who left the company?", "facilities_equipment", "hr_employees"),
    q("What is the monthly rent of each office?", "facilities_leases", "facilities_offices"),
    q("Which stores had the most visitors per hour on Saturdays?", "retail_foot_traffic", "retail_stores"),
    q("What was the cash difference at the end of day per store?", "retail_cash_drawers", "retail_pos_terminals",
      "retail_stores"),
    q("Which production line had the most machine downtime?", "manufacturing_machine_downtime",
      "manufacturing_production_lines"),
    q("What share of quality inspections failed per product?", "manufacturing_quality_inspections",
      "manufacturing_work_orders", "catalog_products"),
    q("Which components does the standing desk need and what do they cost?", "manufacturing_bills_of_materials",
      "manufacturing_components", "catalog_products"),
    q("Which customer contracts expire this year and what are they worth?", "legal_contracts", "crm_accounts"),
    q("How many GDPR deletion requests are still open?", "legal_data_requests"),
    q("Which customers are most likely to churn?", "analytics_churn_scores", "crm_customers"),
    q("What is the retention after six months of the January cohort?", "analytics_cohort_retention",
      "analytics_cohorts"),
    q("What is our average NPS score per month?", "analytics_nps_responses"),
    # follow-ups: the previous question and the tables its turn used
    q("And how much did they pay us in total?", "billing_payments", "billing_invoices", "crm_customers",
      previous="Which customers have the most open support tickets?", used=("support_tickets", "crm_customers")),
    q("Now break that down by carrier.", "shipping_shipments", "shipping_carriers", "sales_orders",
      previous="How many orders were shipped late last month?", used=("shipping_shipments", "sales_orders")),
    q("Which of them also have an active subscription?", "billing_subscriptions", "crm_customers",
      previous="Which customers placed more than five orders this year?", used=("sales_orders", "crm_customers")),
    q("What about last year?", "hr_employees", "hr_departments",
      previous="How many employees does each department have?", used=("hr_employees", "hr_departments")),
    q("Who counted the stock in those warehouses?", "inventory_stock_counts", "inventory_warehouses", "hr_employees",
      previous="Which products are below their reorder point?",
      used=("inventory_stock_levels", "inventory_warehouses", "catalog_products")),
)
