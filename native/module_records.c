/*
 * module_records.c: finished flow records into Python, as flat tuples (take) or straight
 * into the slots of a bound class (bind_record_type, take_records). Part of the binding;
 * see module.c.
 */
#include "module.h"

#include <structmember.h>

/* FlowRecord's fields, in order: the tuple layout and the slots take_records() fills. */
static const char *RECORD_FIELD_NAMES[RECORD_FIELDS] = {
    "serial",        "ts_us",         "duration_us",    "proto",          "orig_addr",
    "orig_port",     "resp_addr",     "resp_port",      "vlan",           "inner_vlan",
    "orig_pkts",     "orig_ip_bytes", "orig_bytes",     "resp_pkts",      "resp_ip_bytes",
    "resp_bytes",    "orig_tcp_flags", "resp_tcp_flags", "conn_state",    "history",
    "end_reason",    "service",       "orig_l2_addr",   "resp_l2_addr",   "server_name"};

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

/* An end's MAC (6 bytes, shared like addresses), or None when not seen. */
static PyObject *optional_mac(const struct flow_record *r, int i)
{
    return r->mac_seen & (1u << i) ? cached_address(r->mac[i], 6) : Py_NewRef(Py_None);
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
        optional_mac(r, 0),
        optional_mac(r, 1),
        r->server_name[0] ? cached_text(r->server_name) : Py_NewRef(Py_None),
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

PyObject *Engine_bind_record_type(EngineObject *self, PyObject *args)
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

PyObject *Engine_take(EngineObject *self, PyObject *Py_UNUSED(ignored))
{
    return take_converted(self, 0);
}

PyObject *Engine_take_records(EngineObject *self, PyObject *Py_UNUSED(ignored))
{
    return take_converted(self, 1);
}
