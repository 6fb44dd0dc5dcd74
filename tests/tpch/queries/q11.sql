-- TPC-H Query 11 (Important Stock Identification).
-- Query text from the TPC Benchmark H Standard Specification, Revision 3.0.1, §2.4.11
-- (Transaction Processing Performance Council (TPC), "TPC Benchmark H Standard Specification"),
-- with the spec's query validation substitution parameters: NATION = GERMANY, FRACTION = 0.0001.
-- FRACTION is 0.0001 / SF in the spec; the validation value 0.0001 is used at every scale factor.

select
    ps_partkey,
    sum(ps_supplycost * ps_availqty) as value
from
    partsupp,
    supplier,
    nation
where
    ps_suppkey = s_suppkey
    and s_nationkey = n_nationkey
    and n_name = 'GERMANY'
group by
    ps_partkey
having
    sum(ps_supplycost * ps_availqty) > (
        select
            sum(ps_supplycost * ps_availqty) * 0.0001
        from
            partsupp,
            supplier,
            nation
        where
            ps_suppkey = s_suppkey
            and s_nationkey = n_nationkey
            and n_name = 'GERMANY'
    )
order by
    value desc;
