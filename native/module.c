/*
 * module.c: the CPython binding of the flow engine (agent._engine). Binding only: the
 * work lives in flowtable.c and capture.c; plain values cross the boundary (ints, bytes,
 * str, flat tuples). agent/engine.py is the one Python module that imports it.
 *
 *   Engine(**settings)          max_flows, ring_records, *_us timeouts (see engine.h)
 *   .open_file(path)            add a pcap/pcapng file source
 *   .open_live(interface, snaplen, promiscuous, buffer_bytes, timeout_ms, bpf_filter)
 *   .run(timeout_ms[, pace_until_us]) -> int
 *                               capture with the GIL released; RUN_* status (files are
 *                               read up to pace_until_us when it is given: replay speed)
 *   .take() -> list[tuple]      finished records, in agent.flowrecord.FlowRecord order
 *   .bind_record_type(cls, end_reasons)   then .take_records() -> list[cls]: the same
 *                               records built straight into a slotted class (FlowRecord),
 *                               so Python pays no per-field cost per flow
 *   .flush() -> int             end every flow (forced) as far as the ring allows
 *   .counters() -> dict         engine counters, flows_active, max_flows, records_lost
 *   .stop()                     make a running run() return RUN_STOPPED (any thread)
 *   .close()                    release sources and tables
 *   .take_device_events() -> list[tuple]   fingerprints found (mac, ts_us, kind, value)
 *   .devices(changed_only) -> list[tuple]  device table entries (see device_tuple)
 *   .device_counters() -> dict  device table and extractor counters
 *   .bytes_per_slot             flow table bytes per slot (slot + hash bucket share)
 *   .clock_us                   the engine's clock: largest packet time seen (microseconds)
 * Errors: OpenError (LinkTypeError, FilterError) when a source cannot be opened,
 * ReadError (TruncatedError) when reading fails; all are OSError subclasses.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "engine.h"

#define RECORD_FIELDS 22
#define ERROR_TEXT_BYTES 768 /* room for a path or interface name and pcap's message */

/* FlowRecord's fields, in order: the tuple layout and the slots take_records() fills. */
static const char *RECORD_FIELD_NAMES[RECORD_FIELDS] = {
    "serial",        "ts_us",         "duration_us",    "proto",          "orig_addr",
    "orig_port",     "resp_addr",     "resp_port",      "vlan",           "inner_vlan",
    "orig_pkts",     "orig_ip_bytes", "orig_bytes",     "resp_pkts",      "resp_ip_bytes",
    "resp_bytes",    "orig_tcp_flags", "resp_tcp_flags", "conn_state",    "history",
    "end_reason",    "service"};
#define END_REASON_FIELD 20

typedef struct {
    PyObject_HEAD struct engine *engine;
    struct capture *capture;
    int running; /* run() is inside capture_run with the GIL released */
    /* bind_record_type(): the class, its slot offsets in field order, end reason names */
    PyTypeObject *record_type;
    Py_ssize_t record_offsets[RECORD_FIELDS];
    PyObject *end_reason_names[END_REASON_COUNT];
} EngineObject;

static PyObject *OpenError, *LinkTypeError, *FilterError, *ReadError, *TruncatedError;
/* Interned names of flow labels (enum app_service) and fingerprint kinds (enum fp_kind). */
static PyObject *service_names[SVC_COUNT], *fp_kind_names[FP_KIND_COUNT];

static int engine_usable(EngineObject *self)
{
    if (!self->engine) {
        PyErr_SetString(PyExc_ValueError, "the engine is closed");
        return 0;
    }
    if (self->running) {
        PyErr_SetString(PyExc_RuntimeError, "the engine is running in another thread");
        return 0;
    }
    return 1;
}

static PyObject *raise_status(enum capture_status status, const char *message)
{
    PyObject *type;
    switch (status) {
    case CAPTURE_ERR_LINKTYPE:
        type = LinkTypeError;
        break;
    case CAPTURE_ERR_FILTER:
        type = FilterError;
        break;
    case CAPTURE_ERR_TRUNCATED:
        type = TruncatedError;
        break;
    case CAPTURE_ERR_READ:
        type = ReadError;
        break;
    default:
        type = OpenError;
        break;
    }
    PyErr_SetString(type, message);
    return NULL;
}

