/*
 * mac_table.h: the MACs that running flows saw, each stored once and referred to by a
 * 16-bit index (flowtable.c). A flow slot keeps two indices (4 bytes) instead of two
 * MACs (12 bytes, 16 with the slot's alignment), which keeps a slot at 152 bytes and the
 * issue-2 budget of 160 bytes per slot. Entries are counted references: a flow holds
 * one per MAC it keeps, and gives it back when it ends; an entry nobody holds is free.
 * Fixed size (min(MAC_TABLE_MAX, 2 x max_flows)), allocated once: a segment with more
 * distinct senders in running flows than that leaves the newest flows without MACs
 * (counted, engine counter flow_macs_unrecorded).
 */
#ifndef IOMT_MAC_TABLE_H
#define IOMT_MAC_TABLE_H

#include <stddef.h>
#include <stdint.h>

#define MAC_TABLE_MAX 4096
#define MAC_NONE UINT16_MAX

struct mac_table;

/* NULL when out of memory. max_flows >= 1. */
struct mac_table *mac_table_new(uint32_t max_flows);
void mac_table_free(struct mac_table *t);
/* A new reference to `mac` (6 bytes): its index, or MAC_NONE when the table is full. */
uint16_t mac_table_hold(struct mac_table *t, const uint8_t *mac);
/* Give back one reference taken by mac_table_hold. */
void mac_table_release(struct mac_table *t, uint16_t index);
/* The 6 bytes of a held index. */
const uint8_t *mac_table_get(const struct mac_table *t, uint16_t index);
size_t mac_table_bytes(const struct mac_table *t);

#endif
