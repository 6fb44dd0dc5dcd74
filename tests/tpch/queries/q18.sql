-- TPC-H Query 18 (Large Volume Customer).
-- Query text from the TPC Benchmark H Standard Specification, Revision 3.0.1, §2.4.18
-- (Transaction Processing Performance Council (TPC), "TPC Benchmark H Standard Specification"),
-- with the spec's query validation substitution parameters: QUANTITY = 300.
-- The spec returns "the first 100 selected rows"; written here as LIMIT 100.

select
    c_name,
    c_custkey,
    o_orderkey,
    o_orderdate,
    o_totalprice,
    sum(l_quantity)
from
    customer,
    orders,
    lineitem
where
    o_orderkey in (
        select
            l_orderkey
        from
            lineitem
        group by
            l_orderkey
        having
            sum(l_quantity) > 300
    )
    and c_custkey = o_custkey
    and o_orderkey = l_orderkey
group by
    c_name,
    c_custkey,
    o_orderkey,
    o_orderdate,
    o_totalprice
order by
    o_totalprice desc,
    o_orderdate
limit 100;
