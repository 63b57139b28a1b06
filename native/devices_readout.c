/*
 * devices_readout.c: what Python reads from the device table (module_devices.c): the
 * fingerprint events, each device's state with its peer estimate, the counters.
 */
#include <string.h>

#include "device_table.h"

static uint32_t peers_estimate(const struct device *d)
{
    double sum = 0;
    int zeros = 0;
    for (int i = 0; i < PEER_REGISTERS; i++) {
        sum += 1.0 / (double)(1ULL << d->peer_registers[i]);
        zeros += d->peer_registers[i] == 0;
    }
    double m = PEER_REGISTERS, estimate = 0.709 * m * m / sum; /* alpha for m = 64 */
    if (estimate <= 2.5 * m && zeros) { /* small range: linear counting */
        double ratio = m / zeros, ln = 0;
        /* ln(ratio) without libm: ln(r) = 2 atanh((r-1)/(r+1)), a few series terms */
        double z = (ratio - 1) / (ratio + 1), z2 = z * z, term = z;
        for (int k = 1; k < 40; k += 2) {
            ln += term / k;
            term *= z2;
        }
        estimate = m * 2 * ln;
    }
    return (uint32_t)(estimate + 0.5);
}

/* ---------------------------------------------------------------- events */

uint32_t devices_event_count(const struct device_table *t) { return t->ring.count; }

uint32_t devices_event_room(const struct device_table *t)
{
    return t->ring.capacity - t->ring.count;
}

int devices_events_low(const struct device_table *t) { return t->ring.low; }

const struct device_event *devices_event_peek(const struct device_table *t, uint32_t i)
{
    return fp_ring_peek(&t->ring, i);
}

void devices_event_consume(struct device_table *t, uint32_t n) { fp_ring_consume(&t->ring, n); }

/* ---------------------------------------------------------------- reading out */

void devices_visit(struct device_table *t, int changed_only,
                   int (*fn)(const struct device_view *, void *), void *arg)
{
    for (uint32_t i = 0; i < t->never_used; i++) {
        struct device *d = &t->slots[i];
        if (!d->used || (changed_only && !d->changed))
            continue;
        struct device_view v;
        memset(&v, 0, sizeof v);
        memcpy(v.mac, d->mac, 6);
        v.n_v4 = d->n_v4;
        v.n_v6 = d->n_v6;
        v.n_vlans = d->n_vlans;
        v.n_services = d->n_services;
        v.is_new = d->is_new;
        v.first_seen_us = d->first_seen_us;
        const struct device_link *hot = &t->links[i];
        v.last_seen_us = hot->last_seen_us;
        v.pkts_sent = hot->pkts_sent;
        v.bytes_sent = hot->bytes_sent;
        v.pkts_received = hot->pkts_received;
        v.bytes_received = hot->bytes_received;
        v.hl7_messages = d->hl7_messages;
        v.protocols = d->protocols;
        v.peers_estimate = peers_estimate(d);
        memcpy(v.v4, d->v4, sizeof v.v4);
        memcpy(v.v6, d->v6, sizeof v.v6);
        memcpy(v.vlans, d->vlans, sizeof v.vlans);
        memcpy(v.service_ports, d->service_ports, sizeof v.service_ports);
        memcpy(v.service_protos, d->service_protos, sizeof v.service_protos);
        if (fn(&v, arg))
            return; /* the caller failed (no memory): marks stay for the next call */
        if (changed_only)
            d->changed = d->is_new = 0;
    }
}

const struct device_counters *devices_counters(const struct device_table *t)
{
    return &t->counters;
}

uint32_t devices_max(const struct device_table *t) { return t->max_devices; }

uint32_t devices_active(const struct device_table *t) { return t->active; }
