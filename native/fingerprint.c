/*
 * fingerprint.c: the fingerprint sink (fingerprint.h): deduplication per device and the
 * event ring that carries fingerprints to Python.
 *
 * Each device remembers hashes of the last FP_MEMORY_SLOTS values it sent, so a
 * fingerprint seen on every flow (a JA4, an SNI) is sent once, not per flow. A full ring
 * drops new events and counts them; the capture loop returns to Python before that can
 * happen (DEVICE_EVENTS_PER_PACKET), so only a caller that never drains loses any.
 */
#include <stdlib.h>
#include <string.h>

#include "fingerprint.h"

const char *const FP_KIND_NAMES[FP_KIND_COUNT] = {
    [FP_DHCP_PARAMS] = "dhcp_parameter_list",
    [FP_DHCP_VENDOR] = "dhcp_vendor_class",
    [FP_DHCP_HOSTNAME] = "dhcp_hostname",
    [FP_DHCP_CLIENT_ID] = "dhcp_client_id",
    [FP_DHCP_ASSIGNED] = "dhcp_assigned_address",
    [FP_DHCPV6_VENDOR] = "dhcpv6_vendor_class",
    [FP_LLDP_NAME] = "lldp_system_name",
    [FP_LLDP_DESCRIPTION] = "lldp_system_description",
    [FP_CDP_NAME] = "cdp_device_id",
    [FP_CDP_PLATFORM] = "cdp_platform",
    [FP_CDP_DESCRIPTION] = "cdp_software_version",
    [FP_MDNS_SERVICE] = "mdns_service",
    [FP_SSDP_SERVER] = "ssdp_server",
    [FP_TLS_SNI] = "tls_sni",
    [FP_TLS_JA4_RAW] = "tls_ja4_raw",
    [FP_HTTP_USER_AGENT] = "http_user_agent",
    [FP_HTTP_SERVER] = "http_server",
    [FP_DICOM_AE_TITLE] = "dicom_ae_title",
    [FP_DICOM_CALLED_AE] = "dicom_called_ae_title",
    [FP_DICOM_IMPL_UID] = "dicom_implementation_class_uid",
    [FP_DICOM_IMPL_VERSION] = "dicom_implementation_version",
    [FP_DICOM_ABSTRACT_SYNTAX] = "dicom_abstract_syntax",
    [FP_DICOM_MODALITY] = "dicom_modality",
    [FP_DICOM_RESULT] = "dicom_association_result",
    [FP_HL7_SENDING_APP] = "hl7_sending_application",
    [FP_HL7_SENDING_FACILITY] = "hl7_sending_facility",
    [FP_HL7_RECEIVING_APP] = "hl7_receiving_application",
    [FP_HL7_RECEIVING_FACILITY] = "hl7_receiving_facility",
    [FP_HL7_MESSAGE_TYPE] = "hl7_message_type",
    [FP_HL7_PROCESSING_ID] = "hl7_processing_id",
    [FP_HL7_VERSION] = "hl7_version",
    [FP_POCT1_VENDOR] = "poct1_vendor",
    [FP_POCT1_MODEL] = "poct1_model",
    [FP_POCT1_VERSION] = "poct1_version",
    [FP_INTELLIVUE] = "intellivue",
    [FP_SIP_USER_AGENT] = "sip_user_agent",
    [FP_SIP_SERVER] = "sip_server",
    [FP_RTSP_USER_AGENT] = "rtsp_user_agent",
    [FP_RTSP_SERVER] = "rtsp_server",
    [FP_HL7_DEVICE_MODEL] = "hl7_device_model",
    [FP_HL7_DEVICE_UDI_DI] = "hl7_device_udi_di",
    [FP_HL7_DEVICE_TYPE] = "hl7_device_type",
    [FP_INTELLIVUE_MODEL] = "intellivue_model",
    [FP_SSH_BANNER] = "ssh_banner",
    [FP_FTP_AUTH_TLS] = "ftp_auth_tls",
    [FP_FTP_CLEARTEXT_LOGIN] = "ftp_cleartext_login",
    [FP_RDP_SECURITY] = "rdp_security",
    [FP_VNC_SECURITY] = "vnc_security",
    [FP_VNC_SECURITY_CHOSEN] = "vnc_security_chosen",
    [FP_SMB_DIALECT] = "smb_dialect",
    [FP_SNMP_VERSION] = "snmp_version",
    [FP_SNMP_DEFAULT_COMMUNITY] = "snmp_default_community",
    [FP_HTTP_BASIC_AUTH] = "http_basic_auth",
    [FP_TLS_VERSION_OFFERED] = "tls_version_offered",
    [FP_TLS_VERSION] = "tls_version",
};