/* ---------------------------------------------------------------- life cycle */

static void engine_release(EngineObject *self)
{
    capture_free(self->capture);
    engine_free(self->engine);
    self->capture = NULL;
    self->engine = NULL;
}

static int Engine_init(EngineObject *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"max_flows",   "ring_records", "tcp_idle_us",   "tcp_syn_idle_us",
                               "udp_idle_us", "icmp_idle_us", "other_idle_us", "tcp_linger_us",
                               "active_us",   "max_devices",  NULL};
    long long v[10] = {65536, 4096, 300000000LL, 30000000LL, 60000000LL,
                       60000000LL, 60000000LL, 5000000LL, 300000000LL, 4096};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$LLLLLLLLLL", keywords, &v[0], &v[1],
                                     &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]))
        return -1;
    for (int i = 0; i < 10; i++) {
        if (v[i] < 0 || ((i < 2 || i == 9) && v[i] > UINT32_MAX)) {
            PyErr_Format(PyExc_ValueError, "%s must be a non-negative number in range",
                         keywords[i]);
            return -1;
        }
    }
    struct engine_settings settings = {
        .max_flows = (uint32_t)v[0],
        .ring_records = (uint32_t)v[1],
        .tcp_idle_us = (uint64_t)v[2],
        .tcp_syn_idle_us = (uint64_t)v[3],
        .udp_idle_us = (uint64_t)v[4],
        .icmp_idle_us = (uint64_t)v[5],
        .other_idle_us = (uint64_t)v[6],
        .tcp_linger_us = (uint64_t)v[7],
        .active_us = (uint64_t)v[8],
        .max_devices = (uint32_t)v[9],
    };
    const char *problem = engine_settings_check(&settings);
    if (problem) {
        PyErr_SetString(PyExc_ValueError, problem);
        return -1;
    }
    if (self->running) {
        PyErr_SetString(PyExc_RuntimeError, "the engine is running in another thread");
        return -1;
    }
    engine_release(self); /* __init__ called again: start over */
    self->engine = engine_new(&settings);
    self->capture = self->engine ? capture_new(self->engine) : NULL;
    if (!self->capture) {
        engine_free(self->engine);
        self->engine = NULL;
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void Engine_dealloc(EngineObject *self)
{
    engine_release(self);
    Py_CLEAR(self->record_type);
    for (int i = 0; i < END_REASON_COUNT; i++)
        Py_CLEAR(self->end_reason_names[i]);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Engine_close(EngineObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->running) {
        PyErr_SetString(PyExc_RuntimeError, "the engine is running in another thread");
        return NULL;
    }
    engine_release(self);
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------- sources */

static PyObject *Engine_open_file(EngineObject *self, PyObject *args)
{
    PyObject *path;
    if (!PyArg_ParseTuple(args, "O&", PyUnicode_FSConverter, &path))
        return NULL;
    if (!engine_usable(self)) {
        Py_DECREF(path);
        return NULL;
    }
    char err[ERROR_TEXT_BYTES] = "";
    enum capture_status status =
        capture_open_file(self->capture, PyBytes_AS_STRING(path), err, sizeof err);
    Py_DECREF(path);
    if (status != CAPTURE_OK)
        return raise_status(status, err);
    Py_RETURN_NONE;
}

static PyObject *Engine_open_live(EngineObject *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"interface",  "snaplen",    "promiscuous", "buffer_bytes",
                               "timeout_ms", "bpf_filter", NULL};
    const char *interface;
    struct capture_live_options options = {CAPTURE_DEFAULT_SNAPLEN, 1,
                                           CAPTURE_DEFAULT_BUFFER_BYTES, 100, NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "s|ipiiz", keywords, &interface,
                                     &options.snaplen, &options.promiscuous,
                                     &options.buffer_bytes, &options.timeout_ms,
                                     &options.bpf_filter))
        return NULL;
    if (!engine_usable(self))
        return NULL;
    char err[ERROR_TEXT_BYTES] = "";
    enum capture_status status = capture_open_live(self->capture, interface, &options, err,
                                                   sizeof err);
    if (status != CAPTURE_OK)
        return raise_status(status, err);
    if (err[0] && PyErr_WarnEx(PyExc_RuntimeWarning, err, 1) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------- running */

static PyObject *Engine_run(EngineObject *self, PyObject *args)
{
    int timeout_ms;
    unsigned long long pace_until_us = 0;
    if (!PyArg_ParseTuple(args, "i|K", &timeout_ms, &pace_until_us))
        return NULL;
    if (!engine_usable(self))
        return NULL;
    capture_set_pace(self->capture, pace_until_us);
    char err[ERROR_TEXT_BYTES] = "";
    enum capture_status status;
    self->running = 1;
    Py_BEGIN_ALLOW_THREADS status = capture_run(self->capture, timeout_ms, err, sizeof err);
    Py_END_ALLOW_THREADS self->running = 0;
    if (status >= CAPTURE_ERR_OPEN)
        return raise_status(status, err);
    return PyLong_FromLong(status);
}

static PyObject *Engine_stop(EngineObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->capture)
        capture_stop(self->capture);
    Py_RETURN_NONE;
}

static PyObject *Engine_flush(EngineObject *self, PyObject *Py_UNUSED(ignored))
{
    if (!engine_usable(self))
        return NULL;
    return PyLong_FromUnsignedLong(engine_flush(self->engine));
}

/* ---------------------------------------------------------------- results */

static PyObject *optional_vlan(const struct flow_record *r, int i)
{
    return r->vlan_count > i ? PyLong_FromLong(r->vlan[i]) : Py_NewRef(Py_None);
}

/* Records share one object per distinct text (conn_state, history: a few hundred values)
 * and per recent address, instead of two fresh str and two bytes objects per flow: their
 * creation and freeing was a third of what a record costs Python. Direct-mapped, replaced
 * on collision; immutable objects, so sharing them changes no value. GIL held. */
#define TEXT_CACHE 512   /* power of two */
#define ADDR_CACHE 2048  /* power of two */
#define TEXT_CACHE_CHARS 24
static struct text_entry {
    char text[TEXT_CACHE_CHARS];
    PyObject *obj;
} text_cache[TEXT_CACHE];
static struct addr_entry {
    uint8_t addr[16];
    Py_ssize_t len;
    PyObject *obj;
} addr_cache[ADDR_CACHE];

static PyObject *cached_text(const char *text)
{
    size_t len = strnlen(text, TEXT_CACHE_CHARS);
    if (len == TEXT_CACHE_CHARS)
        return PyUnicode_FromString(text);
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)text[i]) * 16777619u;
    struct text_entry *entry = &text_cache[h & (TEXT_CACHE - 1)];
    if (entry->obj && memcmp(entry->text, text, len + 1) == 0)
        return Py_NewRef(entry->obj);
    PyObject *obj = PyUnicode_FromStringAndSize(text, (Py_ssize_t)len);
    if (!obj)
        return NULL;
    Py_XSETREF(entry->obj, Py_NewRef(obj));
    memcpy(entry->text, text, len + 1);
    return obj;
}

