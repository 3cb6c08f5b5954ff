

def test_code_range_selects_exactly_the_codes_under_a_prefix() -> None:
    import sqlalchemy as sa

    from shared.regions import code_range

    engine = sa.create_engine("sqlite://")
    codes = ["31", "3171", "3199999999", "32", "3201", "3201012001", "33", "9", "99", "9901", "3"]
    with engine.connect() as conn:
        conn.execute(sa.text("CREATE TABLE t (c TEXT)"))
        conn.execute(sa.text("INSERT INTO t VALUES (:c)"), [{"c": c} for c in codes])
        t = sa.table("t", sa.column("c"))

        def under(prefix: str) -> set[str]:
            return {r[0] for r in conn.execute(sa.select(t.c.c).where(code_range(t.c.c, prefix)))}

        assert under("32") == {"32", "3201", "3201012001"}
        assert under("3201") == {"3201", "3201012001"}
        assert under("99") == {"99", "9901"}
        assert under("31") == {"31", "3171", "3199999999"}


def test_load_reads_every_table_a_nik_check_needs() -> None:
    """``regions.load()`` (a service's start-up) leaves nothing for the first NIK check to read."""
    from shared import nik, regions

    cached = (regions.provinces, regions.known_kabupaten, regions.known_nik_prefixes, regions.current_kecamatan,
              regions.historical_prefixes)
    for f in cached:
        f.cache_clear()
    regions.load()
    assert all(f.cache_info().currsize == 1 for f in cached)
    before = [f.cache_info().misses for f in cached]
    assert nik.check("3201010101010001").rule is not nik.NikRule.KABUPATEN
    assert [f.cache_info().misses for f in cached] == before
