-- The broad workload of benchmarks/broad.py: analytical queries over the star schema of
-- benchmarks/broad_mesh.py, written for this benchmark. Many follow the shape of a TPC-DS query
-- (the number in the title; TPC Benchmark DS, Transaction Processing Performance Council), with
-- our own predicates and values. Tables are unqualified: the oracle runs the text as it is, the
-- mesh gets each table as product.table. Every ORDER BY term is an output column (the oracle's
-- comparison reads them), and a LIMIT after an ORDER BY may cut a tie anywhere.
-- A query starts at a line "-- name: title".

-- b01: star join of 9 tables (store sales by category and customer state)
SELECT i_category, ca_state, sum(ss_ext_sales_price) AS sales, count(*) AS n
FROM store_sales, date_dim, time_dim, item, customer, customer_address, customer_demographics,
     household_demographics, store
WHERE ss_sold_date_sk = d_date_sk AND ss_sold_time_sk = t_time_sk AND ss_item_sk = i_item_sk
  AND ss_customer_sk = c_customer_sk AND c_current_addr_sk = ca_address_sk AND ss_cdemo_sk = cd_demo_sk
  AND ss_hdemo_sk = hd_demo_sk AND ss_store_sk = s_store_sk
  AND d_year = 2000 AND t_hour BETWEEN 8 AND 17 AND cd_gender = 'F' AND hd_dep_count > 3 AND s_state = 'TN'
GROUP BY i_category, ca_state
ORDER BY sales DESC, i_category, ca_state
LIMIT 50;

-- b02: star join of 11 tables with explicit JOIN syntax
SELECT ib_lower_bound, p_channel_tv, d_qoy, count(*) AS n, sum(ss_net_paid) AS paid, avg(ss_quantity) AS avg_qty
FROM store_sales
JOIN date_dim ON ss_sold_date_sk = d_date_sk
JOIN time_dim ON ss_sold_time_sk = t_time_sk
JOIN item ON ss_item_sk = i_item_sk
JOIN customer ON ss_customer_sk = c_customer_sk
JOIN customer_address ON c_current_addr_sk = ca_address_sk
JOIN customer_demographics ON ss_cdemo_sk = cd_demo_sk
JOIN household_demographics ON ss_hdemo_sk = hd_demo_sk
JOIN income_band ON hd_income_band_sk = ib_income_band_sk
JOIN store ON ss_store_sk = s_store_sk
JOIN promotion ON ss_promo_sk = p_promo_sk
WHERE d_year = 2001 AND i_category IN ('Books', 'Music') AND cd_marital_status = 'M' AND t_meal_time IS NOT NULL
GROUP BY ib_lower_bound, p_channel_tv, d_qoy
ORDER BY ib_lower_bound, p_channel_tv, d_qoy;