static PyObject *cached_address(const uint8_t *addr, Py_ssize_t len)
{
    uint64_t x = 0, y = 0;
    memcpy(&x, addr, len < 8 ? (size_t)len : 8);
    if (len > 8)
        memcpy(&y, addr + 8, (size_t)len - 8);
    uint64_t h = (x ^ (y * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)len) * 0xff51afd7ed558ccdULL;
    struct addr_entry *entry = &addr_cache[(h >> 40) & (ADDR_CACHE - 1)];
    if (entry->obj && entry->len == len && memcmp(entry->addr, addr, (size_t)len) == 0)
        return Py_NewRef(entry->obj);
    PyObject *obj = PyBytes_FromStringAndSize((const char *)addr, len);
    if (!obj)
        return NULL;
    Py_XSETREF(entry->obj, Py_NewRef(obj));
    memcpy(entry->addr, addr, (size_t)len);
    entry->len = len;
    return obj;
}

/* New references to a record's values in field order; 0, or -1 with an exception set.
 * The end reason is its number, or the bound name when `reason_name` is given. */
static int record_values(const struct flow_record *r, PyObject *reason_name,
                         PyObject *items[RECORD_FIELDS])
{
    Py_ssize_t addr_len = r->family == 6 ? 16 : 4;
    PyObject *values[RECORD_FIELDS] = {
        PyLong_FromUnsignedLongLong(r->serial),
        PyLong_FromUnsignedLongLong(r->ts_us),
        PyLong_FromUnsignedLongLong(r->duration_us),
        PyLong_FromLong(r->proto),
        cached_address(r->addr[0], addr_len),
        PyLong_FromLong(r->port[0]),
        cached_address(r->addr[1], addr_len),
        PyLong_FromLong(r->port[1]),
        optional_vlan(r, 0),
        optional_vlan(r, 1),
        PyLong_FromUnsignedLongLong(r->pkts[0]),
        PyLong_FromUnsignedLongLong(r->ip_bytes[0]),
        PyLong_FromUnsignedLongLong(r->payload_bytes[0]),
        PyLong_FromUnsignedLongLong(r->pkts[1]),
        PyLong_FromUnsignedLongLong(r->ip_bytes[1]),
        PyLong_FromUnsignedLongLong(r->payload_bytes[1]),
        PyLong_FromLong(r->tcp_flags[0]),
        PyLong_FromLong(r->tcp_flags[1]),
        cached_text(r->conn_state),
        cached_text(r->history),
        reason_name ? Py_NewRef(reason_name) : PyLong_FromLong(r->end_reason),
        r->service && r->service < SVC_COUNT ? Py_NewRef(service_names[r->service])
                                             : Py_NewRef(Py_None),
    };
    int complete = 1;
    for (int i = 0; i < RECORD_FIELDS; i++)
        complete = complete && values[i] != NULL;
    if (!complete) {
        for (int i = 0; i < RECORD_FIELDS; i++)
            Py_XDECREF(values[i]);
        return -1;
    }
    memcpy(items, values, sizeof values);
    return 0;
}