/* ---------------------------------------------------------------- the ring */

int fp_ring_init(struct fp_ring *ring, uint32_t capacity, uint64_t seed, uint64_t *emitted,
                 uint64_t *dropped)
{
    memset(ring, 0, sizeof *ring);
    ring->events = calloc(capacity, sizeof *ring->events);
    ring->capacity = capacity;
    ring->low = capacity < DEVICE_EVENTS_PER_PACKET;
    ring->seed = seed;
    ring->emitted = emitted;
    ring->dropped = dropped;
    return ring->events ? 0 : -1;
}

void fp_ring_release(struct fp_ring *ring)
{
    free(ring->events);
    ring->events = NULL;
}

const struct device_event *fp_ring_peek(const struct fp_ring *ring, uint32_t i)
{
    uint32_t pos = ring->head + i;
    if (pos >= ring->capacity)
        pos -= ring->capacity;
    return &ring->events[pos];
}

void fp_ring_consume(struct fp_ring *ring, uint32_t n)
{
    if (n > ring->count)
        n = ring->count;
    ring->head = (uint32_t)(((uint64_t)ring->head + n) % ring->capacity);
    ring->count -= n;
    ring->low = ring->capacity - ring->count < DEVICE_EVENTS_PER_PACKET;
}

/* ---------------------------------------------------------------- events */

/* A value's bytes mixed into h, eight bytes a step (a byte-wise hash cost more than the
 * rest of the deduplication). The last bytes are read as one (overlapping) word of the
 * value, never beyond it. */
static inline uint64_t mix_bytes(uint64_t h, const uint8_t *v, size_t len)
{
    uint64_t w = 0, tail = 0;
    if (len >= 8) {
        for (size_t i = 0; i + 8 < len; i += 8) {
            memcpy(&w, v + i, 8);
            h = (h ^ w) * 0xff51afd7ed558ccdULL;
            h ^= h >> 29;
        }
        memcpy(&tail, v + len - 8, 8);
    } else if (len >= 4) {
        uint32_t a, b;
        memcpy(&a, v, 4);
        memcpy(&b, v + len - 4, 4);
        tail = (uint64_t)a << 32 | b;
    } else if (len) {
        tail = (uint64_t)v[0] << 16 | (uint64_t)v[len / 2] << 8 | v[len - 1];
    }
    return (h ^ tail) * 0xc4ceb9fe1a85ec53ULL;
}

/* The length in the seed tells values apart that differ only by trailing zero bytes;
 * the table's random seed keeps colliding values from being crafted from outside (a
 * collision would keep a fingerprint from being sent). */
static inline uint32_t fp_hash(uint64_t seed, enum fp_kind kind, const uint8_t *v, size_t len)
{
    uint64_t h = mix_bytes(seed ^ 0x9e3779b97f4a7c15ULL ^ ((uint64_t)kind << 32) ^ len, v, len);
    return (uint32_t)(h ^ h >> 32) | 1; /* 0 marks an empty slot */
}

/* Sent already by this device (one of its last FP_MEMORY_SLOTS values)? Else remember it.
 * Branch-free compare of all the slots. */
static inline int fp_seen_before(struct fp_memory *m, uint32_t h)
{
    typedef uint32_t u32x4 __attribute__((vector_size(16)));
    u32x4 q[4], hv = {h, h, h, h};
    memcpy(q, m->seen, sizeof q);
    u32x4 eq = (u32x4)((q[0] == hv) | (q[1] == hv) | (q[2] == hv) | (q[3] == hv));
    uint64_t w[2];
    memcpy(w, &eq, sizeof w);
    if (w[0] | w[1])
        return 1;
    m->seen[m->gen % FP_MEMORY_SLOTS] = h;
    m->gen++;
    return 0;
}

static __attribute__((noinline)) void fp_event_add(struct fp_sink *sink, const uint8_t *mac,
                                                   enum fp_kind kind, const uint8_t *value,
                                                   size_t len)
{
    struct fp_ring *r = sink->ring;
    if (sink->emitted >= DEVICE_EVENTS_PER_PACKET || r->count == r->capacity) {
        (*r->dropped)++;
        return;
    }
    sink->emitted++;
    uint32_t pos = r->head + r->count;
    if (pos >= r->capacity)
        pos -= r->capacity;
    r->count++;
    r->low = r->capacity - r->count < DEVICE_EVENTS_PER_PACKET;
    struct device_event *ev = &r->events[pos];
    ev->ts_us = sink->ts_us;
    memcpy(ev->mac, mac, 6);
    ev->kind = (uint8_t)kind;
    ev->len = (uint16_t)len;
    ev->family = mac == sink->mac ? sink->family : 0;
    if (ev->family)
        memcpy(ev->addr, sink->addr, 16);
    memcpy(ev->value, value, len);
    (*r->emitted)++;
}