-- b03: 12 tables: sales, their returns, two calendar roles, reason, promotion (TPC-DS q64's shape)
SELECT s_store_name, i_category, r_reason_desc, count(*) AS returns, sum(sr_return_amt) AS returned,
       sum(ss_net_paid) AS paid
FROM store_sales
JOIN store_returns ON ss_ticket_number = sr_ticket_number AND ss_item_sk = sr_item_sk
JOIN date_dim AS sold ON ss_sold_date_sk = sold.d_date_sk
JOIN date_dim AS back ON sr_returned_date_sk = back.d_date_sk
JOIN item ON ss_item_sk = i_item_sk
JOIN customer ON ss_customer_sk = c_customer_sk
JOIN customer_address ON c_current_addr_sk = ca_address_sk
JOIN customer_demographics ON ss_cdemo_sk = cd_demo_sk
JOIN household_demographics ON ss_hdemo_sk = hd_demo_sk
JOIN store ON ss_store_sk = s_store_sk
JOIN reason ON sr_reason_sk = r_reason_sk
JOIN promotion ON ss_promo_sk = p_promo_sk
WHERE sold.d_year = 1999 AND back.d_year IN (1999, 2000) AND cd_education_status <> 'Unknown'
  AND hd_buy_potential IN ('>10000', '5001-10000', '1001-5000')
GROUP BY s_store_name, i_category, r_reason_desc
ORDER BY returns DESC, s_store_name, i_category, r_reason_desc
LIMIT 40;

-- b04: demographics and promotion channels (q7)
SELECT i_item_id, avg(ss_quantity) AS agg1, avg(ss_list_price) AS agg2, avg(ss_coupon_amt) AS agg3,
       avg(ss_sales_price) AS agg4
FROM store_sales, customer_demographics, date_dim, item, promotion
WHERE ss_sold_date_sk = d_date_sk AND ss_item_sk = i_item_sk AND ss_cdemo_sk = cd_demo_sk
  AND ss_promo_sk = p_promo_sk AND cd_gender = 'M' AND cd_marital_status = 'S'
  AND cd_education_status = 'College' AND (p_channel_email = 'N' OR p_channel_event = 'N') AND d_year = 2000
GROUP BY i_item_id
ORDER BY i_item_id
LIMIT 100;

-- b05: ROLLUP over item and store state (q27)
SELECT i_item_id, s_state, grouping(s_state) AS g_state, avg(ss_quantity) AS agg1, avg(ss_list_price) AS agg2,
       avg(ss_coupon_amt) AS agg3, avg(ss_sales_price) AS agg4
FROM store_sales, customer_demographics, date_dim, store, item
WHERE ss_sold_date_sk = d_date_sk AND ss_item_sk = i_item_sk AND ss_store_sk = s_store_sk
  AND ss_cdemo_sk = cd_demo_sk AND cd_gender = 'F' AND cd_marital_status = 'W'
  AND cd_education_status = 'Primary' AND d_year = 1999 AND s_state IN ('TN', 'GA', 'TX')
GROUP BY ROLLUP (i_item_id, s_state)
ORDER BY i_item_id, s_state
LIMIT 100;

-- b06: brand revenue where customer and store states differ (q19)
SELECT i_brand_id AS brand_id, i_brand AS brand, i_manufact_id, sum(ss_ext_sales_price) AS ext_price
FROM date_dim, store_sales, item, customer, customer_address, store
WHERE d_date_sk = ss_sold_date_sk AND ss_item_sk = i_item_sk AND i_manager_id = 8 AND d_moy = 11 AND d_year = 1998
  AND ss_customer_sk = c_customer_sk AND c_current_addr_sk = ca_address_sk AND ca_state <> s_state
  AND ss_store_sk = s_store_sk
GROUP BY i_brand, i_brand_id, i_manufact_id
ORDER BY ext_price DESC, brand, brand_id, i_manufact_id
LIMIT 100;

-- b07: frequent shoppers by ticket, derived table joined back to customers (q34)
SELECT c_last_name, c_first_name, c_preferred_cust_flag, ss_ticket_number, cnt
FROM (SELECT ss_ticket_number, ss_customer_sk, count(*) AS cnt
      FROM store_sales, date_dim, store, household_demographics
      WHERE ss_sold_date_sk = d_date_sk AND ss_store_sk = s_store_sk AND ss_hdemo_sk = hd_demo_sk
        AND (d_dom BETWEEN 1 AND 3 OR d_dom BETWEEN 25 AND 28)
        AND (hd_buy_potential = '>10000' OR hd_buy_potential = 'Unknown') AND hd_vehicle_count > 0
        AND d_year IN (1999, 2000, 2001) AND s_county IN ('Williamson County', 'Walker County')
      GROUP BY ss_ticket_number, ss_customer_sk) AS dn, customer
WHERE ss_customer_sk = c_customer_sk AND cnt BETWEEN 5 AND 12
ORDER BY c_last_name, c_first_name, c_preferred_cust_flag, ss_ticket_number
LIMIT 100;

-- b08: tickets bought away from home (q46)
SELECT c_last_name, c_first_name, ca_city, bought_city, ss_ticket_number, amt, profit
FROM (SELECT ss_ticket_number, ss_customer_sk, ca_city AS bought_city, sum(ss_coupon_amt) AS amt,
             sum(ss_net_profit) AS profit
      FROM store_sales, date_dim, store, household_demographics, customer_address
      WHERE ss_sold_date_sk = d_date_sk AND ss_store_sk = s_store_sk AND ss_hdemo_sk = hd_demo_sk
        AND ss_addr_sk = ca_address_sk AND (hd_dep_count = 4 OR hd_vehicle_count = 3)
        AND d_dow IN (6, 0) AND d_year IN (1999, 2000) AND s_city IN ('Fairview', 'Midway')
      GROUP BY ss_ticket_number, ss_customer_sk, ss_addr_sk, ca_city) AS dn, customer, customer_address AS current_addr
WHERE ss_customer_sk = c_customer_sk AND c_current_addr_sk = current_addr.ca_address_sk
  AND current_addr.ca_city <> bought_city
ORDER BY c_last_name, c_first_name, ca_city, bought_city, ss_ticket_number
LIMIT 100;

-- b09: many OR-ed demographic and address predicates (q48)
SELECT sum(ss_quantity) AS qty, count(*) AS n
FROM store_sales, store, customer_demographics, customer_address, date_dim
WHERE s_store_sk = ss_store_sk AND ss_sold_date_sk = d_date_sk AND d_year = 2000 AND cd_demo_sk = ss_cdemo_sk
  AND ((cd_marital_status = 'M' AND cd_education_status = '4 yr Degree' AND ss_sales_price BETWEEN 100.00 AND 150.00)
    OR (cd_marital_status = 'D' AND cd_education_status = '2 yr Degree' AND ss_sales_price BETWEEN 50.00 AND 100.00)
    OR (cd_marital_status = 'S' AND cd_education_status = 'College' AND ss_sales_price BETWEEN 150.00 AND 200.00))
  AND ss_addr_sk = ca_address_sk AND ca_country = 'United States'
  AND ((ca_state IN ('CO', 'OH', 'TX') AND ss_net_profit BETWEEN 0 AND 2000)
    OR (ca_state IN ('OR', 'MN', 'KY') AND ss_net_profit BETWEEN 150 AND 3000)
    OR (ca_state IN ('VA', 'CA', 'MS') AND ss_net_profit BETWEEN 50 AND 25000));

-- b10: OR-ed groups across household and customer demographics (q13)
SELECT avg(ss_quantity) AS q, avg(ss_ext_sales_price) AS esp, avg(ss_ext_wholesale_cost) AS ewc,
       sum(ss_ext_wholesale_cost) AS total
FROM store_sales, store, customer_demographics, household_demographics, customer_address, date_dim
WHERE s_store_sk = ss_store_sk AND ss_sold_date_sk = d_date_sk AND d_year = 2001
  AND ((ss_hdemo_sk = hd_demo_sk AND cd_demo_sk = ss_cdemo_sk AND cd_marital_status = 'M'
        AND cd_education_status = 'Advanced Degree' AND ss_sales_price BETWEEN 100.00 AND 150.00 AND hd_dep_count = 3)
    OR (ss_hdemo_sk = hd_demo_sk AND cd_demo_sk = ss_cdemo_sk AND cd_marital_status = 'S'
        AND cd_education_status = 'College' AND ss_sales_price BETWEEN 50.00 AND 100.00 AND hd_dep_count = 1)
    OR (ss_hdemo_sk = hd_demo_sk AND cd_demo_sk = ss_cdemo_sk AND cd_marital_status = 'W'
        AND cd_education_status = '2 yr Degree' AND ss_sales_price BETWEEN 150.00 AND 200.00 AND hd_dep_count = 1))
  AND ((ss_addr_sk = ca_address_sk AND ca_country = 'United States' AND ca_state IN ('TX', 'OH', 'TN')
        AND ss_net_profit BETWEEN 100 AND 200)
    OR (ss_addr_sk = ca_address_sk AND ca_country = 'United States' AND ca_state IN ('OR', 'NC', 'KY')
        AND ss_net_profit BETWEEN 150 AND 300)
    OR (ss_addr_sk = ca_address_sk AND ca_country = 'United States' AND ca_state IN ('VA', 'TX', 'MS')
        AND ss_net_profit BETWEEN 50 AND 250));

-- b11: OR-ed item groups, window average per manufacturer (q53)
SELECT i_manufact_id, d_qoy, sum_sales, avg_quarterly_sales
FROM (SELECT i_manufact_id, d_qoy, sum(ss_sales_price) AS sum_sales,
             avg(sum(ss_sales_price)) OVER (PARTITION BY i_manufact_id) AS avg_quarterly_sales
      FROM item, store_sales, date_dim, store
      WHERE ss_item_sk = i_item_sk AND ss_sold_date_sk = d_date_sk AND ss_store_sk = s_store_sk
        AND d_month_seq IN (1200, 1201, 1202, 1203, 1204, 1205, 1206, 1207, 1208, 1209, 1210, 1211)
        AND ((i_category IN ('Books', 'Children', 'Electronics') AND i_class IN ('fiction', 'kids', 'portable')
              AND i_color IN ('almond', 'black', 'navy', 'red', 'white', 'tan', 'plum'))
          OR (i_category IN ('Women', 'Music', 'Men') AND i_class IN ('dresses', 'pop', 'shirts')
              AND i_size IN ('small', 'medium', 'large')))
      GROUP BY i_manufact_id, d_qoy) AS tmp1
WHERE CASE WHEN avg_quarterly_sales > 0 THEN abs(sum_sales - avg_quarterly_sales) / avg_quarterly_sales
           ELSE NULL END > 0.1
ORDER BY avg_quarterly_sales, sum_sales, i_manufact_id, d_qoy
LIMIT 100;

-- b12: monthly deviation from the yearly store average, OR-ed categories (q89)
SELECT i_category, i_class, i_brand, s_store_name, s_company_name, d_moy, sum_sales, avg_monthly_sales
FROM (SELECT i_category, i_class, i_brand, s_store_name, s_company_name, d_moy, sum(ss_sales_price) AS sum_sales,
             avg(sum(ss_sales_price)) OVER (PARTITION BY i_category, i_brand, s_store_name, s_company_name)
                 AS avg_monthly_sales
      FROM item, store_sales, date_dim, store
      WHERE ss_item_sk = i_item_sk AND ss_sold_date_sk = d_date_sk AND ss_store_sk = s_store_sk AND d_year = 2000
        AND ((i_category IN ('Home', 'Books', 'Electronics') AND i_class IN ('fiction', 'portable', 'classical'))
          OR (i_category IN ('Shoes', 'Jewelry', 'Men') AND i_class IN ('athletic', 'accessories', 'shirts')))
      GROUP BY i_category, i_class, i_brand, s_store_name, s_company_name, d_moy) AS tmp1
WHERE CASE WHEN avg_monthly_sales <> 0 THEN abs(sum_sales - avg_monthly_sales) / avg_monthly_sales
           ELSE NULL END > 0.1
ORDER BY sum_sales, s_store_name, i_category, i_class, i_brand, d_moy
LIMIT 100;

-- b13: eight uncorrelated scalar subqueries over half-hour slots (q88)
SELECT
  (SELECT count(*) FROM store_sales, household_demographics, time_dim, store
   WHERE ss_sold_time_sk = t_time_sk AND ss_hdemo_sk = hd_demo_sk AND ss_store_sk = s_store_sk AND t_hour = 8
     AND t_minute >= 30 AND (hd_dep_count = 4 AND hd_vehicle_count <= 6 OR hd_dep_count = 2 AND hd_vehicle_count <= 4
       OR hd_dep_count = 0 AND hd_vehicle_count <= 2) AND s_store_name = 'ese') AS h8_30_to_9,
  (SELECT count(*) FROM store_sales, household_demographics, time_dim, store
   WHERE ss_sold_time_sk = t_time_sk AND ss_hdemo_sk = hd_demo_sk AND ss_store_sk = s_store_sk AND t_hour = 9
     AND t_minute < 30 AND (hd_dep_count = 4 AND hd_vehicle_count <= 6 OR hd_dep_count = 2 AND hd_vehicle_count <= 4
       OR hd_dep_count = 0 AND hd_vehicle_count <= 2) AND s_store_name = 'ese') AS h9_to_9_30,
  (SELECT count(*) FROM store_sales, household_demographics, time_dim, store
   WHERE ss_sold_time_sk = t_time_sk AND ss_hdemo_sk = hd_demo_sk AND ss_store_sk = s_store_sk AND t_hour = 9
     AND t_minute >= 30 AND (hd_dep_count = 4 AND hd_vehicle_count <= 6 OR hd_dep_count = 2 AND hd_vehicle_count <= 4
       OR hd_dep_count = 0 AND hd_vehicle_count <= 2) AND s_store_name = 'ese') AS h9_30_to_10,
  (SELECT count(*) FROM store_sales, household_demographics, time_dim, store
   WHERE ss_sold_time_sk = t_time_sk AND ss_hdemo_sk = hd_demo_sk AND ss_store_sk = s_store_sk AND t_hour = 10
     AND t_minute < 30 AND (hd_dep_count = 4 AND hd_vehicle_count <= 6 OR hd_dep_count = 2 AND hd_vehicle_count <= 4
       OR hd_dep_count = 0 AND hd_vehicle_count <= 2) AND s_store_name = 'ese') AS h10_to_10_30,
  (SELECT count(*) FROM store_sales, household_demographics, time_dim, store
   WHERE ss_sold_time_sk = t_time_sk AND ss_hdemo_sk = hd_demo_sk AND ss_store_sk = s_store_sk AND t_hour = 10
     AND t_minute >= 30 AND (hd_dep_count = 4 AND hd_vehicle_count <= 6 OR hd_dep_count = 2 AND hd_vehicle_count <= 4
       OR hd_dep_count = 0 AND hd_vehicle_count <= 2) AND s_store_name = 'ese') AS h10_30_to_11,
  (SELECT count(*) FROM store_sales, household_demographics, time_dim, store
   WHERE ss_sold_time_sk = t_time_sk AND ss_hdemo_sk = hd_demo_sk AND ss_store_sk = s_store_sk AND t_hour = 11
     AND t_minute < 30 AND (hd_dep_count = 4 AND hd_vehicle_count <= 6 OR hd_dep_count = 2 AND hd_vehicle_count <= 4
       OR hd_dep_count = 0 AND hd_vehicle_count <= 2) AND s_store_name = 'ese') AS h11_to_11_30,
  (SELECT count(*) FROM store_sales, household_demographics, time_dim, store
   WHERE ss_sold_time_sk = t_time_sk AND ss_hdemo_sk = hd_demo_sk AND ss_store_sk = s_store_sk AND t_hour = 11
     AND t_minute >= 30 AND (hd_dep_count = 4 AND hd_vehicle_count <= 6 OR hd_dep_count = 2 AND hd_vehicle_count <= 4
       OR hd_dep_count = 0 AND hd_vehicle_count <= 2) AND s_store_name = 'ese') AS h11_30_to_12,
  (SELECT count(*) FROM store_sales, household_demographics, time_dim, store
   WHERE ss_sold_time_sk = t_time_sk AND ss_hdemo_sk = hd_demo_sk AND ss_store_sk = s_store_sk AND t_hour = 12
     AND t_minute < 30 AND (hd_dep_count = 4 AND hd_vehicle_count <= 6 OR hd_dep_count = 2 AND hd_vehicle_count <= 4
       OR hd_dep_count = 0 AND hd_vehicle_count <= 2) AND s_store_name = 'ese') AS h12_to_12_30;

-- b14: one count over time, household and store filters (q96)
SELECT count(*) AS n
FROM store_sales, household_demographics, time_dim, store
WHERE ss_sold_time_sk = t_time_sk AND ss_hdemo_sk = hd_demo_sk AND ss_store_sk = s_store_sk
  AND t_hour = 20 AND t_minute >= 30 AND hd_dep_count IN (5, 7) AND s_store_name IN ('ese', 'able');

-- b15: correlated subquery: items priced 20% over their category's average, by state (q6)
SELECT a.ca_state AS state, count(*) AS cnt
FROM customer_address a, customer c, store_sales s, date_dim d, item i
WHERE a.ca_address_sk = c.c_current_addr_sk AND c.c_customer_sk = s.ss_customer_sk
  AND s.ss_sold_date_sk = d.d_date_sk AND s.ss_item_sk = i.i_item_sk
  AND d.d_month_seq = (SELECT DISTINCT d_month_seq FROM date_dim WHERE d_year = 2001 AND d_moy = 1)
  AND i.i_current_price > 1.2 * (SELECT avg(j.i_current_price) FROM item j WHERE j.i_category = i.i_category)
GROUP BY a.ca_state
HAVING count(*) >= 10
ORDER BY cnt, state
LIMIT 100;

-- b16: correlated subquery over a CTE: customers returning more than their store's average (q1)
WITH customer_total_return AS (
  SELECT sr_customer_sk AS ctr_customer_sk, sr_store_sk AS ctr_store_sk, sum(sr_return_amt) AS ctr_total_return
  FROM store_returns, date_dim
  WHERE sr_returned_date_sk = d_date_sk AND d_year = 2000
  GROUP BY sr_customer_sk, sr_store_sk)
SELECT c_customer_id
FROM customer_total_return ctr1, store, customer
WHERE ctr1.ctr_total_return > (SELECT avg(ctr_total_return) * 1.2 FROM customer_total_return ctr2
                               WHERE ctr1.ctr_store_sk = ctr2.ctr_store_sk)
  AND s_store_sk = ctr1.ctr_store_sk AND s_state = 'TN' AND ctr1.ctr_customer_sk = c_customer_sk
ORDER BY c_customer_id
LIMIT 100;

-- b17: inventory across three engines (MariaDB inventory and warehouse, SQLite item, Parquet dates), ROLLUP (q22)
SELECT i_category, i_class, i_brand, avg(inv_quantity_on_hand) AS qoh
FROM inventory, date_dim, item, warehouse
WHERE inv_date_sk = d_date_sk AND inv_item_sk = i_item_sk AND inv_warehouse_sk = w_warehouse_sk
  AND d_month_seq BETWEEN 1188 AND 1199
GROUP BY ROLLUP (i_category, i_class, i_brand)
ORDER BY qoh, i_category, i_class, i_brand
LIMIT 100;

-- b18: inventory before and after a date per warehouse and item (q21)
SELECT w_warehouse_name, i_item_id, inv_before, inv_after
FROM (SELECT w_warehouse_name, i_item_id,
             sum(CASE WHEN d_date < DATE '1999-05-06' THEN inv_quantity_on_hand ELSE 0 END) AS inv_before,
             sum(CASE WHEN d_date >= DATE '1999-05-06' THEN inv_quantity_on_hand ELSE 0 END) AS inv_after
      FROM inventory, warehouse, item, date_dim
      WHERE i_current_price BETWEEN 0.99 AND 30.49 AND i_item_sk = inv_item_sk
        AND inv_warehouse_sk = w_warehouse_sk AND inv_date_sk = d_date_sk
        AND d_date BETWEEN DATE '1999-03-01' AND DATE '1999-07-31'
      GROUP BY w_warehouse_name, i_item_id) AS x
WHERE CASE WHEN inv_before > 0 THEN inv_after / inv_before ELSE NULL END BETWEEN 2.0 / 3.0 AND 3.0 / 2.0
ORDER BY w_warehouse_name, i_item_id
LIMIT 100;

-- b19: inventory variability, a CTE joined with itself on consecutive quarters (q39)
WITH inv AS (
  SELECT w_warehouse_name, w_warehouse_sk, i_item_sk, d_qoy, stdev, mean,
         CASE mean WHEN 0 THEN NULL ELSE stdev / mean END AS cov
  FROM (SELECT w_warehouse_name, w_warehouse_sk, i_item_sk, d_qoy, stddev_samp(inv_quantity_on_hand) AS stdev,
               avg(inv_quantity_on_hand) AS mean
        FROM inventory, item, warehouse, date_dim
        WHERE inv_item_sk = i_item_sk AND inv_warehouse_sk = w_warehouse_sk AND inv_date_sk = d_date_sk
          AND d_year = 1999
        GROUP BY w_warehouse_name, w_warehouse_sk, i_item_sk, d_qoy) AS foo
  WHERE CASE mean WHEN 0 THEN 0 ELSE stdev / mean END > 0.5)
SELECT inv1.w_warehouse_sk AS wsk1, inv1.i_item_sk AS isk1, inv1.d_qoy AS qoy1, inv1.mean AS mean1,
       inv1.cov AS cov1, inv2.d_qoy AS qoy2, inv2.mean AS mean2, inv2.cov AS cov2
FROM inv inv1, inv inv2
WHERE inv1.i_item_sk = inv2.i_item_sk AND inv1.w_warehouse_sk = inv2.w_warehouse_sk AND inv1.d_qoy = 1
  AND inv2.d_qoy = 2
ORDER BY wsk1, isk1, qoy1, mean1, qoy2, mean2
LIMIT 100;

-- b20: items in a price band with stock on hand that also sold in stores: four engines (q82)
SELECT i_item_id, i_current_price, count(*) AS sales_lines
FROM item, inventory, date_dim, store_sales
WHERE i_current_price BETWEEN 30 AND 60 AND inv_item_sk = i_item_sk AND d_date_sk = inv_date_sk
  AND d_date BETWEEN DATE '1999-02-01' AND DATE '1999-04-30' AND i_manufact_id IN (129, 270, 821, 423, 77, 505, 650)
  AND inv_quantity_on_hand BETWEEN 100 AND 500 AND ss_item_sk = i_item_sk
GROUP BY i_item_id, i_current_price
ORDER BY i_item_id, i_current_price
LIMIT 100;

-- b21: stock per warehouse state and category against web demand in the same months
WITH stock AS (
  SELECT w_state, i_category, d_moy, sum(inv_quantity_on_hand) AS on_hand
  FROM inventory, warehouse, item, date_dim
  WHERE inv_warehouse_sk = w_warehouse_sk AND inv_item_sk = i_item_sk AND inv_date_sk = d_date_sk
  GROUP BY w_state, i_category, d_moy),
demand AS (
  SELECT w_state, i_category, d_moy, sum(ws_quantity) AS ordered
  FROM web_sales, warehouse, item, date_dim
  WHERE ws_warehouse_sk = w_warehouse_sk AND ws_item_sk = i_item_sk AND ws_sold_date_sk = d_date_sk AND d_year = 1999
  GROUP BY w_state, i_category, d_moy)
SELECT s.w_state, s.i_category, s.d_moy, on_hand, ordered, round(ordered * 1.0 / on_hand, 4) AS turn
FROM stock s JOIN demand d ON s.w_state = d.w_state AND s.i_category = d.i_category AND s.d_moy = d.d_moy
ORDER BY w_state, i_category, d_moy;

-- b22: inventory with OR-ed warehouse, item and calendar predicates
SELECT w_warehouse_name, i_color, count(*) AS n, sum(inv_quantity_on_hand) AS qoh
FROM inventory
JOIN warehouse ON inv_warehouse_sk = w_warehouse_sk
JOIN item ON inv_item_sk = i_item_sk
JOIN date_dim ON inv_date_sk = d_date_sk
WHERE (w_state = 'TN' AND i_color IN ('red', 'blue', 'green') AND d_moy BETWEEN 1 AND 4)
   OR (w_state = 'GA' AND i_color IN ('black', 'white') AND d_moy BETWEEN 5 AND 8)
   OR (w_warehouse_sq_ft > 400000 AND i_units = 'Case')
GROUP BY w_warehouse_name, i_color
ORDER BY w_warehouse_name, i_color;

-- b23: web orders by site, warehouse and ship mode: shipping-delay buckets (q62)
SELECT substr(w_warehouse_name, 1, 20) AS wh, sm_type, web_name,
       sum(CASE WHEN ws_ship_date_sk - ws_sold_date_sk <= 30 THEN 1 ELSE 0 END) AS d30,
       sum(CASE WHEN ws_ship_date_sk - ws_sold_date_sk > 30 AND ws_ship_date_sk - ws_sold_date_sk <= 60
                THEN 1 ELSE 0 END) AS d31_60,
       sum(CASE WHEN ws_ship_date_sk - ws_sold_date_sk > 60 AND ws_ship_date_sk - ws_sold_date_sk <= 90
                THEN 1 ELSE 0 END) AS d61_90,
       sum(CASE WHEN ws_ship_date_sk - ws_sold_date_sk > 90 THEN 1 ELSE 0 END) AS over90
FROM web_sales, warehouse, ship_mode, web_site, date_dim
WHERE d_month_seq BETWEEN 1200 AND 1211 AND ws_ship_date_sk = d_date_sk AND ws_warehouse_sk = w_warehouse_sk
  AND ws_ship_mode_sk = sm_ship_mode_sk AND ws_web_site_sk = web_site_sk
GROUP BY wh, sm_type, web_name
ORDER BY wh, sm_type, web_name
LIMIT 100;

-- b24: carriers by web site class, OR-ed mode and site predicates (q99's shape)
SELECT sm_carrier, web_class, count(*) AS orders, sum(ws_ext_ship_cost) AS ship_cost
FROM web_sales, ship_mode, web_site, date_dim
WHERE ws_ship_mode_sk = sm_ship_mode_sk AND ws_web_site_sk = web_site_sk AND ws_sold_date_sk = d_date_sk
  AND d_year = 2002 AND (sm_type IN ('EXPRESS', 'OVERNIGHT') OR sm_code = 'AIR' OR web_state = 'SD')
GROUP BY sm_carrier, web_class
ORDER BY sm_carrier, web_class;

-- b25: week over week by day name, UNION ALL of both channels in a CTE (q2)
WITH wscs AS (
  SELECT ws_sold_date_sk AS sold_date_sk, ws_ext_sales_price AS sales_price FROM web_sales
  UNION ALL
  SELECT ss_sold_date_sk, ss_ext_sales_price FROM store_sales),
wswscs AS (
  SELECT d_week_seq, sum(CASE WHEN d_day_name = 'Sunday' THEN sales_price ELSE NULL END) AS sun_sales,
         sum(CASE WHEN d_day_name = 'Monday' THEN sales_price ELSE NULL END) AS mon_sales,
         sum(CASE WHEN d_day_name = 'Friday' THEN sales_price ELSE NULL END) AS fri_sales,
         sum(CASE WHEN d_day_name = 'Saturday' THEN sales_price ELSE NULL END) AS sat_sales
  FROM wscs, date_dim WHERE d_date_sk = sold_date_sk GROUP BY d_week_seq)
SELECT y.d_week_seq AS week1, round(y.sun_sales / z.sun_sales, 2) AS sun_ratio, round(y.mon_sales / z.mon_sales, 2)
       AS mon_ratio, round(y.fri_sales / z.fri_sales, 2) AS fri_ratio, round(y.sat_sales / z.sat_sales, 2) AS sat_ratio
FROM (SELECT wswscs.* FROM wswscs, date_dim WHERE date_dim.d_week_seq = wswscs.d_week_seq AND d_year = 2001
        AND d_dow = 1) y,
     (SELECT wswscs.* FROM wswscs, date_dim WHERE date_dim.d_week_seq = wswscs.d_week_seq AND d_year = 2002
        AND d_dow = 1) z
WHERE y.d_week_seq = z.d_week_seq - 52
ORDER BY week1;

-- b26: brand sales by year for one manufacturer (q3)
SELECT d_year, i_brand_id AS brand_id, i_brand AS brand, sum(ss_ext_sales_price) AS sum_agg
FROM date_dim dt, store_sales, item
WHERE dt.d_date_sk = ss_sold_date_sk AND ss_item_sk = i_item_sk AND i_manufact_id IN (128, 436, 3, 77) AND d_moy = 11
GROUP BY d_year, i_brand, i_brand_id
ORDER BY d_year, sum_agg DESC, brand_id, brand
LIMIT 100;

-- b27: category sales for a month of a manager's items (q42)
SELECT d_year, i_category_id, i_category, sum(ss_ext_sales_price) AS total
FROM date_dim, store_sales, item
WHERE d_date_sk = ss_sold_date_sk AND ss_item_sk = i_item_sk AND i_manager_id = 1 AND d_moy = 11 AND d_year = 2000
GROUP BY d_year, i_category_id, i_category
ORDER BY total DESC, d_year, i_category_id, i_category
LIMIT 100;

-- b28: sales by day of week per store (q43)
SELECT s_store_name, s_store_id,
       sum(CASE WHEN d_day_name = 'Sunday' THEN ss_sales_price ELSE NULL END) AS sun_sales,
       sum(CASE WHEN d_day_name = 'Monday' THEN ss_sales_price ELSE NULL END) AS mon_sales,
       sum(CASE WHEN d_day_name = 'Tuesday' THEN ss_sales_price ELSE NULL END) AS tue_sales,
       sum(CASE WHEN d_day_name = 'Wednesday' THEN ss_sales_price ELSE NULL END) AS wed_sales,
       sum(CASE WHEN d_day_name = 'Thursday' THEN ss_sales_price ELSE NULL END) AS thu_sales,
       sum(CASE WHEN d_day_name = 'Friday' THEN ss_sales_price ELSE NULL END) AS fri_sales,
       sum(CASE WHEN d_day_name = 'Saturday' THEN ss_sales_price ELSE NULL END) AS sat_sales
FROM date_dim, store_sales, store
WHERE d_date_sk = ss_sold_date_sk AND s_store_sk = ss_store_sk AND s_gmt_offset = -5 AND d_year = 2000
GROUP BY s_store_name, s_store_id
ORDER BY s_store_name, s_store_id
LIMIT 100;

-- b29: web revenue by zip with OR-ed address and price predicates (q15)
SELECT ca_zip, sum(ws_sales_price) AS total
FROM web_sales, customer, customer_address, date_dim
WHERE ws_bill_customer_sk = c_customer_sk AND c_current_addr_sk = ca_address_sk
  AND (substr(ca_zip, 1, 2) IN ('85', '86', '88', '83', '80', '81', '89', '87') OR ca_state IN ('CA', 'WA', 'GA')
       OR ws_sales_price > 180)
  AND ws_sold_date_sk = d_date_sk AND d_qoy = 2 AND d_year = 2001
GROUP BY ca_zip
ORDER BY ca_zip
LIMIT 100;

-- b30: one category over two channels, UNION ALL of grouped CTEs (q33)
WITH ss AS (
  SELECT i_manufact_id, sum(ss_ext_sales_price) AS total_sales
  FROM store_sales, date_dim, customer_address, item
  WHERE i_manufact_id IN (SELECT i_manufact_id FROM item WHERE i_category = 'Electronics')
    AND ss_item_sk = i_item_sk AND ss_sold_date_sk = d_date_sk AND d_year = 1998 AND d_moy = 5
    AND ss_addr_sk = ca_address_sk AND ca_gmt_offset = -5
  GROUP BY i_manufact_id),
ws AS (
  SELECT i_manufact_id, sum(ws_ext_sales_price) AS total_sales
  FROM web_sales, date_dim, customer_address, item
  WHERE i_manufact_id IN (SELECT i_manufact_id FROM item WHERE i_category = 'Electronics')
    AND ws_item_sk = i_item_sk AND ws_sold_date_sk = d_date_sk AND d_year = 1998 AND d_moy = 5
    AND ws_bill_addr_sk = ca_address_sk AND ca_gmt_offset = -5
  GROUP BY i_manufact_id)
SELECT i_manufact_id, sum(total_sales) AS total_sales
FROM (SELECT * FROM ss UNION ALL SELECT * FROM ws) AS tmp1
GROUP BY i_manufact_id
ORDER BY total_sales, i_manufact_id
LIMIT 100;

-- b31: INTERSECT: customers who bought in stores and on the web on the same day (q38)
SELECT count(*) AS n FROM (
  SELECT DISTINCT c_last_name, c_first_name, d_date
  FROM store_sales, date_dim, customer
  WHERE ss_sold_date_sk = d_date_sk AND ss_customer_sk = c_customer_sk AND d_month_seq BETWEEN 1200 AND 1223
  INTERSECT
  SELECT DISTINCT c_last_name, c_first_name, d_date
  FROM web_sales, date_dim, customer
  WHERE ws_sold_date_sk = d_date_sk AND ws_bill_customer_sk = c_customer_sk AND d_month_seq BETWEEN 1200 AND 1223
) AS hot_cust;

-- b32: EXCEPT: store shoppers of a year who never bought on the web that day (q87)
SELECT count(*) AS n FROM (
  SELECT DISTINCT c_last_name, c_first_name, d_date
  FROM store_sales, date_dim, customer
  WHERE ss_sold_date_sk = d_date_sk AND ss_customer_sk = c_customer_sk AND d_month_seq BETWEEN 1212 AND 1223
  EXCEPT
  SELECT DISTINCT c_last_name, c_first_name, d_date
  FROM web_sales, date_dim, customer
  WHERE ws_sold_date_sk = d_date_sk AND ws_bill_customer_sk = c_customer_sk AND d_month_seq BETWEEN 1212 AND 1223
) AS cool_cust;

-- b33: INTERSECT of zip prefixes inside an IN subquery, then a store-by-zip join (q8's shape)
SELECT s_store_name, sum(ss_net_profit) AS profit
FROM store_sales, date_dim, store, customer_address
WHERE ss_store_sk = s_store_sk AND ss_sold_date_sk = d_date_sk AND d_qoy = 2 AND d_year = 1998
  AND ss_addr_sk = ca_address_sk
  AND substr(ca_zip, 1, 2) IN (
    SELECT substr(ca_zip, 1, 2) FROM customer_address WHERE ca_state IN ('TX', 'CA', 'GA', 'NC')
    INTERSECT
    SELECT substr(ca_zip, 1, 2) FROM customer_address, customer
    WHERE ca_address_sk = c_current_addr_sk AND c_preferred_cust_flag = 'Y'
    GROUP BY substr(ca_zip, 1, 2) HAVING count(*) > 10)
GROUP BY s_store_name
ORDER BY s_store_name;

-- b34: EXISTS and OR-ed EXISTS, correlated on the customer (q10)
SELECT cd_gender, cd_marital_status, cd_education_status, count(*) AS cnt1, cd_purchase_estimate, cd_credit_rating
FROM customer c, customer_address ca, customer_demographics
WHERE c.c_current_addr_sk = ca.ca_address_sk AND ca_county IN ('Walker County', 'Richland County', 'Luce County')
  AND cd_demo_sk = c.c_current_cdemo_sk
  AND EXISTS (SELECT * FROM store_sales, date_dim
              WHERE c.c_customer_sk = ss_customer_sk AND ss_sold_date_sk = d_date_sk AND d_year = 2002
                AND d_moy BETWEEN 1 AND 4)
  AND (EXISTS (SELECT * FROM web_sales, date_dim
               WHERE c.c_customer_sk = ws_bill_customer_sk AND ws_sold_date_sk = d_date_sk AND d_year = 2002
                 AND d_moy BETWEEN 1 AND 4)
       OR c.c_preferred_cust_flag = 'Y')
GROUP BY cd_gender, cd_marital_status, cd_education_status, cd_purchase_estimate, cd_credit_rating
ORDER BY cd_gender, cd_marital_status, cd_education_status, cd_purchase_estimate, cd_credit_rating
LIMIT 100;

-- b35: EXISTS and NOT EXISTS, correlated (q69)
SELECT cd_gender, cd_marital_status, cd_education_status, count(*) AS cnt
FROM customer c, customer_address ca, customer_demographics
WHERE c.c_current_addr_sk = ca.ca_address_sk AND ca_state IN ('KY', 'GA', 'NC') AND cd_demo_sk = c.c_current_cdemo_sk
  AND EXISTS (SELECT * FROM store_sales, date_dim
              WHERE c.c_customer_sk = ss_customer_sk AND ss_sold_date_sk = d_date_sk AND d_year = 2001
                AND d_moy BETWEEN 4 AND 6)
  AND NOT EXISTS (SELECT * FROM web_sales, date_dim
                  WHERE c.c_customer_sk = ws_bill_customer_sk AND ws_sold_date_sk = d_date_sk AND d_year = 2001
                    AND d_moy BETWEEN 4 AND 6)
GROUP BY cd_gender, cd_marital_status, cd_education_status
ORDER BY cd_gender, cd_marital_status, cd_education_status;

-- b36: best and worst items by average profit at one store, rank() windows (q44)
SELECT asceding.rnk AS rnk, i1.i_item_id AS best_performing, i2.i_item_id AS worst_performing
FROM (SELECT item_sk, rnk FROM (SELECT item_sk, rank() OVER (ORDER BY rank_col ASC, item_sk) AS rnk
                                FROM (SELECT ss_item_sk AS item_sk, avg(ss_net_profit) AS rank_col
                                      FROM store_sales WHERE ss_store_sk = 4 GROUP BY ss_item_sk) AS v1) AS v11
      WHERE rnk < 11) AS asceding,
     (SELECT item_sk, rnk FROM (SELECT item_sk, rank() OVER (ORDER BY rank_col DESC, item_sk) AS rnk
                                FROM (SELECT ss_item_sk AS item_sk, avg(ss_net_profit) AS rank_col
                                      FROM store_sales WHERE ss_store_sk = 4 GROUP BY ss_item_sk) AS v2) AS v21
      WHERE rnk < 11) AS descending,
     item i1, item i2
WHERE asceding.rnk = descending.rnk AND i1.i_item_sk = asceding.item_sk AND i2.i_item_sk = descending.item_sk
ORDER BY rnk;

-- b37: monthly sales with lag and lead against the yearly average (q47)
WITH v1 AS (
  SELECT i_category, i_brand, s_store_name, d_year, d_moy, sum(ss_sales_price) AS sum_sales,
         avg(sum(ss_sales_price)) OVER (PARTITION BY i_category, i_brand, s_store_name, d_year) AS avg_monthly_sales,
         rank() OVER (PARTITION BY i_category, i_brand, s_store_name ORDER BY d_year, d_moy) AS rn
  FROM item, store_sales, date_dim, store
  WHERE ss_item_sk = i_item_sk AND ss_sold_date_sk = d_date_sk AND ss_store_sk = s_store_sk
    AND (d_year = 2000 OR (d_year = 1999 AND d_moy = 12) OR (d_year = 2001 AND d_moy = 1))
    AND i_category IN ('Music', 'Shoes')
  GROUP BY i_category, i_brand, s_store_name, d_year, d_moy),
v2 AS (
  SELECT v1.i_category, v1.i_brand, v1.s_store_name, v1.d_year, v1.d_moy, v1.avg_monthly_sales, v1.sum_sales,
         v1_lag.sum_sales AS psum, v1_lead.sum_sales AS nsum
  FROM v1, v1 v1_lag, v1 v1_lead
  WHERE v1.i_category = v1_lag.i_category AND v1.i_category = v1_lead.i_category AND v1.i_brand = v1_lag.i_brand
    AND v1.i_brand = v1_lead.i_brand AND v1.s_store_name = v1_lag.s_store_name
    AND v1.s_store_name = v1_lead.s_store_name AND v1.rn = v1_lag.rn + 1 AND v1.rn = v1_lead.rn - 1)
SELECT i_category, i_brand, s_store_name, d_year, d_moy, avg_monthly_sales, sum_sales, psum, nsum
FROM v2
WHERE d_year = 2000 AND avg_monthly_sales > 0 AND abs(sum_sales - avg_monthly_sales) / avg_monthly_sales > 0.1
ORDER BY sum_sales, s_store_name, i_category, i_brand, d_moy
LIMIT 100;

-- b38: lag() and lead() directly, per brand and month
SELECT i_brand, d_moy, sales, lag(sales) OVER (PARTITION BY i_brand ORDER BY d_moy) AS prev_sales,
       lead(sales, 2) OVER (PARTITION BY i_brand ORDER BY d_moy) AS next2_sales
FROM (SELECT i_brand, d_moy, sum(ss_ext_sales_price) AS sales
      FROM store_sales, item, date_dim
      WHERE ss_item_sk = i_item_sk AND ss_sold_date_sk = d_date_sk AND d_year = 2001 AND i_category = 'Jewelry'
      GROUP BY i_brand, d_moy) AS m
ORDER BY i_brand, d_moy;

-- b39: running totals of both channels, FULL OUTER JOIN and a max() window (q51)
WITH web_v1 AS (
  SELECT ws_item_sk AS item_sk, d_date, sum(sum(ws_sales_price)) OVER (PARTITION BY ws_item_sk ORDER BY d_date
         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cume_sales
  FROM web_sales, date_dim
  WHERE ws_sold_date_sk = d_date_sk AND d_month_seq BETWEEN 1200 AND 1205 AND ws_item_sk IS NOT NULL
  GROUP BY ws_item_sk, d_date),
store_v1 AS (
  SELECT ss_item_sk AS item_sk, d_date, sum(sum(ss_sales_price)) OVER (PARTITION BY ss_item_sk ORDER BY d_date
         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cume_sales
  FROM store_sales, date_dim
  WHERE ss_sold_date_sk = d_date_sk AND d_month_seq BETWEEN 1200 AND 1205 AND ss_item_sk IS NOT NULL
  GROUP BY ss_item_sk, d_date)
SELECT item_sk, d_date, web_sales, store_sales, web_cumulative, store_cumulative
FROM (SELECT item_sk, d_date, web_sales, store_sales,
             max(web_sales) OVER (PARTITION BY item_sk ORDER BY d_date
                                  ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS web_cumulative,
             max(store_sales) OVER (PARTITION BY item_sk ORDER BY d_date
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS store_cumulative
      FROM (SELECT CASE WHEN web.item_sk IS NOT NULL THEN web.item_sk ELSE store.item_sk END AS item_sk,
                   CASE WHEN web.d_date IS NOT NULL THEN web.d_date ELSE store.d_date END AS d_date,
                   web.cume_sales AS web_sales, store.cume_sales AS store_sales
            FROM web_v1 web FULL OUTER JOIN store_v1 store ON web.item_sk = store.item_sk AND web.d_date = store.d_date)
           AS x) AS y
WHERE web_cumulative > store_cumulative
ORDER BY item_sk, d_date
LIMIT 100;

-- b40: a manager's monthly sales against their average, window over a grouped star join (q63)
SELECT i_manager_id, d_moy, sum_sales, avg_monthly_sales
FROM (SELECT i_manager_id, d_moy, sum(ss_sales_price) AS sum_sales,
             avg(sum(ss_sales_price)) OVER (PARTITION BY i_manager_id) AS avg_monthly_sales
      FROM item, store_sales, date_dim, store
      WHERE ss_item_sk = i_item_sk AND ss_sold_date_sk = d_date_sk AND ss_store_sk = s_store_sk
        AND d_month_seq BETWEEN 1212 AND 1223
        AND ((i_category IN ('Books', 'Children', 'Electronics') AND i_class IN ('fiction', 'kids', 'portable'))
          OR (i_category IN ('Women', 'Music', 'Men') AND i_class IN ('dresses', 'pop', 'shirts')))
      GROUP BY i_manager_id, d_moy) AS tmp1
WHERE CASE WHEN avg_monthly_sales > 0 THEN abs(sum_sales - avg_monthly_sales) / avg_monthly_sales
           ELSE NULL END > 0.1
ORDER BY i_manager_id, avg_monthly_sales, sum_sales, d_moy
LIMIT 100;

-- b41: top three brands per category by revenue, rank() in a derived table (q67's shape)
SELECT i_category, i_brand, revenue, rk
FROM (SELECT i_category, i_brand, sum(ss_ext_sales_price) AS revenue,
             rank() OVER (PARTITION BY i_category ORDER BY sum(ss_ext_sales_price) DESC) AS rk
      FROM store_sales, item, date_dim
      WHERE ss_item_sk = i_item_sk AND ss_sold_date_sk = d_date_sk AND d_year = 2002
      GROUP BY i_category, i_brand) AS ranked
WHERE rk <= 3
ORDER BY i_category, rk, i_brand;

-- b42: ROLLUP of profit by state and county with grouping() and a rank per level (q70)
SELECT sum(ss_net_profit) AS total_sum, s_state, s_county, grouping(s_state) + grouping(s_county) AS lochierarchy,
       rank() OVER (PARTITION BY grouping(s_state) + grouping(s_county),
                    CASE WHEN grouping(s_county) = 0 THEN s_state END ORDER BY sum(ss_net_profit) DESC) AS rank_within_parent
FROM store_sales, date_dim d1, store
WHERE d1.d_month_seq BETWEEN 1200 AND 1211 AND d1.d_date_sk = ss_sold_date_sk AND s_store_sk = ss_store_sk
GROUP BY ROLLUP (s_state, s_county)
ORDER BY lochierarchy DESC, s_state, rank_within_parent, s_county
LIMIT 100;

-- b43: gross margin ROLLUP over category and class (q36)
SELECT sum(ss_net_profit) / sum(ss_ext_sales_price) AS gross_margin, i_category, i_class,
       grouping(i_category) + grouping(i_class) AS lochierarchy
FROM store_sales, date_dim d1, item, store
WHERE d1.d_year = 2001 AND d1.d_date_sk = ss_sold_date_sk AND i_item_sk = ss_item_sk AND s_store_sk = ss_store_sk
  AND s_state IN ('TN', 'GA', 'TX', 'KY')
GROUP BY ROLLUP (i_category, i_class)
ORDER BY lochierarchy DESC, i_category, i_class
LIMIT 100;

-- b44: web ROLLUP with a rank per parent (q86)
SELECT sum(ws_net_paid) AS total_sum, i_category, i_class, grouping(i_category) + grouping(i_class) AS lochierarchy,
       rank() OVER (PARTITION BY grouping(i_category) + grouping(i_class),
                    CASE WHEN grouping(i_class) = 0 THEN i_category END ORDER BY sum(ws_net_paid) DESC) AS rank_within_parent
FROM web_sales, date_dim d1, item
WHERE d1.d_month_seq BETWEEN 1200 AND 1211 AND d1.d_date_sk = ws_sold_date_sk AND i_item_sk = ws_item_sk
GROUP BY ROLLUP (i_category, i_class)
ORDER BY lochierarchy DESC, i_category, rank_within_parent, i_class
LIMIT 100;

-- b45: revenue share within class, a sum() window over groups (q98)
SELECT i_item_id, i_category, i_class, i_current_price, itemrevenue,
       itemrevenue * 100 / sum(itemrevenue) OVER (PARTITION BY i_class) AS revenueratio
FROM (SELECT i_item_id, i_category, i_class, i_current_price, sum(ss_ext_sales_price) AS itemrevenue
      FROM store_sales, item, date_dim
      WHERE ss_item_sk = i_item_sk AND i_category IN ('Sports', 'Books', 'Home') AND ss_sold_date_sk = d_date_sk
        AND d_date BETWEEN DATE '1999-02-22' AND DATE '1999-03-24'
      GROUP BY i_item_id, i_category, i_class, i_current_price) AS g
ORDER BY i_category, i_class, i_item_id, revenueratio
LIMIT 100;

-- b46: the same over web sales (q12)
SELECT i_item_id, i_category, i_class, i_current_price, itemrevenue,
       itemrevenue * 100 / sum(itemrevenue) OVER (PARTITION BY i_class) AS revenueratio
FROM (SELECT i_item_id, i_category, i_class, i_current_price, sum(ws_ext_sales_price) AS itemrevenue
      FROM web_sales, item, date_dim
      WHERE ws_item_sk = i_item_sk AND i_category IN ('Jewelry', 'Sports', 'Books') AND ws_sold_date_sk = d_date_sk
        AND d_date BETWEEN DATE '2001-01-12' AND DATE '2001-02-11'
      GROUP BY i_item_id, i_category, i_class, i_current_price) AS g
ORDER BY i_category, i_class, i_item_id, revenueratio
LIMIT 100;

-- b47: web averages by demographics with OR-ed promotion channels (q26's shape)
SELECT i_item_id, avg(ws_quantity) AS agg1, avg(ws_list_price) AS agg2, avg(ws_sales_price) AS agg4
FROM web_sales, customer, customer_demographics, date_dim, item, promotion
WHERE ws_sold_date_sk = d_date_sk AND ws_item_sk = i_item_sk AND ws_bill_customer_sk = c_customer_sk
  AND c_current_cdemo_sk = cd_demo_sk AND ws_promo_sk = p_promo_sk AND cd_gender = 'F' AND cd_marital_status = 'U'
  AND (p_channel_email = 'N' OR p_channel_tv = 'N' OR p_channel_event = 'Y') AND d_year = 2000
GROUP BY i_item_id
ORDER BY i_item_id
LIMIT 100;

-- b48: six uncorrelated buckets, each with OR-ed price ranges (q28)
SELECT *
FROM (SELECT avg(ss_list_price) AS b1_lp, count(ss_list_price) AS b1_cnt, count(DISTINCT ss_list_price) AS b1_cntd
      FROM store_sales WHERE ss_quantity BETWEEN 0 AND 5
        AND (ss_list_price BETWEEN 8 AND 18 OR ss_coupon_amt BETWEEN 459 AND 1459
             OR ss_wholesale_cost BETWEEN 57 AND 77)) b1,
     (SELECT avg(ss_list_price) AS b2_lp, count(ss_list_price) AS b2_cnt, count(DISTINCT ss_list_price) AS b2_cntd
      FROM store_sales WHERE ss_quantity BETWEEN 6 AND 10
        AND (ss_list_price BETWEEN 90 AND 100 OR ss_coupon_amt BETWEEN 2323 AND 3323
             OR ss_wholesale_cost BETWEEN 31 AND 51)) b2,
     (SELECT avg(ss_list_price) AS b3_lp, count(ss_list_price) AS b3_cnt, count(DISTINCT ss_list_price) AS b3_cntd
      FROM store_sales WHERE ss_quantity BETWEEN 11 AND 15
        AND (ss_list_price BETWEEN 142 AND 152 OR ss_coupon_amt BETWEEN 12214 AND 13214
             OR ss_wholesale_cost BETWEEN 79 AND 99)) b3,
     (SELECT avg(ss_list_price) AS b4_lp, count(ss_list_price) AS b4_cnt, count(DISTINCT ss_list_price) AS b4_cntd
      FROM store_sales WHERE ss_quantity BETWEEN 16 AND 20
        AND (ss_list_price BETWEEN 135 AND 145 OR ss_coupon_amt BETWEEN 6071 AND 7071
             OR ss_wholesale_cost BETWEEN 38 AND 58)) b4,
     (SELECT avg(ss_list_price) AS b5_lp, count(ss_list_price) AS b5_cnt, count(DISTINCT ss_list_price) AS b5_cntd
      FROM store_sales WHERE ss_quantity BETWEEN 21 AND 25
        AND (ss_list_price BETWEEN 122 AND 132 OR ss_coupon_amt BETWEEN 836 AND 1836
             OR ss_wholesale_cost BETWEEN 17 AND 37)) b5,
     (SELECT avg(ss_list_price) AS b6_lp, count(ss_list_price) AS b6_cnt, count(DISTINCT ss_list_price) AS b6_cntd
      FROM store_sales WHERE ss_quantity BETWEEN 26 AND 30
        AND (ss_list_price BETWEEN 154 AND 164 OR ss_coupon_amt BETWEEN 7326 AND 8326
             OR ss_wholesale_cost BETWEEN 7 AND 27)) b6;

-- b49: CASE over uncorrelated scalar subqueries, one row per reason (q9)
SELECT r_reason_desc,
       CASE WHEN (SELECT count(*) FROM store_sales WHERE ss_quantity BETWEEN 1 AND 20) > 1000
            THEN (SELECT avg(ss_ext_discount_amt) FROM store_sales WHERE ss_quantity BETWEEN 1 AND 20)
            ELSE (SELECT avg(ss_net_paid) FROM store_sales WHERE ss_quantity BETWEEN 1 AND 20) END AS bucket1,
       CASE WHEN (SELECT count(*) FROM store_sales WHERE ss_quantity BETWEEN 21 AND 40) > 1000000
            THEN (SELECT avg(ss_ext_discount_amt) FROM store_sales WHERE ss_quantity BETWEEN 21 AND 40)
            ELSE (SELECT avg(ss_net_paid) FROM store_sales WHERE ss_quantity BETWEEN 21 AND 40) END AS bucket2
FROM reason
WHERE r_reason_sk BETWEEN 1 AND 3
ORDER BY r_reason_desc;

-- b50: a store's weak items: CTE joined with its own per-store average (q65)
WITH sa AS (
  SELECT ss_store_sk, ss_item_sk, sum(ss_sales_price) AS revenue
  FROM store_sales, date_dim
  WHERE ss_sold_date_sk = d_date_sk AND d_month_seq BETWEEN 1176 AND 1187
  GROUP BY ss_store_sk, ss_item_sk)
SELECT s_store_name, i_item_id, sc.revenue, i_current_price, i_wholesale_cost, i_brand
FROM store, item, (SELECT ss_store_sk, avg(revenue) AS ave FROM sa GROUP BY ss_store_sk) sb, sa sc
WHERE sb.ss_store_sk = sc.ss_store_sk AND sc.revenue <= 0.1 * sb.ave AND s_store_sk = sc.ss_store_sk
  AND i_item_sk = sc.ss_item_sk
ORDER BY s_store_name, i_item_id, revenue
LIMIT 100;

-- b51: tickets by buy potential and county, HAVING on a derived table (q73)
SELECT c_last_name, c_first_name, c_preferred_cust_flag, ss_ticket_number, cnt
FROM (SELECT ss_ticket_number, ss_customer_sk, count(*) AS cnt
      FROM store_sales, date_dim, store, household_demographics
      WHERE ss_sold_date_sk = d_date_sk AND ss_store_sk = s_store_sk AND ss_hdemo_sk = hd_demo_sk
        AND d_dom BETWEEN 1 AND 2 AND (hd_buy_potential = '501-1000' OR hd_buy_potential = 'Unknown')
        AND hd_vehicle_count > 0 AND CASE WHEN hd_vehicle_count > 0 THEN hd_dep_count / hd_vehicle_count ELSE NULL END > 1
        AND d_year IN (2000, 2001, 2002) AND s_county IN ('Williamson County', 'Ziebach County', 'Walker County')
      GROUP BY ss_ticket_number, ss_customer_sk) dj, customer
WHERE ss_customer_sk = c_customer_sk AND cnt BETWEEN 1 AND 5
ORDER BY cnt DESC, c_last_name, c_first_name, c_preferred_cust_flag, ss_ticket_number
LIMIT 100;

-- b52: per-ticket profit in the store's city, Monday sales only (q79)
SELECT c_last_name, c_first_name, substr(s_city, 1, 30) AS city, ss_ticket_number, amt, profit
FROM (SELECT ss_ticket_number, ss_customer_sk, store.s_city, sum(ss_coupon_amt) AS amt, sum(ss_net_profit) AS profit
      FROM store_sales, date_dim, store, household_demographics
      WHERE ss_sold_date_sk = d_date_sk AND ss_store_sk = s_store_sk AND ss_hdemo_sk = hd_demo_sk
        AND (hd_dep_count = 6 OR hd_vehicle_count > 2) AND d_dow = 1 AND d_year IN (1999, 2000, 2001)
        AND s_number_employees BETWEEN 200 AND 295
      GROUP BY ss_ticket_number, ss_customer_sk, ss_addr_sk, store.s_city) ms, customer
WHERE ss_customer_sk = c_customer_sk
ORDER BY c_last_name, c_first_name, city, profit, ss_ticket_number
LIMIT 100;

-- b53: morning over evening web orders, two uncorrelated counts (q90)
SELECT CAST(amc AS DECIMAL(15, 4)) / CAST(pmc AS DECIMAL(15, 4)) AS am_pm_ratio
FROM (SELECT count(*) AS amc FROM web_sales, household_demographics, time_dim, web_site
      WHERE ws_sold_time_sk = t_time_sk AND ws_bill_customer_sk IS NOT NULL AND ws_web_site_sk = web_site_sk
        AND t_hour BETWEEN 8 AND 9 AND hd_demo_sk = ws_bill_customer_sk AND hd_dep_count = 6) AS am_orders,
     (SELECT count(*) AS pmc FROM web_sales, household_demographics, time_dim, web_site
      WHERE ws_sold_time_sk = t_time_sk AND ws_bill_customer_sk IS NOT NULL AND ws_web_site_sk = web_site_sk
        AND t_hour BETWEEN 19 AND 20 AND hd_demo_sk = ws_bill_customer_sk AND hd_dep_count = 6) AS pm_orders;

-- b54: LEFT JOIN of sales to returns with a reason (q93)
SELECT ss_customer_sk, sum(act_sales) AS sumsales
FROM (SELECT ss_item_sk, ss_ticket_number, ss_customer_sk,
             CASE WHEN sr_return_quantity IS NOT NULL THEN (ss_quantity - sr_return_quantity) * ss_sales_price
                  ELSE ss_quantity * ss_sales_price END AS act_sales
      FROM store_sales LEFT OUTER JOIN store_returns ON sr_item_sk = ss_item_sk AND sr_ticket_number = ss_ticket_number,
           reason
      WHERE sr_reason_sk = r_reason_sk AND r_reason_desc = 'Did not like the color') t
GROUP BY ss_customer_sk
ORDER BY sumsales, ss_customer_sk
LIMIT 100;

-- b55: days to return, bucketed per store (q50)
SELECT s_store_name, s_store_id, s_county, s_state,
       sum(CASE WHEN sr_returned_date_sk - ss_sold_date_sk <= 30 THEN 1 ELSE 0 END) AS d30,
       sum(CASE WHEN sr_returned_date_sk - ss_sold_date_sk > 30 AND sr_returned_date_sk - ss_sold_date_sk <= 45
                THEN 1 ELSE 0 END) AS d31_45,
       sum(CASE WHEN sr_returned_date_sk - ss_sold_date_sk > 45 THEN 1 ELSE 0 END) AS over45
FROM store_sales, store_returns, store, date_dim d1, date_dim d2
WHERE d2.d_year = 2001 AND d2.d_moy = 8 AND ss_ticket_number = sr_ticket_number AND ss_item_sk = sr_item_sk
  AND ss_sold_date_sk = d1.d_date_sk AND sr_returned_date_sk = d2.d_date_sk AND ss_customer_sk = sr_customer_sk
  AND ss_store_sk = s_store_sk
GROUP BY s_store_name, s_store_id, s_county, s_state
ORDER BY s_store_name, s_store_id, s_county, s_state
LIMIT 100;

-- b56: bought in store, returned, then bought again on the web (q29's shape)
SELECT i_item_id, s_store_name, sum(ss_quantity) AS store_sales_quantity, sum(sr_return_quantity) AS returns_quantity,
       sum(ws_quantity) AS web_sales_quantity
FROM store_sales, store_returns, web_sales, date_dim d1, date_dim d2, date_dim d3, store, item
WHERE d1.d_year = 1999 AND d1.d_date_sk = ss_sold_date_sk AND i_item_sk = ss_item_sk
  AND s_store_sk = ss_store_sk AND ss_customer_sk = sr_customer_sk AND ss_item_sk = sr_item_sk
  AND ss_ticket_number = sr_ticket_number AND sr_returned_date_sk = d2.d_date_sk
  AND d2.d_year IN (1999, 2000) AND sr_customer_sk = ws_bill_customer_sk AND sr_item_sk = ws_item_sk
  AND ws_sold_date_sk = d3.d_date_sk AND d3.d_year IN (1999, 2000, 2001)
GROUP BY i_item_id, s_store_name
ORDER BY i_item_id, s_store_name
LIMIT 100;

-- b57: correlated excess discount on the web (q92)
SELECT sum(ws_ext_sales_price) AS excess
FROM web_sales, item, date_dim
WHERE i_manufact_id BETWEEN 300 AND 400 AND i_item_sk = ws_item_sk
  AND d_date BETWEEN DATE '2000-01-27' AND DATE '2000-04-26' AND d_date_sk = ws_sold_date_sk
  AND ws_ext_sales_price > (SELECT 1.3 * avg(ws_ext_sales_price) FROM web_sales, date_dim
                            WHERE ws_item_sk = i_item_sk AND d_date BETWEEN DATE '2000-01-27' AND DATE '2000-04-26'
                              AND d_date_sk = ws_sold_date_sk);

-- b58: web orders of several items, none without a promotion: EXISTS with a correlated inequality (q94)
SELECT count(DISTINCT ws_order_number) AS order_count, sum(ws_ext_ship_cost) AS total_shipping_cost,
       sum(ws_net_profit) AS total_net_profit
FROM web_sales ws1, date_dim, customer_address, web_site
WHERE d_date BETWEEN DATE '1999-02-01' AND DATE '1999-04-01' AND ws1.ws_ship_date_sk = d_date_sk
  AND ws1.ws_bill_addr_sk = ca_address_sk AND ca_state IN ('TX', 'GA', 'CA') AND ws1.ws_web_site_sk = web_site_sk
  AND web_company_name = 'pri'
  AND EXISTS (SELECT * FROM web_sales ws2
              WHERE ws1.ws_order_number = ws2.ws_order_number AND ws1.ws_item_sk <> ws2.ws_item_sk)
  AND NOT EXISTS (SELECT * FROM web_sales ws3
                  WHERE ws1.ws_order_number = ws3.ws_order_number AND ws3.ws_promo_sk IS NULL);

-- b59: UNION ALL of channels where a key is NULL (q76)
SELECT channel, col_name, d_year, d_qoy, i_category, count(*) AS sales_cnt, sum(ext_sales_price) AS sales_amt
FROM (SELECT 'store' AS channel, 'ss_customer_sk' AS col_name, d_year, d_qoy, i_category,
             ss_ext_sales_price AS ext_sales_price
      FROM store_sales, item, date_dim
      WHERE ss_customer_sk IS NULL AND ss_sold_date_sk = d_date_sk AND ss_item_sk = i_item_sk
      UNION ALL
      SELECT 'web', 'ws_promo_sk', d_year, d_qoy, i_category, ws_ext_sales_price
      FROM web_sales, item, date_dim
      WHERE ws_promo_sk IS NULL AND ws_sold_date_sk = d_date_sk AND ws_item_sk = i_item_sk) AS foo
GROUP BY channel, col_name, d_year, d_qoy, i_category
ORDER BY channel, col_name, d_year, d_qoy, i_category
LIMIT 100;

-- b60: FULL OUTER JOIN of customer-item pairs of both channels (q97)
WITH ssci AS (
  SELECT ss_customer_sk AS customer_sk, ss_item_sk AS item_sk
  FROM store_sales, date_dim
  WHERE ss_sold_date_sk = d_date_sk AND d_month_seq BETWEEN 1200 AND 1211
  GROUP BY ss_customer_sk, ss_item_sk),
csci AS (
  SELECT ws_bill_customer_sk AS customer_sk, ws_item_sk AS item_sk
  FROM web_sales, date_dim
  WHERE ws_sold_date_sk = d_date_sk AND d_month_seq BETWEEN 1200 AND 1211
  GROUP BY ws_bill_customer_sk, ws_item_sk)
SELECT sum(CASE WHEN ssci.customer_sk IS NOT NULL AND csci.customer_sk IS NULL THEN 1 ELSE 0 END) AS store_only,
       sum(CASE WHEN ssci.customer_sk IS NULL AND csci.customer_sk IS NOT NULL THEN 1 ELSE 0 END) AS catalog_only,
       sum(CASE WHEN ssci.customer_sk IS NOT NULL AND csci.customer_sk IS NOT NULL THEN 1 ELSE 0 END)
           AS store_and_catalog
FROM ssci FULL OUTER JOIN csci ON ssci.customer_sk = csci.customer_sk AND ssci.item_sk = csci.item_sk;

-- b61: year-over-year growth per customer in both channels, a CTE joined four times (q11)
WITH year_total AS (
  SELECT c_customer_id AS customer_id, c_first_name AS customer_first_name, c_last_name AS customer_last_name,
         d_year AS dyear, sum(ss_ext_list_price - ss_ext_discount_amt) AS year_total, 's' AS sale_type
  FROM customer, store_sales, date_dim
  WHERE c_customer_sk = ss_customer_sk AND ss_sold_date_sk = d_date_sk
  GROUP BY c_customer_id, c_first_name, c_last_name, d_year
  UNION ALL
  SELECT c_customer_id, c_first_name, c_last_name, d_year, sum(ws_ext_sales_price), 'w'
  FROM customer, web_sales, date_dim
  WHERE c_customer_sk = ws_bill_customer_sk AND ws_sold_date_sk = d_date_sk
  GROUP BY c_customer_id, c_first_name, c_last_name, d_year)
SELECT t_s_secyear.customer_id, t_s_secyear.customer_first_name, t_s_secyear.customer_last_name
FROM year_total t_s_firstyear, year_total t_s_secyear, year_total t_w_firstyear, year_total t_w_secyear
WHERE t_s_secyear.customer_id = t_s_firstyear.customer_id AND t_s_firstyear.customer_id = t_w_secyear.customer_id
  AND t_s_firstyear.customer_id = t_w_firstyear.customer_id AND t_s_firstyear.sale_type = 's'
  AND t_w_firstyear.sale_type = 'w' AND t_s_secyear.sale_type = 's' AND t_w_secyear.sale_type = 'w'
  AND t_s_firstyear.dyear = 2001 AND t_s_secyear.dyear = 2002 AND t_w_firstyear.dyear = 2001
  AND t_w_secyear.dyear = 2002 AND t_s_firstyear.year_total > 0 AND t_w_firstyear.year_total > 0
  AND CASE WHEN t_w_firstyear.year_total > 0 THEN t_w_secyear.year_total / t_w_firstyear.year_total ELSE 0.0 END
      > CASE WHEN t_s_firstyear.year_total > 0 THEN t_s_secyear.year_total / t_s_firstyear.year_total ELSE 0.0 END
ORDER BY customer_id, customer_first_name, customer_last_name
LIMIT 100;

-- b62: NOT IN over a subquery that yields a NULL: SQL answers no rows
SELECT count(*) AS n
FROM customer
WHERE c_customer_sk NOT IN (SELECT sr_customer_sk FROM store_returns WHERE sr_reason_sk = 5);

-- b63: NOT IN without NULLs, and IN, against a cross-engine subquery
SELECT c_birth_country, count(*) AS n
FROM customer
WHERE c_customer_sk NOT IN (SELECT sr_customer_sk FROM store_returns WHERE sr_customer_sk IS NOT NULL)
  AND c_current_addr_sk IN (SELECT ca_address_sk FROM customer_address WHERE ca_state IN ('TX', 'GA'))
GROUP BY c_birth_country
ORDER BY c_birth_country;

-- b64: distinct customers per state and category, count(DISTINCT) over a cross-engine join
SELECT ca_state, i_category, count(DISTINCT ss_customer_sk) AS customers, count(DISTINCT ss_ticket_number) AS tickets
FROM store_sales, customer, customer_address, item, date_dim
WHERE ss_customer_sk = c_customer_sk AND c_current_addr_sk = ca_address_sk AND ss_item_sk = i_item_sk
  AND ss_sold_date_sk = d_date_sk AND d_year = 2002 AND d_qoy = 4
GROUP BY ca_state, i_category
ORDER BY ca_state, i_category;

-- b65: string functions on MariaDB and SQLite columns, LIKE, CASE, GROUP BY an expression
SELECT upper(substr(w_warehouse_name, 1, 5)) AS wh, lower(i_units) AS units,
       CASE WHEN i_size LIKE '%large%' THEN 'big' ELSE 'other' END AS size_class, count(*) AS n,
       sum(inv_quantity_on_hand) AS qoh
FROM inventory, warehouse, item
WHERE inv_warehouse_sk = w_warehouse_sk AND inv_item_sk = i_item_sk AND w_warehouse_name LIKE '%i%'
  AND inv_date_sk BETWEEN 2451186 AND 2451300
GROUP BY wh, units, size_class
ORDER BY wh, units, size_class;

-- b66: HAVING with a scalar subquery (customers spending above the average ticket), EXISTS on returns
SELECT c_customer_id, c_last_name, spent
FROM (SELECT ss_customer_sk, sum(ss_net_paid) AS spent
      FROM store_sales, date_dim WHERE ss_sold_date_sk = d_date_sk AND d_year = 2000
      GROUP BY ss_customer_sk
      HAVING sum(ss_net_paid) > 10 * (SELECT avg(ss_net_paid) FROM store_sales)) AS big, customer
WHERE ss_customer_sk = c_customer_sk
  AND EXISTS (SELECT 1 FROM store_returns WHERE sr_customer_sk = c_customer_sk AND sr_return_amt > 500)
ORDER BY spent DESC, c_customer_id
LIMIT 100;

-- b67: ntile and dense_rank over customer spending per birth decade
SELECT decade, c_customer_id, spent, ntile(4) OVER (PARTITION BY decade ORDER BY spent, c_customer_id) AS quartile,
       dense_rank() OVER (PARTITION BY decade ORDER BY spent DESC) AS place
FROM (SELECT c_birth_year // 10 * 10 AS decade, c_customer_id, sum(ws_net_paid) AS spent
      FROM web_sales, customer, date_dim
      WHERE ws_bill_customer_sk = c_customer_sk AND ws_sold_date_sk = d_date_sk AND d_year = 2001
        AND c_birth_year IS NOT NULL
      GROUP BY decade, c_customer_id) AS s
ORDER BY decade, spent DESC, c_customer_id
LIMIT 100;

-- b68: UNION (distinct) of customer keys from three sources, counted by state
SELECT ca_state, count(*) AS customers
FROM (SELECT ss_customer_sk AS sk FROM store_sales, date_dim
      WHERE ss_sold_date_sk = d_date_sk AND d_year = 2002 AND d_moy = 12
      UNION
      SELECT ws_bill_customer_sk FROM web_sales, date_dim
      WHERE ws_sold_date_sk = d_date_sk AND d_year = 2002 AND d_moy = 12
      UNION
      SELECT sr_customer_sk FROM store_returns, date_dim
      WHERE sr_returned_date_sk = d_date_sk AND d_year = 2002 AND d_moy = 12) AS active, customer, customer_address
WHERE sk = c_customer_sk AND c_current_addr_sk = ca_address_sk
GROUP BY ca_state
ORDER BY ca_state;