/* One record as a flat tuple in FlowRecord's field order (end reason as its number). */
static PyObject *record_tuple(const struct flow_record *r)
{
    PyObject *items[RECORD_FIELDS];
    PyObject *tuple = PyTuple_New(RECORD_FIELDS);
    if (!tuple)
        return NULL;
    if (record_values(r, NULL, items) < 0) {
        Py_DECREF(tuple);
        return NULL;
    }
    for (int i = 0; i < RECORD_FIELDS; i++)
        PyTuple_SET_ITEM(tuple, i, items[i]);
    return tuple;
}

/* One record as an instance of the bound class, its slots filled directly (what the
 * class's own __init__ would store, without 22 Python-level setattr calls). */
static PyObject *record_object(EngineObject *self, const struct flow_record *r)
{
    PyObject *items[RECORD_FIELDS];
    PyTypeObject *type = self->record_type;
    PyObject *reason = self->end_reason_names[r->end_reason < END_REASON_COUNT ? r->end_reason
                                                                              : 0];
    PyObject *obj = type->tp_alloc(type, 0);
    if (!obj)
        return NULL;
    if (record_values(r, reason, items) < 0) {
        Py_DECREF(obj);
        return NULL;
    }
    for (int i = 0; i < RECORD_FIELDS; i++)
        *(PyObject **)((char *)obj + self->record_offsets[i]) = items[i];
    /* Its fields are ints, bytes, str and None: it can never be part of a reference
     * cycle, so the cyclic GC need not traverse it (CPython untracks such tuples too). */
    if (PyObject_GC_IsTracked(obj))
        PyObject_GC_UnTrack(obj);
    return obj;
}

