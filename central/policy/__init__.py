"""Containment: zones, the policy between them, the learned baseline, and what enforces it.

    zones, policy = parse_containment(raw_toml, path, problems)   # from [zones] and [policy]
    decision = policy.decide(src_zone, dst_zone, flow)            # allow / deny, and why
    baseline = learn_baseline(rows, zone_map)                     # what devices really talk to
    mud_files(baseline), nftables_ruleset(policy, zone_sets), simulate(policy, ...)

Nothing here reads the database; central.policy.store does (rows in, these functions out).
"""
