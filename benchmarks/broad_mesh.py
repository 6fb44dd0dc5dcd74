"""A decision-support star schema (TPC-DS-like) split across five engines, beside its one-file oracle.

    python benchmarks/broad_mesh.py --sf 0.1 [--out DIR] [--postgres URI] [--mysql URI]

``build(sf, out)`` makes (or reuses) everything below and returns a ``BroadMesh``::

    out/source/<table>.parquet     the generated tables (DuckDB SQL over range(): deterministic)
    out/oracle.duckdb              all 18 tables in one file: the oracle
    out/mesh/mesh.yaml             the descriptor of the split below
    out/mesh/data/sales.duckdb     sales:    store_sales, store_returns, web_sales       (DuckDB)
    PostgreSQL flightmesh_broad_sf<sf>  crm:  customer, customer_address,
                                   customer_demographics, household_demographics,
                                   income_band                                        (PostgreSQL)
    out/mesh/data/merch.sqlite     merch:    item, promotion, store, reason              (SQLite)
    MariaDB flightmesh_broad_sf<sf> stock:   inventory, warehouse, ship_mode, web_site   (MariaDB)
    out/mesh/data/calendar/        calendar: date_dim, time_dim                         (Parquet)

The schema follows the shape of TPC-DS (two sales facts, returns, a weekly inventory, dimensions
named and keyed as in the TPC-DS specification) but the data is our own: every value is an
arithmetic hash of the row number, so each build at one scale factor is identical. Row counts
scale like TPC-DS's: at SF 1 about 1.9 M store sales (TPC-DS: 2.9 M), 0.72 M web sales, 0.9 M inventory rows,
100 k customers and 18 k items; calendar, demographics and small dimensions are fixed.

Steps are stamped and skipped when done (like ``tpch_mesh.py``), written under temporary names
and renamed, and serialized by a folder lock; the databases carry the stamp in a comment.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402

from benchmarks.tpch_mesh import (  # noqa: E402
    READER,
    _folder_lock,
    _literal,
    _replace_text,
    _with,
    postgres_admin_uri,
    sf_tag,
)

LAYOUT = "flightmesh-broad-3"
DEFAULT_MYSQL = "mysql://root@127.0.0.1:3306"
D0 = 2450815                     # d_date_sk of 1998-01-01, as in TPC-DS (a Julian day number)

# Column types; the generators below produce exactly these columns in this order.
_M = "DECIMAL(7,2)"
SCHEMA: dict[str, tuple[tuple[str, str], ...]] = {
    "date_dim": (("d_date_sk", "BIGINT"), ("d_date", "DATE"), ("d_year", "INTEGER"), ("d_moy", "INTEGER"),
                 ("d_dom", "INTEGER"), ("d_qoy", "INTEGER"), ("d_dow", "INTEGER"), ("d_week_seq", "INTEGER"),
                 ("d_month_seq", "INTEGER"), ("d_day_name", "VARCHAR(9)"), ("d_quarter_name", "VARCHAR(6)"),
                 ("d_weekend", "VARCHAR(1)")),
    "time_dim": (("t_time_sk", "BIGINT"), ("t_hour", "INTEGER"), ("t_minute", "INTEGER"),
                 ("t_am_pm", "VARCHAR(2)"), ("t_shift", "VARCHAR(6)"), ("t_meal_time", "VARCHAR(9)")),
    "item": (("i_item_sk", "BIGINT"), ("i_item_id", "VARCHAR(16)"), ("i_current_price", _M),
             ("i_wholesale_cost", _M), ("i_brand_id", "INTEGER"), ("i_brand", "VARCHAR(30)"),
             ("i_class_id", "INTEGER"), ("i_class", "VARCHAR(20)"), ("i_category_id", "INTEGER"),
             ("i_category", "VARCHAR(20)"), ("i_manufact_id", "INTEGER"), ("i_manager_id", "INTEGER"),
             ("i_size", "VARCHAR(20)"), ("i_color", "VARCHAR(12)"), ("i_units", "VARCHAR(8)")),
    "customer_address": (("ca_address_sk", "BIGINT"), ("ca_city", "VARCHAR(20)"), ("ca_county", "VARCHAR(20)"),
                         ("ca_state", "VARCHAR(2)"), ("ca_zip", "VARCHAR(5)"), ("ca_country", "VARCHAR(13)"),
                         ("ca_gmt_offset", "DECIMAL(5,2)"), ("ca_location_type", "VARCHAR(15)")),
    "customer_demographics": (("cd_demo_sk", "BIGINT"), ("cd_gender", "VARCHAR(1)"),
                              ("cd_marital_status", "VARCHAR(1)"), ("cd_education_status", "VARCHAR(20)"),
                              ("cd_purchase_estimate", "INTEGER"), ("cd_credit_rating", "VARCHAR(10)"),
                              ("cd_dep_count", "INTEGER")),
    "household_demographics": (("hd_demo_sk", "BIGINT"), ("hd_income_band_sk", "BIGINT"),
                               ("hd_buy_potential", "VARCHAR(15)"), ("hd_dep_count", "INTEGER"),
                               ("hd_vehicle_count", "INTEGER")),
    "income_band": (("ib_income_band_sk", "BIGINT"), ("ib_lower_bound", "INTEGER"), ("ib_upper_bound", "INTEGER")),
    "customer": (("c_customer_sk", "BIGINT"), ("c_customer_id", "VARCHAR(16)"), ("c_current_cdemo_sk", "BIGINT"),
                 ("c_current_hdemo_sk", "BIGINT"), ("c_current_addr_sk", "BIGINT"), ("c_first_name", "VARCHAR(20)"),
                 ("c_last_name", "VARCHAR(30)"), ("c_preferred_cust_flag", "VARCHAR(1)"),
                 ("c_birth_year", "INTEGER"), ("c_birth_country", "VARCHAR(20)"), ("c_email_address", "VARCHAR(50)")),
    "store": (("s_store_sk", "BIGINT"), ("s_store_id", "VARCHAR(16)"), ("s_store_name", "VARCHAR(20)"),
              ("s_number_employees", "INTEGER"), ("s_floor_space", "INTEGER"), ("s_market_id", "INTEGER"),
              ("s_city", "VARCHAR(20)"), ("s_county", "VARCHAR(20)"), ("s_state", "VARCHAR(2)"),
              ("s_gmt_offset", "DECIMAL(5,2)"), ("s_company_name", "VARCHAR(10)")),
    "promotion": (("p_promo_sk", "BIGINT"), ("p_promo_id", "VARCHAR(16)"), ("p_promo_name", "VARCHAR(20)"),
                  ("p_cost", "DECIMAL(15,2)"), ("p_channel_email", "VARCHAR(1)"), ("p_channel_tv", "VARCHAR(1)"),
                  ("p_channel_event", "VARCHAR(1)"), ("p_response_target", "INTEGER")),
    "reason": (("r_reason_sk", "BIGINT"), ("r_reason_desc", "VARCHAR(40)")),
    "warehouse": (("w_warehouse_sk", "BIGINT"), ("w_warehouse_name", "VARCHAR(20)"),
                  ("w_warehouse_sq_ft", "INTEGER"), ("w_city", "VARCHAR(20)"), ("w_state", "VARCHAR(2)")),
    "ship_mode": (("sm_ship_mode_sk", "BIGINT"), ("sm_type", "VARCHAR(30)"), ("sm_code", "VARCHAR(10)"),
                  ("sm_carrier", "VARCHAR(20)")),
    "web_site": (("web_site_sk", "BIGINT"), ("web_site_id", "VARCHAR(16)"), ("web_name", "VARCHAR(50)"),
                 ("web_class", "VARCHAR(50)"), ("web_state", "VARCHAR(2)"), ("web_company_name", "VARCHAR(10)")),
    "store_sales": (("ss_sold_date_sk", "BIGINT"), ("ss_sold_time_sk", "BIGINT"), ("ss_item_sk", "BIGINT"),
                    ("ss_customer_sk", "BIGINT"), ("ss_cdemo_sk", "BIGINT"), ("ss_hdemo_sk", "BIGINT"),
                    ("ss_addr_sk", "BIGINT"), ("ss_store_sk", "BIGINT"), ("ss_promo_sk", "BIGINT"),
                    ("ss_ticket_number", "BIGINT"), ("ss_quantity", "INTEGER"), ("ss_wholesale_cost", _M),
                    ("ss_list_price", _M), ("ss_sales_price", _M), ("ss_ext_discount_amt", _M),
                    ("ss_ext_sales_price", _M), ("ss_ext_wholesale_cost", _M), ("ss_ext_list_price", _M),
                    ("ss_coupon_amt", _M), ("ss_net_paid", _M), ("ss_net_profit", _M)),
    "store_returns": (("sr_returned_date_sk", "BIGINT"), ("sr_item_sk", "BIGINT"), ("sr_customer_sk", "BIGINT"),
                      ("sr_store_sk", "BIGINT"), ("sr_reason_sk", "BIGINT"), ("sr_ticket_number", "BIGINT"),
                      ("sr_return_quantity", "INTEGER"), ("sr_return_amt", _M), ("sr_net_loss", _M)),
    "web_sales": (("ws_sold_date_sk", "BIGINT"), ("ws_sold_time_sk", "BIGINT"), ("ws_ship_date_sk", "BIGINT"),
                  ("ws_item_sk", "BIGINT"), ("ws_bill_customer_sk", "BIGINT"), ("ws_bill_addr_sk", "BIGINT"),
                  ("ws_web_site_sk", "BIGINT"), ("ws_ship_mode_sk", "BIGINT"), ("ws_warehouse_sk", "BIGINT"),
                  ("ws_promo_sk", "BIGINT"), ("ws_order_number", "BIGINT"), ("ws_quantity", "INTEGER"),
                  ("ws_list_price", _M), ("ws_sales_price", _M), ("ws_ext_sales_price", _M),
                  ("ws_ext_ship_cost", _M), ("ws_net_paid", _M), ("ws_net_profit", _M)),
    "inventory": (("inv_date_sk", "BIGINT"), ("inv_item_sk", "BIGINT"), ("inv_warehouse_sk", "BIGINT"),
                  ("inv_quantity_on_hand", "INTEGER")),
}
TABLES = tuple(SCHEMA)
# Columns that may be NULL (a few percent, as TPC-DS's foreign keys are); every other is NOT NULL.
NULLABLE = {"ss_customer_sk", "ss_promo_sk", "ss_hdemo_sk", "ws_promo_sk", "inv_quantity_on_hand",
            "sr_reason_sk", "sr_customer_sk", "c_birth_year", "t_meal_time", "ca_county"}
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "date_dim": ("d_date_sk",), "time_dim": ("t_time_sk",), "item": ("i_item_sk",),
    "customer_address": ("ca_address_sk",), "customer_demographics": ("cd_demo_sk",),
    "household_demographics": ("hd_demo_sk",), "income_band": ("ib_income_band_sk",),
    "customer": ("c_customer_sk",), "store": ("s_store_sk",), "promotion": ("p_promo_sk",),
    "reason": ("r_reason_sk",), "warehouse": ("w_warehouse_sk",), "ship_mode": ("sm_ship_mode_sk",),
    "web_site": ("web_site_sk",), "inventory": ("inv_date_sk", "inv_item_sk", "inv_warehouse_sk"),
}
# Foreign keys the row stores (PostgreSQL, MariaDB) index besides their primary keys, as an owner
# of such a table would (tpch_mesh does the same); DuckDB and Parquet have no such indexes.
FOREIGN_KEYS: dict[str, tuple[str, ...]] = {
    "customer": ("c_current_addr_sk", "c_current_cdemo_sk", "c_current_hdemo_sk"),
    "household_demographics": ("hd_income_band_sk",), "inventory": ("inv_item_sk", "inv_warehouse_sk"),
}


@dataclass(frozen=True)
class Product:
    name: str
    kind: str
    tables: tuple[str, ...]
    description: str


PRODUCTS: tuple[Product, ...] = (
    Product("sales", "duckdb", ("store_sales", "store_returns", "web_sales"),
            "Store and web sales line items and store returns"),
    Product("crm", "postgresql", ("customer", "customer_address", "customer_demographics",
                                  "household_demographics", "income_band"),
            "Customers, their addresses and demographics"),
    Product("merch", "sqlite", ("item", "promotion", "store", "reason"),
            "The item catalogue, promotions, stores and return reasons"),
    Product("stock", "mysql", ("inventory", "warehouse", "ship_mode", "web_site"),
            "Weekly inventory per warehouse, shipping modes and web sites"),
    Product("calendar", "parquet", ("date_dim", "time_dim"), "Calendar days and times of day"),
)
HOME: dict[str, str] = {table: product.name for product in PRODUCTS for table in product.tables}
USERS: dict[str, str] = {"analyst": "analyst-broad"}


def scale(sf: float) -> dict[str, int]:
    """Row counts of the tables that grow with the scale factor."""
    return {"item": max(100, round(18000 * sf)), "customer": max(500, round(100000 * sf)),
            "customer_address": max(250, round(50000 * sf)), "tickets": max(300, round(288000 * sf)),
            "orders": max(150, round(144000 * sf))}


# -- generation: DuckDB SQL over range(), every "random" value an arithmetic hash -----------------

_MACROS = (
    # rnd(i, s, n): a value in [0, n) from row i and salt s: a 32-bit integer hash (xor-shift,
    # multiply, twice). Multiplications alone would be linear in i, and a linear sequence taken
    # modulo a small n can hit only a few values.
    "CREATE OR REPLACE MACRO mix(h) AS (xor(h >> 16, h) * 73244475) % 4294967296",
    "CREATE OR REPLACE MACRO rnd(i, s, n) AS "
    "xor(mix(mix((i + s * 1000003) % 4294967296)) >> 16, mix(mix((i + s * 1000003) % 4294967296))) % n",
    "CREATE OR REPLACE MACRO pick(i, s, xs) AS xs[1 + rnd(i, s, len(xs))]",
    "CREATE OR REPLACE MACRO money(cents) AS CAST(cents / 100.0 AS DECIMAL(7,2))",
)
_STATES = ("['TX','TX','TX','CA','CA','GA','GA','NC','VA','KY','TN','OH','IL','MI','IA','MO','IN','MN','WI',"
           "'NE','KS','OK','SD','ND','MT','WV','PA','NY','FL','AL','MS','AR','LA','CO','OR','WA','ID','UT']")
_CITIES = ("['Midway','Fairview','Oak Grove','Five Points','Pleasant Hill','Riverside','Centerville','Liberty',"
           "'Greenwood','Salem','Union','Mount Zion','Glendale','Springfield','Clinton','Lakeside']")
_COUNTIES = ("['Williamson County','Ziebach County','Walker County','Daviess County','Barrow County',"
             "'Franklin Parish','Bronx County','Luce County','Richland County','Jackson County']")
_CATEGORIES = "['Books','Children','Electronics','Home','Jewelry','Men','Music','Shoes','Sports','Women']"
_CLASSES = ("['accessories','athletic','classical','country','dresses','fiction','football','fragrances',"
            "'infants','kids','mystery','pants','pop','portable','rock','shirts','swimwear','toddlers']")
_COLORS = ("['almond','antique','aquamarine','beige','black','blue','burnished','chiffon','coral','cream',"
           "'dim','firebrick','ghost','green','khaki','lace','lavender','maroon','navy','orchid','peach',"
           "'plum','powder','purple','red','saddle','slate','spring','tan','white','yellow']")

_D_ALL = 2191                    # 1998-01-01 .. 2003-12-31
_D_SALES = 1826                  # sales on 1998-01-01 .. 2002-12-31


def _generators(sf: float) -> dict[str, str]:
    n = scale(sf)
    items, customers, addresses = n["item"], n["customer"], n["customer_address"]
    return {
        "date_dim": f"""
            SELECT {D0} + i AS d_date_sk, d AS d_date, year(d) AS d_year, month(d) AS d_moy, day(d) AS d_dom,
                   quarter(d) AS d_qoy, dayofweek(d) AS d_dow, CAST(i // 7 + 5114 AS INTEGER) AS d_week_seq,
                   CAST((year(d) - 1998) * 12 + month(d) + 1175 AS INTEGER) AS d_month_seq,
                   dayname(d) AS d_day_name, CAST(year(d) AS VARCHAR) || 'Q' || quarter(d) AS d_quarter_name,
                   CASE WHEN dayofweek(d) IN (0, 6) THEN 'Y' ELSE 'N' END AS d_weekend
            FROM (SELECT range AS i, DATE '1998-01-01' + CAST(range AS INTEGER) AS d FROM range({_D_ALL}))""",
        "time_dim": """
            SELECT i * 60 AS t_time_sk, i // 60 AS t_hour, i % 60 AS t_minute,
                   CASE WHEN i < 720 THEN 'AM' ELSE 'PM' END AS t_am_pm,
                   CASE WHEN i < 480 THEN 'third' WHEN i < 960 THEN 'first' ELSE 'second' END AS t_shift,
                   CASE WHEN i // 60 BETWEEN 6 AND 9 THEN 'breakfast' WHEN i // 60 BETWEEN 11 AND 13 THEN 'lunch'
                        WHEN i // 60 BETWEEN 17 AND 20 THEN 'dinner' END AS t_meal_time
            FROM (SELECT CAST(range AS INTEGER) AS i FROM range(1440))""",
        "item": f"""
            SELECT i AS i_item_sk, 'AAAAAAAA' || lpad(CAST(i // 2 AS VARCHAR), 8, '0') AS i_item_id,
                   money(100 + rnd(i, 1, 9900)) AS i_current_price,
                   money(50 + rnd(i, 1, 9900) // 2) AS i_wholesale_cost,
                   CAST(cat * 1000000 + 1000 * cls + rnd(i, 3, 9) + 1 AS INTEGER) AS i_brand_id,
                   lower(pick(i, 2, {_CATEGORIES})) || pick(i, 4, ['corp','brand','exporti','importo','amalg',
                       'edu packscholar','univ','maxi','scholaramalg'])
                       || ' #' || (rnd(i, 3, 9) + 1) AS i_brand,
                   CAST(cls AS INTEGER) AS i_class_id, ({_CLASSES})[cls] AS i_class,
                   CAST(cat AS INTEGER) AS i_category_id, ({_CATEGORIES})[cat] AS i_category,
                   CAST(1 + rnd(i, 5, 1000) AS INTEGER) AS i_manufact_id,
                   CAST(1 + rnd(i, 6, 100) AS INTEGER) AS i_manager_id,
                   pick(i, 7, ['petite','small','medium','large','extra large','economy','N/A']) AS i_size,
                   pick(i, 8, {_COLORS}) AS i_color,
                   pick(i, 9, ['Each','Dozen','Case','Pallet','Gross','Box','Pound','Ounce','Unknown']) AS i_units
            FROM (SELECT range AS i, 1 + rnd(range, 2, 10) AS cat, 1 + rnd(range, 10, 18) AS cls
                  FROM range(1, {items + 1}))""",
        "customer_address": f"""
            SELECT i AS ca_address_sk, pick(i, 11, {_CITIES}) AS ca_city,
                   CASE WHEN rnd(i, 12, 50) = 0 THEN NULL ELSE pick(i, 13, {_COUNTIES}) END AS ca_county,
                   pick(i, 14, {_STATES}) AS ca_state, lpad(CAST(rnd(i, 15, 99999) AS VARCHAR), 5, '0') AS ca_zip,
                   'United States' AS ca_country, CAST(-5 - rnd(i, 16, 4) AS DECIMAL(5,2)) AS ca_gmt_offset,
                   pick(i, 17, ['apartment','condo','single family']) AS ca_location_type
            FROM range(1, {addresses + 1}) AS t(i)""",
        "customer_demographics": """
            SELECT i + 1 AS cd_demo_sk, ['M','F'][1 + i % 2] AS cd_gender,
                   ['M','S','D','W','U'][1 + (i // 2) % 5] AS cd_marital_status,
                   ['Primary','Secondary','College','2 yr Degree','4 yr Degree','Advanced Degree','Unknown']
                       [1 + (i // 10) % 7] AS cd_education_status,
                   CAST(500 + 500 * ((i // 70) % 20) AS INTEGER) AS cd_purchase_estimate,
                   ['Good','High Risk','Low Risk','Unknown'][1 + (i // 1400) % 4] AS cd_credit_rating,
                   CAST((i // 5600) % 7 AS INTEGER) AS cd_dep_count
            FROM range(39200) AS t(i)""",
        "household_demographics": """
            SELECT i + 1 AS hd_demo_sk, 1 + i % 20 AS hd_income_band_sk,
                   ['0-500','501-1000','1001-5000','5001-10000','>10000','Unknown'][1 + (i // 20) % 6]
                       AS hd_buy_potential,
                   CAST((i // 120) % 10 AS INTEGER) AS hd_dep_count,
                   CAST((i // 1200) % 6 - 1 AS INTEGER) AS hd_vehicle_count
            FROM range(7200) AS t(i)""",
        "income_band": """
            SELECT i + 1 AS ib_income_band_sk, CAST(i * 10000 + CASE WHEN i = 0 THEN 0 ELSE 1 END AS INTEGER)
                       AS ib_lower_bound, CAST((i + 1) * 10000 AS INTEGER) AS ib_upper_bound
            FROM range(20) AS t(i)""",
        "customer": f"""
            SELECT i AS c_customer_sk, 'AAAAAAAA' || lpad(CAST(i AS VARCHAR), 8, '0') AS c_customer_id,
                   1 + rnd(i, 18, 39200) AS c_current_cdemo_sk, 1 + rnd(i, 19, 7200) AS c_current_hdemo_sk,
                   1 + rnd(i, 20, {addresses}) AS c_current_addr_sk,
                   pick(i, 21, ['James','Mary','John','Linda','Robert','Maria','David','Susan','Jose','Karen',
                                'Daniel','Nancy','Paul','Lisa','Mark','Betty']) AS c_first_name,
                   pick(i, 22, ['Smith','Johnson','Williams','Brown','Jones','Garcia','Miller','Davis','Lopez',
                                'Wilson','Moore','Taylor','Thomas','White','Harris','Clark','Lewis']) AS c_last_name,
                   CASE WHEN rnd(i, 23, 2) = 0 THEN 'Y' ELSE 'N' END AS c_preferred_cust_flag,
                   CASE WHEN rnd(i, 24, 30) = 0 THEN NULL
                        ELSE CAST(1924 + rnd(i, 25, 69) AS INTEGER) END AS c_birth_year,
                   pick(i, 26, ['UNITED STATES','CANADA','MEXICO','GERMANY','FRANCE','JAPAN','BRAZIL','INDIA',
                                'CHINA','NIGERIA']) AS c_birth_country,
                   'c' || i || '@example.org' AS c_email_address
            FROM range(1, {customers + 1}) AS t(i)""",
        "store": f"""
            SELECT i AS s_store_sk, 'AAAAAAAA' || lpad(CAST(i AS VARCHAR), 8, '0') AS s_store_id,
                   ['ought','able','pri','ese','anti','cally','ation','eing','bar','n st','ought','able']
                       [i] AS s_store_name,
                   CAST(200 + rnd(i, 27, 100) AS INTEGER) AS s_number_employees,
                   CAST(5000000 + rnd(i, 28, 5000000) AS INTEGER) AS s_floor_space,
                   CAST(1 + rnd(i, 29, 10) AS INTEGER) AS s_market_id, ({_CITIES})[1 + i % 4] AS s_city,
                   ({_COUNTIES})[1 + i % 3] AS s_county,
                   ['TN','TN','TN','GA','GA','KY','TX','TX','SD','AL','NC','OH'][i] AS s_state,
                   CAST(-5 - i % 2 AS DECIMAL(5,2)) AS s_gmt_offset, 'Unknown' AS s_company_name
            FROM range(1, 13) AS t(i)""",
        "promotion": """
            SELECT i AS p_promo_sk, 'AAAAAAAA' || lpad(CAST(i AS VARCHAR), 8, '0') AS p_promo_id,
                   pick(i, 30, ['ought','able','pri','ese','anti','cally','ation','eing','bar']) AS p_promo_name,
                   CAST(1000 AS DECIMAL(15,2)) AS p_cost,
                   CASE WHEN rnd(i, 31, 2) = 0 THEN 'Y' ELSE 'N' END AS p_channel_email,
                   CASE WHEN rnd(i, 32, 2) = 0 THEN 'Y' ELSE 'N' END AS p_channel_tv,
                   CASE WHEN rnd(i, 33, 3) = 0 THEN 'Y' ELSE 'N' END AS p_channel_event, 1 AS p_response_target
            FROM range(1, 301) AS t(i)""",
        "reason": """
            SELECT i AS r_reason_sk,
                   ['Package was damaged','Stopped working','Did not get it on time','Not the product that was ordred',
                    'Parts missing','Does not work with a product that I have','Gift exchange','Did not like the color',
                    'Did not like the model','Did not like the make','Did not like the warranty','No service location',
                    'Found a better price in a store','Found a better extended warranty','Not working any more',
                    'unauthoized purchase','duplicate purchase','its is a boy','its is a girl','reason 20',
                    'reason 21','reason 22','reason 23','reason 24','reason 25','reason 26','reason 27',
                    'reason 28','reason 29','reason 30','reason 31','reason 32','reason 33','reason 34',
                    'reason 35'][i] AS r_reason_desc
            FROM range(1, 36) AS t(i)""",
        "warehouse": """
            SELECT i AS w_warehouse_sk, ['Conventional childr','Important issues liv','Doors canno',
                   'Bad cards must make.','Operations'][i] AS w_warehouse_name,
                   CAST(100000 * i + rnd(i, 34, 90000) AS INTEGER) AS w_warehouse_sq_ft,
                   ['Fairview','Fairview','Midway','Oak Grove','Riverside'][i] AS w_city,
                   ['SD','TN','TN','GA','AL'][i] AS w_state
            FROM range(1, 6) AS t(i)""",
        "ship_mode": """
            SELECT i AS sm_ship_mode_sk,
                   ['EXPRESS','LIBRARY','NEXT DAY','OVERNIGHT','REGULAR','TWO DAY'][1 + i % 6] AS sm_type,
                   ['AIR','SURFACE','SEA','BIKE'][1 + i % 4] AS sm_code,
                   ['UPS','FEDEX','AIRBORNE','USPS','DHL','TBS','ZHOU','ZOUROS','MSC','LATVIAN','ALLIANCE',
                    'ORIENTAL','BARIAN','BOXBUNDLES','GREAT EASTERN','DIAMOND','RUPEKSA','GERMA','HARMSTORF',
                    'PRIVATECARRIER'][i] AS sm_carrier
            FROM range(1, 21) AS t(i)""",
        "web_site": """
            SELECT i AS web_site_sk, 'AAAAAAAA' || lpad(CAST(i AS VARCHAR), 8, '0') AS web_site_id,
                   'site_' || (i % 6) AS web_name, pick(i, 35, ['Unknown','large','medium','small']) AS web_class,
                   pick(i, 36, ['TN','GA','SD','AL','KY']) AS web_state,
                   pick(i, 37, ['pri','able','ought','ese','anti','cally']) AS web_company_name
            FROM range(1, 31) AS t(i)""",
        # Tickets of 1-12 line items: the ticket fixes day, time, customer, store and so on.
        "store_sales": f"""
            WITH tickets AS (
                SELECT t, {D0} + rnd(t, 40, {_D_SALES}) AS day, rnd(t, 41, 1440) * 60 AS tod,
                       CASE WHEN rnd(t, 42, 50) = 0 THEN NULL ELSE 1 + rnd(t, 43, {customers}) END AS cust,
                       1 + rnd(t, 44, 39200) AS cdemo,
                       CASE WHEN rnd(t, 45, 40) = 0 THEN NULL ELSE 1 + rnd(t, 46, 7200) END AS hdemo,
                       1 + rnd(t, 47, {addresses}) AS addr, 1 + rnd(t, 48, 12) AS store, 1 + rnd(t, 49, 12) AS lines
                FROM range(1, {n["tickets"] + 1}) AS r(t)),
            lines AS (
                SELECT tk.*, l, 1 + rnd(t * 16 + l, 50, {items}) AS item,
                       CASE WHEN rnd(t * 16 + l, 51, 30) = 0 THEN NULL ELSE 1 + rnd(t * 16 + l, 52, 300) END AS promo,
                       CAST(1 + rnd(t * 16 + l, 53, 100) AS INTEGER) AS qty, 100 + rnd(t * 16 + l, 54, 9900) AS wc,
                       rnd(t * 16 + l, 55, 100) AS markup, rnd(t * 16 + l, 56, 100) AS disc,
                       CASE WHEN rnd(t * 16 + l, 57, 5) = 0 THEN rnd(t * 16 + l, 58, 50) ELSE 0 END AS coupon
                FROM tickets AS tk, range(1, 13) AS g(l) WHERE l <= tk.lines),
            priced AS (
                SELECT *, wc + wc * markup // 100 AS lp, (wc + wc * markup // 100) * (100 - disc) // 100 AS sp
                FROM lines)
            SELECT day, tod, item, cust, cdemo, hdemo, addr, store, promo, t, qty, money(wc), money(lp), money(sp),
                   money(qty * (lp - sp)), money(qty * sp), money(qty * wc), money(qty * lp),
                   money(qty * sp * coupon // 100), money(qty * sp - qty * sp * coupon // 100),
                   money(qty * sp - qty * sp * coupon // 100 - qty * wc)
            FROM priced""",
        "web_sales": f"""
            WITH orders AS (
                SELECT o, {D0} + rnd(o, 60, {_D_SALES}) AS day, rnd(o, 61, 1440) * 60 AS tod,
                       1 + rnd(o, 62, {customers}) AS cust, 1 + rnd(o, 63, {addresses}) AS addr,
                       1 + rnd(o, 64, 30) AS site, 1 + rnd(o, 65, 20) AS mode, 1 + rnd(o, 66, 5) AS wh,
                       1 + rnd(o, 67, 9) AS lines, 1 + rnd(o, 68, 120) AS ship_days
                FROM range(1, {n["orders"] + 1}) AS r(o)),
            lines AS (
                SELECT od.*, l, 1 + rnd(o * 16 + l, 70, {items}) AS item,
                       CASE WHEN rnd(o * 16 + l, 71, 30) = 0 THEN NULL ELSE 1 + rnd(o * 16 + l, 72, 300) END AS promo,
                       CAST(1 + rnd(o * 16 + l, 73, 100) AS INTEGER) AS qty, 100 + rnd(o * 16 + l, 74, 9900) AS wc,
                       rnd(o * 16 + l, 75, 100) AS markup, rnd(o * 16 + l, 76, 100) AS disc,
                       rnd(o * 16 + l, 77, 900) AS ship
                FROM orders AS od, range(1, 10) AS g(l) WHERE l <= od.lines),
            priced AS (
                SELECT *, wc + wc * markup // 100 AS lp, (wc + wc * markup // 100) * (100 - disc) // 100 AS sp
                FROM lines)
            SELECT day, tod, day + ship_days, item, cust, addr, site, mode, wh, promo, o, qty, money(lp), money(sp),
                   money(qty * sp), money(qty * ship), money(qty * sp), money(qty * sp - qty * wc)
            FROM priced""",
        # Weekly snapshots (every fourth Thursday from 1999-01-07), every item in every warehouse.
        "inventory": f"""
            SELECT {D0} + 371 + 28 * w AS inv_date_sk, i AS inv_item_sk, h AS inv_warehouse_sk,
                   CASE WHEN rnd(i * 64 + w * 5 + h, 80, 100) = 0 THEN NULL
                        ELSE CAST(rnd(i * 64 + w * 5 + h, 81, 1000) AS INTEGER) END AS inv_quantity_on_hand
            FROM range(10) AS a(w), range(1, {items + 1}) AS b(i), range(1, 6) AS c(h)""",
    }


def _returns_from(sales: str) -> str:
    """store_returns: one line in ten of store_sales, returned within 60 days of the sale."""
    return f"""
        SELECT ss_sold_date_sk + 1 + rnd(ss_ticket_number * 16 + ss_item_sk, 90, 60), ss_item_sk, ss_customer_sk,
               ss_store_sk, CASE WHEN rnd(ss_ticket_number * 16 + ss_item_sk, 91, 20) = 0 THEN NULL
                                 ELSE 1 + rnd(ss_ticket_number * 16 + ss_item_sk, 92, 35) END,
               ss_ticket_number, CAST(1 + rnd(ss_ticket_number * 16 + ss_item_sk, 93, ss_quantity) AS INTEGER) AS q,
               CAST(ss_sales_price * q AS DECIMAL(7,2)), CAST(ss_wholesale_cost * q / 2 AS DECIMAL(7,2))
        FROM {sales} WHERE rnd(ss_ticket_number * 16 + ss_item_sk, 94, 10) = 0"""


def _typed(table: str, select: str) -> str:
    """``select`` with its columns cast to the schema's types and named as the schema names them."""
    names = [name for name, _ in SCHEMA[table]]
    columns = ", ".join(f"CAST(c{i} AS {kind}) AS {name}" for i, (name, kind) in enumerate(SCHEMA[table]))
    aliases = ", ".join(f"c{i}" for i in range(len(names)))
    return f"SELECT {columns} FROM ({select}) AS g({aliases})"


def _generate(sf: float, target: Path) -> None:
    partial = target.with_name(target.name + ".partial")
    if partial.exists():
        for file in partial.iterdir():
            file.unlink()
    partial.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(duckdb.connect()) as connection:
        for macro in _MACROS:
            connection.execute(macro)
        generators = _generators(sf)
        for table in TABLES:
            select = _returns_from(_parquet(partial, "store_sales")) if table == "store_returns" else generators[table]
            connection.execute(f"COPY ({_typed(table, select)}) TO '{partial / table}.parquet' (FORMAT parquet)")
    if target.exists():
        for file in target.iterdir():
            file.unlink()
        target.rmdir()
    partial.rename(target)


def _parquet(folder: Path, table: str) -> str:
    return "read_parquet('" + str(folder / f"{table}.parquet").replace("'", "''") + "')"


# -- the engines ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BroadMesh:
    sf: float
    root: Path
    source: Path
    oracle: Path
    descriptor: Path
    users: Mapping[str, str] = field(default_factory=dict)
    timings: Mapping[str, float] = field(default_factory=dict)

    def connect_oracle(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.oracle), read_only=True)


def _columns(table: str, kinds: Callable[[str], str] = lambda kind: kind) -> str:
    return ", ".join(f"{name} {kinds(kind)}{'' if name in NULLABLE else ' NOT NULL'}" for name, kind in SCHEMA[table])


def _write_duckdb(path: Path, tables: tuple[str, ...], source: Path) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    with contextlib.closing(duckdb.connect(str(partial))) as connection:
        for table in tables:
            connection.execute(f"CREATE TABLE {table} ({_columns(table)})")
            connection.execute(f"INSERT INTO {table} SELECT * FROM {_parquet(source, table)}")
        connection.execute("CHECKPOINT")
    partial.rename(path)


def _arrow(source: Path, table: str) -> pa.Table:
    with contextlib.closing(duckdb.connect()) as connection:
        return connection.sql(f"SELECT * FROM {_parquet(source, table)}").to_arrow_table()


def _write_sqlite(path: Path, tables: tuple[str, ...], source: Path) -> None:
    import adbc_driver_sqlite.dbapi as adbc_sqlite

    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    # As tpch_mesh: INTEGER keys (a lone INTEGER PRIMARY KEY is the rowid), money as REAL, which is
    # what a DECIMAL column stores in SQLite; dates as ISO text.
    with (
        contextlib.closing(adbc_sqlite.connect(str(partial), autocommit=True)) as connection,
        contextlib.closing(connection.cursor()) as cursor,
    ):
        cursor.execute("PRAGMA journal_mode = OFF")
        for table in tables:
            key = PRIMARY_KEYS.get(table, ())
            columns = [f"{name} {'INTEGER' if kind == 'BIGINT' else kind}"
                       + ("" if name in NULLABLE else " NOT NULL")
                       + (" PRIMARY KEY" if key == (name,) else "") for name, kind in SCHEMA[table]]
            cursor.execute(f"CREATE TABLE {table} ({', '.join(columns)})")
            rows = _arrow(source, table)
            rows = rows.cast(pa.schema([pa.field(f.name, pa.float64() if pa.types.is_decimal(f.type) else f.type)
                                        for f in rows.schema]))
            cursor.adbc_ingest(table, rows, mode="append")
        cursor.execute("ANALYZE")
    partial.rename(path)


def _write_parquet(folder: Path, tables: tuple[str, ...], source: Path) -> None:
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    for table in tables:
        pq.write_table(_arrow(source, table), folder / f"{table}.parquet")


def _load_postgres(sf: float, source: Path, admin: str, database: str) -> bool:
    import adbc_driver_postgresql.dbapi as adbc_pg

    stamp = f"{LAYOUT} sf={sf:g}"
    with (
        contextlib.closing(adbc_pg.connect(admin, autocommit=True)) as connection,
        contextlib.closing(connection.cursor()) as cursor,
    ):
        cursor.execute("SELECT pg_advisory_lock(112109098114111097)")   # "fmbroa"
        cursor.fetchall()
        try:
            cursor.execute(f"SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                           f"WHERE datname = {_literal(database)}")
            found = cursor.fetchall()
            if found and found[0][0] == stamp:
                return False
            cursor.execute(f"SELECT 1 FROM pg_roles WHERE rolname = {_literal(READER)}")
            if not cursor.fetchall():
                cursor.execute(f"CREATE ROLE {READER} LOGIN PASSWORD {_literal(READER)}")
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{database}"')
            uri = _with(admin, database=database)
            with (
                contextlib.closing(adbc_pg.connect(uri)) as target,
                contextlib.closing(target.cursor()) as load,
            ):
                for table in HOME_TABLES["crm"]:
                    load.execute(f"CREATE TABLE {table} ({_columns(table)})")
                    load.adbc_ingest(table, _arrow(source, table), mode="append")
                    load.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({', '.join(PRIMARY_KEYS[table])})")
                    for column in FOREIGN_KEYS.get(table, ()):
                        load.execute(f"CREATE INDEX {table}_{column} ON {table} ({column})")
                load.execute(f"GRANT USAGE ON SCHEMA public TO {READER}")
                load.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER}")
                target.commit()
            with (
                contextlib.closing(adbc_pg.connect(uri, autocommit=True)) as target,
                contextlib.closing(target.cursor()) as load,
            ):
                load.execute("ANALYZE")
            cursor.execute(f'GRANT CONNECT ON DATABASE "{database}" TO {READER}')
            cursor.execute(f'COMMENT ON DATABASE "{database}" IS {_literal(stamp)}')
        finally:
            cursor.execute("SELECT pg_advisory_unlock(112109098114111097)")
            cursor.fetchall()
    return True


def _mysql_kind(kind: str) -> str:
    return "BIGINT" if kind == "BIGINT" else kind


def _load_mysql(sf: float, source: Path, admin: str, database: str) -> bool:
    """The stock product in MariaDB, bulk-loaded from CSV with LOAD DATA LOCAL INFILE."""
    import tempfile

    import pymysql

    parts = urlsplit(admin)
    stamp = f"{LAYOUT} sf={sf:g}"
    connection = pymysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                                 user=parts.username or "root", password=parts.password or "",
                                 autocommit=True, local_infile=True)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT GET_LOCK('flightmesh_broad', 3600)")
            try:
                cursor.execute("SELECT SCHEMA_COMMENT FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                               (database,))
                found = cursor.fetchall()
                if found and found[0][0] == stamp:
                    return False
                cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
                cursor.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
                for table in HOME_TABLES["stock"]:
                    key = ", ".join(PRIMARY_KEYS[table])
                    cursor.execute(f"CREATE TABLE `{database}`.{table} ({_columns(table, _mysql_kind)}, "
                                   f"PRIMARY KEY ({key}))")
                    with tempfile.NamedTemporaryFile(suffix=".csv") as csv, \
                            contextlib.closing(duckdb.connect()) as duck:
                        duck.execute(f"COPY (SELECT * FROM {_parquet(source, table)}) TO '{csv.name}' "
                                     "(FORMAT csv, HEADER false, NULLSTR '\\N')")
                        cursor.execute(f"LOAD DATA LOCAL INFILE '{csv.name}' INTO TABLE `{database}`.{table} "
                                       "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' "
                                       "LINES TERMINATED BY '\\n'")
                    for column in FOREIGN_KEYS.get(table, ()):
                        cursor.execute(f"CREATE INDEX {table}_{column} ON `{database}`.{table} ({column})")
                    cursor.execute(f"ANALYZE TABLE `{database}`.{table}")
                    cursor.fetchall()
                cursor.execute(f"ALTER DATABASE `{database}` COMMENT = {_literal(stamp)}")
            finally:
                cursor.execute("SELECT RELEASE_LOCK('flightmesh_broad')")
    finally:
        connection.close()
    return True


def _mysql_reader(admin: str, database: str) -> None:
    """The read-only account the mesh uses for the stock product (made on every build: cheap)."""
    import pymysql

    parts = urlsplit(admin)
    connection = pymysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                                 user=parts.username or "root", password=parts.password or "", autocommit=True)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE USER IF NOT EXISTS '{READER}'@'%' IDENTIFIED BY {_literal(READER)}")
            cursor.execute(f"GRANT SELECT ON `{database}`.* TO '{READER}'@'%'")
    finally:
        connection.close()


HOME_TABLES: dict[str, tuple[str, ...]] = {product.name: product.tables for product in PRODUCTS}


def _descriptor(sf: float, postgres_uri: str, mysql_uri: str) -> str:
    import yaml

    engines: dict[str, dict[str, Any]] = {
        "sales": {"kind": "duckdb", "path": "data/sales.duckdb"},
        "crm": {"kind": "postgresql", "uri": _with(postgres_uri, password=""), "password": READER},
        "merch": {"kind": "sqlite", "path": "data/merch.sqlite"},
        "stock": {"kind": "mysql", "uri": mysql_uri, "password": READER},
        "calendar": {"kind": "parquet", "path": "data/calendar"},
    }
    products = {
        product.name: {"domain": product.name, "owner": f"{product.name}-team@broad.example",
                       "description": product.description, "engine": engines[product.name],
                       "tables": {table: {} for table in product.tables}, "access": {"read": ["analyst"]}}
        for product in PRODUCTS
    }
    document = {
        "mesh": {"name": "broad", "sql_dialect": "duckdb",
                 "description": f"A TPC-DS-like star schema at scale factor {sf:g}, split across five engines"},
        "products": products,
        "users": {name: {"password": password, "roles": ["analyst"]} for name, password in USERS.items()},
        # A blow-up is reported as a timeout, not waited for.
        "settings": {"query_timeout_seconds": 60},
    }
    header = f"# Written by benchmarks/broad_mesh.py ({LAYOUT}, SF {sf:g}); rebuilt on demand, edits are lost.\n"
    return header + str(yaml.safe_dump(document, sort_keys=False, width=110))


def _stamp_value(sf: float) -> str:
    return json.dumps({"layout": LAYOUT, "sf": f"{sf:g}"})


def _done(out: Path, step: str, sf: float) -> bool:
    path = out / f".{step}.done"
    return path.is_file() and path.read_text() == _stamp_value(sf)


def _timed(timings: dict[str, float], step: str, run: Callable[[], object]) -> None:
    started = time.perf_counter()
    if run() is not False:
        timings[step] = time.perf_counter() - started


def build(sf: float, out: Path, *, postgres: str | None = None, mysql: str | None = None) -> BroadMesh:
    """Everything: data, oracle, the five products and ``mesh.yaml``. Needs PostgreSQL and MariaDB."""
    if not sf > 0:
        raise ValueError(f"the scale factor must be positive, not {sf}")
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    source, oracle, mesh = out / "source", out / "oracle.duckdb", out / "mesh"
    database = f"flightmesh_broad_sf{sf_tag(sf)}"
    admin = postgres or postgres_admin_uri()
    mysql_admin = (mysql or DEFAULT_MYSQL).rstrip("/")
    with _folder_lock(out):
        if not _done(out, "source", sf) or not source.is_dir():
            for step in ("oracle", "mesh"):
                (out / f".{step}.done").unlink(missing_ok=True)
            _timed(timings, "generate", lambda: _generate(sf, source))
            _replace_text(out / ".source.done", _stamp_value(sf))
        if not _done(out, "oracle", sf) or not oracle.is_file():
            oracle.unlink(missing_ok=True)
            _timed(timings, "oracle", lambda: _write_duckdb(oracle, TABLES, source))
            _replace_text(out / ".oracle.done", _stamp_value(sf))
        _timed(timings, "postgresql", lambda: _load_postgres(sf, source, admin, database))
        _timed(timings, "mariadb", lambda: _load_mysql(sf, source, mysql_admin, database))
        _mysql_reader(mysql_admin, database)
        if not _done(out, "mesh", sf) or not (mesh / "data").is_dir():
            def files() -> None:
                data = mesh / "data"
                data.mkdir(parents=True, exist_ok=True)
                for name in ("sales.duckdb", "merch.sqlite"):
                    (data / name).unlink(missing_ok=True)
                _write_duckdb(data / "sales.duckdb", HOME_TABLES["sales"], source)
                _write_sqlite(data / "merch.sqlite", HOME_TABLES["merch"], source)
                _write_parquet(data / "calendar", HOME_TABLES["calendar"], source)
            _timed(timings, "files", files)
            _replace_text(out / ".mesh.done", _stamp_value(sf))
        descriptor = mesh / "mesh.yaml"
        reader = _with(admin, user=READER, password=READER, database=database)
        mysql_host = urlsplit(mysql_admin)
        mysql_reader = f"mysql://{READER}@{mysql_host.hostname}:{mysql_host.port or 3306}/{database}"
        text = _descriptor(sf, reader, mysql_reader)
        if not descriptor.is_file() or descriptor.read_text() != text:
            _replace_text(descriptor, text)
    return BroadMesh(sf=sf, root=out, source=source, oracle=oracle, descriptor=descriptor,
                     users=dict(USERS), timings=timings)


def qualify(sql: str) -> str:
    """Unqualified table names as ``product.table`` (the mesh has no search path); CTEs left alone."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="duckdb")
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        name = table.name.lower()
        if not table.args.get("db") and name in HOME and name not in ctes:
            table.set("db", exp.to_identifier(HOME[name]))
    return tree.sql(dialect="duckdb")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sf", type=float, default=0.1, help="scale factor (default 0.1)")
    parser.add_argument("--out", type=Path, default=None, help="folder (default benchmarks/data/broad-sf<SF>)")
    parser.add_argument("--postgres", default=None, help="administrator URI of the PostgreSQL to load")
    parser.add_argument("--mysql", default=None, help=f"administrator URI of the MariaDB (default {DEFAULT_MYSQL})")
    args = parser.parse_args(argv)
    out = args.out or REPO / "benchmarks" / "data" / f"broad-sf{sf_tag(args.sf)}"
    started = time.perf_counter()
    mesh = build(args.sf, out, postgres=args.postgres, mysql=args.mysql)
    for step, seconds in mesh.timings.items():
        print(f"{step:>10}: {seconds:7.2f} s")
    print(f"{'total':>10}: {time.perf_counter() - started:7.2f} s (steps not listed were reused)")
    print(f"oracle:     {mesh.oracle}\ndescriptor: {mesh.descriptor}")
    with contextlib.closing(mesh.connect_oracle()) as oracle:
        for table in TABLES:
            print(f"{table:>24}: {oracle.sql(f'SELECT count(*) FROM {table}').fetchall()[0][0]:>10,} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
