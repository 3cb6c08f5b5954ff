"""The national arithmetic of docs/scale.md: units, their sizes, hours, from measured per-unit figures.

    .venv/bin/python bench/scale_national.py --unit-rate 600 --plan-rate 1500 [--unit-max 20000]
        [--students 53.32e6] [--emis-share 0.21] [--machines 1,4,16] [--cores 2]
        [--emis-rate N --dapodik-rate N] [--registry-rate N --registry-people 289e6]
        [--ranged [--ranges 16] --kip-rate N --kip-cards 19e6]

Students per province: the national total (shared/DOMAIN.md §5: 53.32 M, 2024) split by the provinces' population
(worldgen/population.py PROVINCE_POPULATION, BPS mid-2024); within a province by its kabupaten's share of the
province's kecamatan (the same model worldgen uses: real kabupaten differ, see docs/scale.md); EMIS / Dapodik by
``--emis-share``. A region becomes one unit per system when it has at most ``--unit-max`` students, else one per
kabupaten (shared/regions.py: 38 provinces, 514 kabupaten with desa). ``--unit-rate``: students per second one
worker decides and pushes (measured: students of a run / the worker's CPU seconds in the units phase, so that N
workers on N cores add up); ``--plan-rate``: students per second the plan job reads from a gateway's feed into the
hub's copy (one job per run: it does not grow with the machines). With ``--emis-rate`` and ``--dapodik-rate``
(each feed's own rate, students/s) the two feeds are read at the same time, as the plan does on PostgreSQL since
session 18, and the plan takes the longer of them; with ``--registry-rate`` (people/s of the registry replica's
first load, ``--registry-people`` in DTSEN) the plan of a first sync takes at least that load, read beside the
feeds. With ``--ranged`` (since session 19) the registry's first load and each feed's full read are read as up to
``--ranges`` ranges by the workers (``replica/ranged.py``, ``sync/feed_ranges.py``): each read goes as fast as
min(workers, ranges) readers at its one-stream rate, and so does the KIP listing (``--kip-rate`` cards/s of one
stream, ``--kip-cards``; read in ranges of card numbers since session 20); the plan takes the longest of them per number
of machines. Nothing here is measured; it multiplies.
"""

from __future__ import annotations

import argparse

import numpy as np

