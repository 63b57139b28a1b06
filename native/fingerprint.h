/*
 * fingerprint.h: the fingerprint sink. Extractors (extract_*.c) hand it what they found;
 * it deduplicates per device and queues events for Python in a fixed ring.
 *
 * It knows nothing of the device table: whoever owns the per-device memories (devices.c)
 * hands it the sender's memory in the sink and answers, through struct fp_owner, for a
 * MAC other than the sender's (a DHCP client) and for addresses an extractor learned.
 * Extractors depend on this header and extract.h alone.
 */
#ifndef IOMT_FINGERPRINT_H
#define IOMT_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Fingerprint kinds: the allowlist of what may leave the process (names in fingerprint.c). */
enum fp_kind {
    FP_DHCP_PARAMS,     /* option 55, decimal codes in order, comma separated */
    FP_DHCP_VENDOR,     /* option 60 */
    FP_DHCP_HOSTNAME,   /* option 12 */
    FP_DHCP_CLIENT_ID,  /* option 61, hex */
    FP_DHCP_ASSIGNED,   /* yiaddr of an ACK, dotted (attributed to chaddr) */
    FP_DHCPV6_VENDOR,   /* option 16: enterprise number ':' data */
    FP_LLDP_NAME,
    FP_LLDP_DESCRIPTION,
    FP_CDP_NAME,        /* device id */
    FP_CDP_PLATFORM,
    FP_CDP_DESCRIPTION, /* software version */
    FP_MDNS_SERVICE,    /* "_ipp._tcp.local" */
    FP_SSDP_SERVER,
    FP_TLS_SNI,
    FP_TLS_JA4_RAW,     /* JA4 inputs; agent/devices.py hashes them into JA4 */
    FP_HTTP_USER_AGENT,
    FP_HTTP_SERVER,
    FP_DICOM_AE_TITLE,  /* its own AE title (calling in an RQ, called in an AC) */
    FP_DICOM_CALLED_AE, /* an RQ's called AE title: the peer it wants */
    FP_DICOM_IMPL_UID,
    FP_DICOM_IMPL_VERSION,
    FP_DICOM_ABSTRACT_SYNTAX,
    FP_DICOM_MODALITY,
    FP_DICOM_RESULT,
    FP_HL7_SENDING_APP,
    FP_HL7_SENDING_FACILITY,
    FP_HL7_RECEIVING_APP,
    FP_HL7_RECEIVING_FACILITY,
    FP_HL7_MESSAGE_TYPE,
    FP_HL7_PROCESSING_ID,
    FP_HL7_VERSION,
    FP_POCT1_VENDOR,
    FP_POCT1_MODEL,
    FP_POCT1_VERSION,
    FP_INTELLIVUE,      /* "connect-indication" */
    FP_SIP_USER_AGENT,
    FP_SIP_SERVER,
    FP_RTSP_USER_AGENT,
    FP_RTSP_SERVER,
    FP_HL7_DEVICE_MODEL,  /* PRT-10 of an EQUIP participation, first component */
    FP_HL7_DEVICE_UDI_DI, /* PRT-16: the 14-digit GTIN of a GS1 UDI, nothing else of it */
    FP_HL7_DEVICE_TYPE,   /* PRT-22: code^text^coding system */
    FP_INTELLIVUE_MODEL,  /* NOM_ATTR_ID_MODEL's model number ("M8007A") */
    FP_SSH_BANNER,          /* "SSH-2.0-OpenSSH_9.2p1 Debian-2" (the identification line) */
    FP_FTP_AUTH_TLS,        /* "yes": AUTH TLS asked (client) or accepted (server, 234) */
    FP_FTP_CLEARTEXT_LOGIN, /* "yes": USER sent in clear (client) / answered 331 (server) */
    FP_RDP_SECURITY,        /* the server's selected protocol: "rdp", "tls", "credssp" ... */
    FP_VNC_SECURITY,        /* the server's offered security types: "none,vnc-auth" */
    FP_VNC_SECURITY_CHOSEN, /* the client's choice: "vnc-auth" */
    FP_SMB_DIALECT,         /* chosen by a server ("3.1.1"), or "1" for SMB1 spoken */
    FP_SNMP_VERSION,        /* "1", "2c", "3" */
    FP_SNMP_DEFAULT_COMMUNITY, /* "yes" / "no": never the community itself */
    FP_HTTP_BASIC_AUTH,     /* "offered" (a server's challenge) / "sent" (a client's header) */
    FP_TLS_VERSION_OFFERED, /* a ClientHello's highest version: "tls1.2" */
    FP_TLS_VERSION,         /* a ServerHello's chosen version: "tls1.3" */
    FP_KIND_COUNT
};
extern const char *const FP_KIND_NAMES[FP_KIND_COUNT];

#define FP_VALUE_MAX 512
/* One fingerprint found: the device (by MAC) it belongs to, when, what. For a value of
 * the sender of an IP packet, also the sender's address: behind a router every host
 * arrives with the router's MAC, and only the address tells them apart. */
struct device_event {
    uint64_t ts_us;
    uint8_t mac[6];
    uint8_t kind;   /* enum fp_kind */
    uint8_t family; /* 4 or 6: addr holds the sender's address; 0: none */
    uint16_t len;
    uint8_t addr[16];
    char value[FP_VALUE_MAX];
};
/* Most events one frame can add; capture stops reading when less room is left. */
#define DEVICE_EVENTS_PER_PACKET 64