static PyObject *Engine_bind_record_type(EngineObject *self, PyObject *args)
{
    PyObject *cls, *reasons;
    if (!PyArg_ParseTuple(args, "O!O!", &PyType_Type, &cls, &PyTuple_Type, &reasons))
        return NULL;
    PyTypeObject *type = (PyTypeObject *)cls;
    if (PyTuple_GET_SIZE(reasons) != END_REASON_COUNT) {
        PyErr_Format(PyExc_ValueError, "end_reasons must name all %d end reasons",
                     END_REASON_COUNT);
        return NULL;
    }
    if (type->tp_itemsize != 0 || type->tp_alloc == NULL) {
        PyErr_SetString(PyExc_TypeError, "record type must be a fixed-size class");
        return NULL;
    }
    Py_ssize_t offsets[RECORD_FIELDS];
    for (int i = 0; i < RECORD_FIELDS; i++) {
        PyObject *descr = PyDict_GetItemString(type->tp_dict, RECORD_FIELD_NAMES[i]);
        const PyMemberDef *member =
            descr && Py_IS_TYPE(descr, &PyMemberDescr_Type)
                ? ((PyMemberDescrObject *)descr)->d_member
                : NULL;
        if (!member || member->type != T_OBJECT_EX || member->offset <= 0 ||
            (size_t)member->offset + sizeof(PyObject *) > (size_t)type->tp_basicsize ||
            ((PyDescrObject *)descr)->d_type != type) {
            PyErr_Format(PyExc_TypeError, "record type %s has no slot named %s",
                         type->tp_name, RECORD_FIELD_NAMES[i]);
            return NULL;
        }
        offsets[i] = member->offset;
    }
    for (int i = 0; i < END_REASON_COUNT; i++) {
        if (!PyUnicode_Check(PyTuple_GET_ITEM(reasons, i))) {
            PyErr_SetString(PyExc_TypeError, "end reason names must be str");
            return NULL;
        }
    }
    Py_XSETREF(self->record_type, (PyTypeObject *)Py_NewRef(cls));
    memcpy(self->record_offsets, offsets, sizeof offsets);
    for (int i = 0; i < END_REASON_COUNT; i++)
        Py_XSETREF(self->end_reason_names[i], Py_NewRef(PyTuple_GET_ITEM(reasons, i)));
    Py_RETURN_NONE;
}

/* Every waiting record, as tuples or bound-class objects; the ring keeps them on failure. */
static PyObject *take_converted(EngineObject *self, int as_objects)
{
    if (!engine_usable(self))
        return NULL;
    if (as_objects && !self->record_type) {
        PyErr_SetString(PyExc_RuntimeError, "bind_record_type() was not called");
        return NULL;
    }
    uint32_t count = engine_ring_count(self->engine);
    PyObject *list = PyList_New(count);
    if (!list)
        return NULL;
    for (uint32_t i = 0; i < count; i++) {
        const struct flow_record *r = engine_ring_peek(self->engine, i);
        PyObject *record = as_objects ? record_object(self, r) : record_tuple(r);
        if (!record) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, record);
    }
    engine_ring_consume(self->engine, count);
    return list;
}

static PyObject *Engine_take(EngineObject *self, PyObject *Py_UNUSED(ignored))
{
    return take_converted(self, 0);
}

static PyObject *Engine_take_records(EngineObject *self, PyObject *Py_UNUSED(ignored))
{
    return take_converted(self, 1);
}

static int put_counter(PyObject *dict, const char *name, unsigned long long value)
{
    PyObject *number = PyLong_FromUnsignedLongLong(value);
    if (!number)
        return -1;
    int rc = PyDict_SetItemString(dict, name, number);
    Py_DECREF(number);
    return rc;
}

