-- TPC-H Query 3 (Shipping Priority).
-- Query text from the TPC Benchmark H Standard Specification, Revision 3.0.1, §2.4.3
-- (Transaction Processing Performance Council (TPC), "TPC Benchmark H Standard Specification"),
-- with the spec's query validation substitution parameters: SEGMENT = BUILDING, DATE = 1995-03-15.
-- The spec returns "the first 10 selected rows"; written here as LIMIT 10.

select
    l_orderkey,
    sum(l_extendedprice * (1 - l_discount)) as revenue,
    o_orderdate,
    o_shippriority
from
    customer,
    orders,
    lineitem
where
    c_mktsegment = 'BUILDING'
    and c_custkey = o_custkey
    and l_orderkey = o_orderkey
    and o_orderdate < date '1995-03-15'
    and l_shipdate > date '1995-03-15'
group by
    l_orderkey,
    o_orderdate,
    o_shippriority
order by
    revenue desc,
    o_orderdate
limit 10;