/* A MAC that can be a device's own: unicast, not all zero. */
static inline int mac_is_station(const uint8_t *mac)
{
    static const uint8_t zero[6];
    return !(mac[0] & 1) && memcmp(mac, zero, 6) != 0;
}

/* ---- per-device memory of what was sent (kept in each device's entry) ---- */
#define FP_MEMORY_SLOTS 16 /* fp_seen_before() compares them as four vectors of four */
struct fp_memory {
    uint32_t seen[FP_MEMORY_SLOTS]; /* hashes of the last values sent; 0 empty */
    uint32_t gen;      /* counts hashes entered into seen: the next goes to gen % SLOTS */
    uint32_t set_gen;  /* gen when set_hash was noted */
    uint64_t set_hash; /* the last fingerprint set that brought nothing new (fp_set_*) */
};

/* ---- the event ring: fixed memory, the oldest first; full drops new events ---- */
struct fp_ring {
    struct device_event *events;
    uint32_t capacity, head, count;
    uint8_t low;   /* less than DEVICE_EVENTS_PER_PACKET of room (asked per frame) */
    uint64_t seed; /* random: value hashes cannot be made to collide from outside */
    uint64_t *emitted, *dropped; /* the owner's counters */
};
/* 0 on success, -1 without memory. */
int fp_ring_init(struct fp_ring *ring, uint32_t capacity, uint64_t seed, uint64_t *emitted,
                 uint64_t *dropped);
void fp_ring_release(struct fp_ring *ring);
const struct device_event *fp_ring_peek(const struct fp_ring *ring, uint32_t i);
void fp_ring_consume(struct fp_ring *ring, uint32_t n);

/* ---- the sink an extractor writes to, one per payload looked at ---- */
struct fp_owner {
    void *table;
    /* The memory of this (station) MAC's device, NULL when it has none. */
    struct fp_memory *(*memory_of)(void *table, const uint8_t *mac);
    /* An address the extractor saw assigned to mac (family 4 or 6). */
    void (*learn_address)(void *table, const uint8_t *mac, int family, const uint8_t *addr,
                          uint64_t ts_us);
};
/* Whoever keeps server names (the engine's server_names.h table): put() is given the
 * address (family 4: 4 bytes, 6: 16) and the name as seen, len bytes. */
struct fp_names {
    void *table;
    void (*put)(void *table, int family, const uint8_t *addr, const uint8_t *name, size_t len);
};
struct fp_sink {
    struct fp_ring *ring;
    const struct fp_owner *owner;
    struct fp_memory *memory; /* the sender's (NULL when it has no entry) */
    const uint8_t *mac; /* the sender: whom fingerprints describe by default */
    const uint8_t *addr; /* the sender's IP address (family 4: its first 4 bytes) */
    uint8_t family;      /* 4 or 6; 0: no IP (link-layer frames) */
    /* Where server names go (NULL: nowhere), and the receiver's address (same family as
     * addr): a request's server. */
    const struct fp_names *names;
    const uint8_t *dst;
    uint64_t ts_us;
    uint32_t emitted;   /* this frame, bounded by DEVICE_EVENTS_PER_PACKET */
    uint32_t set_gen;   /* fp_set_seen() to fp_set_done(): the sender's memory before */
};
void fp_emit(struct fp_sink *sink, enum fp_kind kind, const uint8_t *value, size_t len);
void fp_emit_for(struct fp_sink *sink, const uint8_t *mac, enum fp_kind kind,
                 const uint8_t *value, size_t len);
/* fp_emit_for with spaces, tabs, CR/LF and NULs cut from both ends; nothing when empty. */
void fp_emit_trimmed(struct fp_sink *sink, const uint8_t *mac, enum fp_kind kind,
                     const uint8_t *value, size_t len);
/* The server at (family, addr) goes by `name` (a DNS answer's question name, an SNI, a
 * Host): handed to sink->names for the flows to it, never a fingerprint. */
void fp_name_server(struct fp_sink *sink, int family, const uint8_t *addr, const uint8_t *name,
                    size_t len);
/* The receiver of this payload goes by `name` (SNI, Host: a client's request). */
void fp_name_receiver(struct fp_sink *sink, const uint8_t *name, size_t len);
/* Tell the owner an address was assigned to mac (a DHCP ACK's yiaddr). */
void fp_learn_address(struct fp_sink *sink, const uint8_t *mac, int family, const uint8_t *addr);
/* Fingerprint sets: an extractor that sends the same values on every message (a header's
 * fields) hashes them (fp_set_hash over each value, in order, with what tells them apart)
 * and asks fp_set_seen() first. 1: the sender's entry has every value of this set in its
 * memory already (the same set brought nothing new last time and nothing was added
 * since), so sending would send nothing: skip it. 0: send the values as usual, then call
 * fp_set_done() with the same hash. Only for values of the sender itself (sink->mac). */
uint64_t fp_set_hash(uint64_t h, const uint8_t *value, size_t len);
/* The first h of a set: the device table's random seed, so that two different sets with
 * one hash cannot be crafted from outside (the second would not be sent), mixed with the
 * sender's address (two hosts behind one router each send theirs). */
uint64_t fp_set_start(const struct fp_sink *sink);
int fp_set_seen(struct fp_sink *sink, uint64_t h);
void fp_set_done(struct fp_sink *sink, uint64_t h);

#endif