static PyObject *Engine_counters(EngineObject *self, PyObject *Py_UNUSED(ignored))
{
    if (!engine_usable(self))
        return NULL;
    static const char *reason_names[END_REASON_COUNT] = {
        "flows_ended_idle", "flows_ended_active", "flows_ended_end", "flows_ended_forced",
        "flows_ended_resources"};
    const struct engine_counters *c = engine_counters(self->engine);
    PyObject *dict = PyDict_New();
    if (!dict)
        return NULL;
    int rc = put_counter(dict, "packets_seen", c->packets_seen) |
             put_counter(dict, "bytes_seen", c->bytes_seen) |
             put_counter(dict, "packets_in_flows", c->packets_in_flows) |
             put_counter(dict, "non_ip", c->non_ip) |
             put_counter(dict, "malformed", c->malformed) |
             put_counter(dict, "truncated", c->truncated) |
             put_counter(dict, "fragments_unmatched", c->fragments_unmatched) |
             put_counter(dict, "flows_created", c->flows_created) |
             put_counter(dict, "kernel_drops", c->kernel_drops) |
             put_counter(dict, "interface_drops", c->interface_drops) |
             put_counter(dict, "flows_active", engine_flows_active(self->engine)) |
             put_counter(dict, "max_flows", engine_max_flows(self->engine)) |
             put_counter(dict, "records_lost", engine_records_lost(self->engine));
    for (int i = 0; i < END_REASON_COUNT; i++)
        rc |= put_counter(dict, reason_names[i], c->flows_ended[i]);
    if (rc) {
        Py_DECREF(dict);
        return NULL;
    }
    return dict;
}

/* ---------------------------------------------------------------- devices */

/* The device table, or NULL with an exception (closed engine, or max_devices 0). */
static struct device_table *usable_devices(EngineObject *self)
{
    if (!engine_usable(self))
        return NULL;
    struct device_table *t = engine_devices(self->engine);
    if (!t)
        PyErr_SetString(PyExc_RuntimeError, "the device table is off (max_devices 0)");
    return t;
}

static PyObject *Engine_take_device_events(EngineObject *self, PyObject *Py_UNUSED(ignored))
{
    struct device_table *t = usable_devices(self);
    if (!t)
        return NULL;
    uint32_t count = devices_event_count(t);
    PyObject *list = PyList_New(count);
    if (!list)
        return NULL;
    for (uint32_t i = 0; i < count; i++) {
        const struct device_event *ev = devices_event_peek(t, i);
        PyObject *kind = fp_kind_names[ev->kind < FP_KIND_COUNT ? ev->kind : 0];
        PyObject *item = Py_BuildValue("(y#KOy#)", (const char *)ev->mac, (Py_ssize_t)6,
                                       (unsigned long long)ev->ts_us, kind,
                                       (const char *)ev->value, (Py_ssize_t)ev->len);
        if (!item) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, item);
    }
    devices_event_consume(t, count);
    return list;
}

/* (mac, first_seen_us, last_seen_us, pkts_sent, bytes_sent, pkts_received,
 *  bytes_received, ipv4 (tuple of 4-byte bytes), ipv6 (16-byte bytes), vlans (ints),
 *  services ((proto, port) pairs), peers_estimate, protocols (tuple of labels),
 *  hl7_messages, is_new) */
static int append_device(const struct device_view *v, void *arg)
{
    PyObject *list = arg;
    PyObject *v4 = PyTuple_New(v->n_v4), *v6 = PyTuple_New(v->n_v6),
             *vlans = PyTuple_New(v->n_vlans), *services = PyTuple_New(v->n_services),
             *protocols = PyList_New(0);
    int ok = v4 && v6 && vlans && services && protocols;
    for (int i = 0; ok && i < v->n_v4; i++)
        ok = !PyTuple_SetItem(v4, i, PyBytes_FromStringAndSize((const char *)v->v4[i], 4));
    for (int i = 0; ok && i < v->n_v6; i++)
        ok = !PyTuple_SetItem(v6, i, PyBytes_FromStringAndSize((const char *)v->v6[i], 16));
    for (int i = 0; ok && i < v->n_vlans; i++)
        ok = !PyTuple_SetItem(vlans, i, PyLong_FromLong(v->vlans[i]));
    for (int i = 0; ok && i < v->n_services; i++)
        ok = !PyTuple_SetItem(services, i,
                              Py_BuildValue("(ii)", v->service_protos[i], v->service_ports[i]));
    for (int s = 1; ok && s < SVC_COUNT; s++)
        if (v->protocols & (1u << s))
            ok = !PyList_Append(protocols, service_names[s]);
    PyObject *item = NULL;
    if (ok)
        item = Py_BuildValue("(y#KKKKKKOOOOIOKO)", (const char *)v->mac, (Py_ssize_t)6,
                             (unsigned long long)v->first_seen_us,
                             (unsigned long long)v->last_seen_us,
                             (unsigned long long)v->pkts_sent,
                             (unsigned long long)v->bytes_sent,
                             (unsigned long long)v->pkts_received,
                             (unsigned long long)v->bytes_received, v4, v6, vlans, services,
                             (unsigned int)v->peers_estimate, protocols,
                             (unsigned long long)v->hl7_messages,
                             v->is_new ? Py_True : Py_False);
    Py_XDECREF(v4);
    Py_XDECREF(v6);
    Py_XDECREF(vlans);
    Py_XDECREF(services);
    Py_XDECREF(protocols);
    if (!item)
        return -1;
    int rc = PyList_Append(list, item);
    Py_DECREF(item);
    return rc;
}