/* The ring's seed with the sender's address mixed in: the sender's values are remembered
 * per (MAC, address), so two hosts behind one router each send a value both have. */
static inline uint64_t sender_seed(const struct fp_sink *sink)
{
    uint64_t seed = sink->ring->seed;
    if (sink->family) {
        uint64_t a = 0, b = 0;
        memcpy(&a, sink->addr, sink->family == 4 ? 4 : 8);
        if (sink->family == 6)
            memcpy(&b, sink->addr + 8, 8);
        seed = mix_bytes(seed ^ a, (const uint8_t *)&b, sizeof b);
    }
    return seed;
}

static inline void fp_note(struct fp_sink *sink, const uint8_t *mac, enum fp_kind kind,
                           const uint8_t *value, size_t len)
{
    if (len > FP_VALUE_MAX)
        len = FP_VALUE_MAX;
    /* The sender's own entry exists only for a station MAC: no station test then. */
    int sender = mac == sink->mac;
    struct fp_memory *m = sender ? sink->memory : NULL;
    if (!m) {
        if (!mac_is_station(mac)) /* no link layer (raw IP captures): nobody to describe */
            return;
        m = sink->owner->memory_of(sink->owner->table, mac);
    }
    uint64_t seed = sender ? sender_seed(sink) : sink->ring->seed;
    if (m && fp_seen_before(m, fp_hash(seed, kind, value, len)))
        return;
    fp_event_add(sink, mac, kind, value, len);
}

/* Spaces, tabs, CR, LF and NUL: cut from both ends of a value. */
static inline int trim_byte(uint8_t c)
{
    return c <= ' ' && ((1ULL << c) & ((1ULL << ' ') | (1ULL << '\t') | (1ULL << '\r') |
                                       (1ULL << '\n') | 1ULL));
}

void fp_emit_trimmed(struct fp_sink *sink, const uint8_t *mac, enum fp_kind kind,
                     const uint8_t *value, size_t len)
{
    while (len && trim_byte(value[0])) {
        value++;
        len--;
    }
    while (len && trim_byte(value[len - 1]))
        len--;
    if (len)
        fp_note(sink, mac, kind, value, len);
}

void fp_emit_for(struct fp_sink *sink, const uint8_t *mac, enum fp_kind kind,
                 const uint8_t *value, size_t len)
{
    fp_note(sink, mac, kind, value, len);
}

uint64_t fp_set_start(const struct fp_sink *sink) { return sender_seed(sink); }

uint64_t fp_set_hash(uint64_t h, const uint8_t *v, size_t len)
{
    h = mix_bytes((h ^ len) * 0xff51afd7ed558ccdULL, v, len);
    return h ^ h >> 31;
}

/* The set is known when it is the sender's last set that brought nothing new, and nothing
 * was entered into its fingerprint memory since: every value of it is still there. */
int fp_set_seen(struct fp_sink *sink, uint64_t h)
{
    struct fp_memory *m = sink->memory;
    if (!m)
        return 0;
    sink->set_gen = m->gen;
    return m->set_hash == (h | 1) && m->set_gen == m->gen;
}

void fp_set_done(struct fp_sink *sink, uint64_t h)
{
    struct fp_memory *m = sink->memory;
    if (m && m->gen == sink->set_gen) { /* every value was remembered already */
        m->set_hash = h | 1;
        m->set_gen = m->gen;
    }
}

void fp_emit(struct fp_sink *sink, enum fp_kind kind, const uint8_t *value, size_t len)
{
    fp_emit_for(sink, sink->mac, kind, value, len);
}

void fp_learn_address(struct fp_sink *sink, const uint8_t *mac, int family, const uint8_t *addr)
{
    sink->owner->learn_address(sink->owner->table, mac, family, addr, sink->ts_us);
}

void fp_name_server(struct fp_sink *sink, int family, const uint8_t *addr, const uint8_t *name,
                    size_t len)
{
    if (sink->names)
        sink->names->put(sink->names->table, family, addr, name, len);
}

void fp_name_receiver(struct fp_sink *sink, const uint8_t *name, size_t len)
{
    if (sink->dst && sink->family)
        fp_name_server(sink, sink->family, sink->dst, name, len);
}