from worldgen.population import PROVINCE_POPULATION, Regions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", type=float, default=53.32e6)
    ap.add_argument("--emis-share", type=float, default=0.21)
    ap.add_argument("--unit-max", type=int, default=20_000)
    ap.add_argument("--unit-rate", type=float, required=True, help="students/s per worker (one core)")
    ap.add_argument("--plan-rate", type=float, required=True, help="students/s of the plan's feed reading")
    ap.add_argument("--emis-rate", type=float, help="students/s of the EMIS feed alone (feeds read at once)")
    ap.add_argument("--dapodik-rate", type=float, help="students/s of the Dapodik feed alone (feeds read at once)")
    ap.add_argument("--registry-rate", type=float, help="people/s of the registry replica's first load")
    ap.add_argument("--registry-people", type=float, default=289e6)
    ap.add_argument("--ranged", action="store_true", help="the replica's load and the feeds read as ranges")
    ap.add_argument("--ranges", type=int, default=16, help="ranges a ranged read is split into at most")
    ap.add_argument("--kip-rate", type=float, help="cards/s of the KIP listing (one stream)")
    ap.add_argument("--kip-cards", type=float, default=19e6)
    ap.add_argument("--machines", default="1,4,16,64")
    ap.add_argument("--cores", type=int, default=2, help="workers per machine (one per core)")
    args = ap.parse_args()
    r = Regions()
    pop = np.array([PROVINCE_POPULATION[p] for p in r.prov_codes])
    kab_prov = r.kec_prov[r.kab_start]
    kab_w = pop[kab_prov] * r.kab_n / r.prov_n[kab_prov]
    kab_students = args.students * kab_w / kab_w.sum()
    prov_students = args.students * pop / pop.sum()
    units: list[tuple[str, str, float]] = []
    for system, share in (("dapodik", 1 - args.emis_share), ("emis", args.emis_share)):
        for i, p in enumerate(r.prov_codes):
            if prov_students[i] * share <= args.unit_max:
                units.append((system, p, prov_students[i] * share))
            else:
                units += [(system, r.kab_codes[k], kab_students[k] * share)
                          for k in np.flatnonzero(kab_prov == i)]
    sizes = np.array([u[2] for u in units])
    top = sorted(units, key=lambda u: -u[2])[:3]
    print(f"provinces {len(r.prov_codes)}, kabupaten {len(r.kab_codes)}, units {len(units)} "
          f"(province units {sum(1 for u in units if len(u[1]) == 2)})")
    biggest = sorted(zip(r.prov_codes, prov_students, strict=True), key=lambda x: -x[1])[:4]
    print("largest provinces:", ", ".join(f"{p} {s / 1e6:.2f} M" for p, s in biggest))
    print("largest units:", ", ".join(f"{s} {c} {n:,.0f}" for s, c, n in top))
    print(f"unit size: median {np.median(sizes):,.0f}, p90 {np.percentile(sizes, 90):,.0f}, max {sizes.max():,.0f}")
    plan_h = args.students / args.plan_rate / 3600
    print(f"plan (feed reading, one job, one feed after the other): {plan_h:.1f} h")
    if args.emis_rate and args.dapodik_rate:
        emis_h = args.students * args.emis_share / args.emis_rate / 3600
        dapodik_h = args.students * (1 - args.emis_share) / args.dapodik_rate / 3600
        plan_h = max(emis_h, dapodik_h)
        print(f"plan, the feeds read at once: EMIS {emis_h:.1f} h, Dapodik {dapodik_h:.1f} h -> {plan_h:.1f} h")
    if args.registry_rate:
        registry_h = args.registry_people / args.registry_rate / 3600
        print(f"registry replica's first load (one stream, beside the feeds): {registry_h:.1f} h")
        plan_h = max(plan_h, registry_h)
        print(f"plan of a first sync: {plan_h:.1f} h")
    if args.ranged:
        if not (args.emis_rate and args.dapodik_rate and args.registry_rate and args.kip_rate):
            ap.error("--ranged needs --emis-rate, --dapodik-rate, --registry-rate and --kip-rate")
        kip_h = args.kip_cards / args.kip_rate / 3600
        print(f"KIP listing (one stream): {kip_h:.2f} h")
        print("| machines | workers | readers | feeds (h) | replica load (h) | KIP listing (h) | plan (h) "
              "| units phase (h) | first sync (h) |")
        print("|---|---|---|---|---|---|---|---|---|")
    else:
        print("| machines | workers | units phase (h) | first sync (h) | longest unit (h) |")
        print("|---|---|---|---|---|")
    for m in (int(x) for x in args.machines.split(",")):
        w = m * args.cores
        units_h = max(args.students / (args.unit_rate * w), sizes.max() / args.unit_rate) / 3600
        if args.ranged:
            readers = min(w, args.ranges)
            feeds_h = max(args.students * args.emis_share / args.emis_rate,
                          args.students * (1 - args.emis_share) / args.dapodik_rate) / readers / 3600
            replica_h = args.registry_people / args.registry_rate / readers / 3600
            kip_m = kip_h / readers  # its ranges of card numbers, each read at the one stream's rate
            plan_m = max(feeds_h, replica_h, kip_m)
            print(f"| {m} | {w} | {readers} | {feeds_h:.2f} | {replica_h:.2f} | {kip_m:.2f} | {plan_m:.2f} | "
                  f"{units_h:.2f} | **{plan_m + units_h:.2f}** |")
            continue
        print(f"| {m} | {w} | {units_h:.1f} | {plan_h + units_h:.1f} | {sizes.max() / args.unit_rate / 3600:.2f} |")


if __name__ == "__main__":
    main()