static PyObject *Engine_devices(EngineObject *self, PyObject *args)
{
    int changed_only = 0;
    if (!PyArg_ParseTuple(args, "|p", &changed_only))
        return NULL;
    struct device_table *t = usable_devices(self);
    if (!t)
        return NULL;
    PyObject *list = PyList_New(0);
    if (!list)
        return NULL;
    devices_visit(t, changed_only, append_device, list);
    if (PyErr_Occurred()) {
        Py_DECREF(list);
        return NULL;
    }
    return list;
}

static PyObject *Engine_device_counters(EngineObject *self, PyObject *Py_UNUSED(ignored))
{
    struct device_table *t = usable_devices(self);
    if (!t)
        return NULL;
    const struct device_counters *c = devices_counters(t);
    PyObject *dict = PyDict_New();
    if (!dict)
        return NULL;
    int rc = put_counter(dict, "devices_created", c->devices_created) |
             put_counter(dict, "devices_evicted", c->devices_evicted) |
             put_counter(dict, "devices_active", devices_active(t)) |
             put_counter(dict, "max_devices", devices_max(t)) |
             put_counter(dict, "device_events_emitted", c->events_emitted) |
             put_counter(dict, "device_events_dropped", c->events_dropped) |
             put_counter(dict, "extract_ok", c->extract_ok) |
             put_counter(dict, "extract_partial", c->extract_partial) |
             put_counter(dict, "extract_malformed", c->extract_malformed) |
             put_counter(dict, "addresses_overflow", c->addresses_overflow) |
             put_counter(dict, "hl7_messages", c->hl7_messages);
    if (rc) {
        Py_DECREF(dict);
        return NULL;
    }
    return dict;
}

static PyObject *Engine_get_bytes_per_slot(EngineObject *self, void *Py_UNUSED(closure))
{
    if (!engine_usable(self))
        return NULL;
    return PyFloat_FromDouble((double)engine_table_bytes(self->engine) /
                              engine_max_flows(self->engine));
}

static PyMethodDef Engine_methods[] = {
    {"open_file", (PyCFunction)Engine_open_file, METH_VARARGS, "Add a capture file source."},
    {"open_live", (PyCFunction)(void (*)(void))Engine_open_live, METH_VARARGS | METH_KEYWORDS,
     "Add a live interface source."},
    {"run", (PyCFunction)Engine_run, METH_VARARGS,
     "Capture for at most about timeout_ms; returns a RUN_* status."},
    {"take", (PyCFunction)Engine_take, METH_NOARGS, "Finished records as flat tuples."},
    {"bind_record_type", (PyCFunction)Engine_bind_record_type, METH_VARARGS,
     "Bind the slotted record class and the end reason names for take_records()."},
    {"take_records", (PyCFunction)Engine_take_records, METH_NOARGS,
     "Finished records as instances of the bound record class."},
    {"flush", (PyCFunction)Engine_flush, METH_NOARGS,
     "End every flow (forced) as far as the ring has room; returns the flows left."},
    {"counters", (PyCFunction)Engine_counters, METH_NOARGS, "Engine counters as a dict."},
    {"stop", (PyCFunction)Engine_stop, METH_NOARGS, "Make a running run() return RUN_STOPPED."},
    {"take_device_events", (PyCFunction)Engine_take_device_events, METH_NOARGS,
     "Fingerprints found since the last call: (mac, ts_us, kind, value) tuples."},
    {"devices", (PyCFunction)Engine_devices, METH_VARARGS,
     "Device table entries as tuples; devices(True): only those changed since last asked."},
    {"device_counters", (PyCFunction)Engine_device_counters, METH_NOARGS,
     "Device table and extractor counters as a dict."},
    {"close", (PyCFunction)Engine_close, METH_NOARGS, "Close sources and free the tables."},
    {NULL, NULL, 0, NULL}};

