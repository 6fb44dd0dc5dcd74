-- TPC-H Query 15 (Top Supplier).
-- Query text from the TPC Benchmark H Standard Specification, Revision 3.0.1, §2.4.15
-- (Transaction Processing Performance Council (TPC), "TPC Benchmark H Standard Specification"),
-- with the spec's query validation substitution parameters: DATE = 1996-01-01.
-- The spec creates the view revenue0 (STREAM_ID 0), queries it and drops it; the view is
-- written here as a common table expression with the same name, columns and body.

with revenue0 (supplier_no, total_revenue) as (
    select
        l_suppkey,
        sum(l_extendedprice * (1 - l_discount))
    from
        lineitem
    where
        l_shipdate >= date '1996-01-01'
        and l_shipdate < date '1996-01-01' + interval '3' month
    group by
        l_suppkey
)
select
    s_suppkey,
    s_name,
    s_address,
    s_phone,
    total_revenue
from
    supplier,
    revenue0
where
    s_suppkey = supplier_no
    and total_revenue = (
        select
            max(total_revenue)
        from
            revenue0
    )
order by
    s_suppkey;