static PyObject *Engine_get_clock_us(EngineObject *self, void *Py_UNUSED(closure))
{
    if (!engine_usable(self))
        return NULL;
    return PyLong_FromUnsignedLongLong(engine_clock_us(self->engine));
}

static PyGetSetDef Engine_getset[] = {
    {"clock_us", (getter)Engine_get_clock_us, NULL,
     "The engine's clock: the largest packet time seen, in microseconds.", NULL},
    {"bytes_per_slot", (getter)Engine_get_bytes_per_slot, NULL,
     "Flow table bytes per flow slot (the slot and its share of hash buckets).", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject EngineType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "agent._engine.Engine",
    .tp_basicsize = sizeof(EngineObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The flow engine: capture sources, flow table and finished-record ring.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Engine_init,
    .tp_dealloc = (destructor)Engine_dealloc,
    .tp_methods = Engine_methods,
    .tp_getset = Engine_getset,
};

/* ---------------------------------------------------------------- module */

static struct PyModuleDef engine_module = {PyModuleDef_HEAD_INIT, "agent._engine",
                                           "The C flow engine (binding only).", -1,
                                           NULL};

static int add_exception(PyObject *module, PyObject **slot, const char *name, PyObject *base)
{
    char qualified[64];
    snprintf(qualified, sizeof qualified, "agent._engine.%s", name);
    *slot = PyErr_NewException(qualified, base, NULL);
    return *slot ? PyModule_AddObjectRef(module, name, *slot) : -1;
}

PyMODINIT_FUNC PyInit__engine(void)
{
    if (PyType_Ready(&EngineType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&engine_module);
    if (!m)
        return NULL;
    for (int i = 0; i < SVC_COUNT; i++)
        if (!service_names[i] && !(service_names[i] = PyUnicode_InternFromString(
                                        APP_SERVICE_NAMES[i]))) {
            Py_DECREF(m);
            return NULL;
        }
    for (int i = 0; i < FP_KIND_COUNT; i++)
        if (!fp_kind_names[i] &&
            !(fp_kind_names[i] = PyUnicode_InternFromString(FP_KIND_NAMES[i]))) {
            Py_DECREF(m);
            return NULL;
        }
    if (PyModule_AddObjectRef(m, "Engine", (PyObject *)&EngineType) < 0 ||
        add_exception(m, &OpenError, "OpenError", PyExc_OSError) < 0 ||
        add_exception(m, &LinkTypeError, "LinkTypeError", OpenError) < 0 ||
        add_exception(m, &FilterError, "FilterError", OpenError) < 0 ||
        add_exception(m, &ReadError, "ReadError", PyExc_OSError) < 0 ||
        add_exception(m, &TruncatedError, "TruncatedError", ReadError) < 0 ||
        PyModule_AddIntConstant(m, "RUN_EOF", CAPTURE_EOF) < 0 ||
        PyModule_AddIntConstant(m, "RUN_TIMEOUT", CAPTURE_TIMEOUT) < 0 ||
        PyModule_AddIntConstant(m, "RUN_RING_FULL", CAPTURE_RING_FULL) < 0 ||
        PyModule_AddIntConstant(m, "RUN_STOPPED", CAPTURE_STOPPED) < 0 ||
        PyModule_AddIntConstant(m, "RUN_PACED", CAPTURE_PACED) < 0 ||
        PyModule_AddIntConstant(m, "SLOT_BYTES", (long)engine_slot_bytes()) < 0 ||
        PyModule_AddIntConstant(m, "DEFAULT_SNAPLEN", CAPTURE_DEFAULT_SNAPLEN) < 0 ||
        PyModule_AddIntConstant(m, "DEFAULT_BUFFER_BYTES", CAPTURE_DEFAULT_BUFFER_BYTES) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
