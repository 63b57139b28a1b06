/*
 * module.c: the CPython binding of the flow engine (agent._engine). Binding only: the
 * work lives in flowtable.c and capture.c; plain values cross the boundary (ints, bytes,
 * str, flat tuples). agent/engine.py is the one Python module that imports it.
 *
 *   Engine(**settings)          max_flows, ring_records, *_us timeouts (see engine.h)
 *   .open_file(path)            add a pcap/pcapng file source
 *   .open_live(interface, snaplen, promiscuous, buffer_bytes, timeout_ms, bpf_filter)
 *   .run(timeout_ms) -> int     capture with the GIL released; RUN_* status
 *   .take() -> list[tuple]      finished records, in agent.flowrecord.FlowRecord order
 *   .flush() -> int             end every flow (forced) as far as the ring allows
 *   .counters() -> dict         engine counters, flows_active, max_flows, records_lost
 *   .stop()                     make a running run() return RUN_STOPPED (any thread)
 *   .close()                    release sources and tables
 *   .bytes_per_slot             flow table bytes per slot (slot + hash bucket share)
 * Errors: OpenError (LinkTypeError, FilterError) when a source cannot be opened,
 * ReadError (TruncatedError) when reading fails; all are OSError subclasses.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "engine.h"

#define RECORD_FIELDS 22
#define ERROR_TEXT_BYTES 768 /* room for a path or interface name and pcap's message */

typedef struct {
    PyObject_HEAD struct engine *engine;
    struct capture *capture;
    int running; /* run() is inside capture_run with the GIL released */
} EngineObject;

static PyObject *OpenError, *LinkTypeError, *FilterError, *ReadError, *TruncatedError;

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

static int Engine_init(EngineObject *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"max_flows",   "ring_records", "tcp_idle_us",   "tcp_syn_idle_us",
                               "udp_idle_us", "icmp_idle_us", "other_idle_us", "tcp_linger_us",
                               "active_us",   NULL};
    long long v[9] = {65536, 4096, 300000000LL, 30000000LL, 60000000LL,
                      60000000LL, 60000000LL, 5000000LL, 300000000LL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$LLLLLLLLL", keywords, &v[0], &v[1], &v[2],
                                     &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]))
        return -1;
    for (int i = 0; i < 9; i++) {
        if (v[i] < 0 || (i < 2 && v[i] > UINT32_MAX)) {
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
    };
    const char *problem = engine_settings_check(&settings);
    if (problem) {
        PyErr_SetString(PyExc_ValueError, problem);
        return -1;
    }
    if (self->engine) { /* __init__ called twice: start over */
        capture_free(self->capture);
        engine_free(self->engine);
        self->capture = NULL;
        self->engine = NULL;
    }
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

static void engine_release(EngineObject *self)
{
    capture_free(self->capture);
    engine_free(self->engine);
    self->capture = NULL;
    self->engine = NULL;
}

static void Engine_dealloc(EngineObject *self)
{
    engine_release(self);
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
    if (!PyArg_ParseTuple(args, "i", &timeout_ms))
        return NULL;
    if (!engine_usable(self))
        return NULL;
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

/* One record as a flat tuple in FlowRecord's field order (end reason as its number). */
static PyObject *record_tuple(const struct flow_record *r)
{
    Py_ssize_t addr_len = r->family == 6 ? 16 : 4;
    PyObject *items[RECORD_FIELDS] = {
        PyLong_FromUnsignedLongLong(r->serial),
        PyLong_FromUnsignedLongLong(r->ts_us),
        PyLong_FromUnsignedLongLong(r->duration_us),
        PyLong_FromLong(r->proto),
        PyBytes_FromStringAndSize((const char *)r->addr[0], addr_len),
        PyLong_FromLong(r->port[0]),
        PyBytes_FromStringAndSize((const char *)r->addr[1], addr_len),
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
        PyUnicode_FromString(r->conn_state),
        PyUnicode_FromString(r->history),
        PyLong_FromLong(r->end_reason),
        Py_NewRef(Py_None), /* service: no extractor labels flows yet */
    };
    PyObject *tuple = PyTuple_New(RECORD_FIELDS);
    int complete = tuple != NULL;
    for (int i = 0; i < RECORD_FIELDS; i++)
        complete = complete && items[i] != NULL;
    if (!complete) {
        for (int i = 0; i < RECORD_FIELDS; i++)
            Py_XDECREF(items[i]);
        Py_XDECREF(tuple);
        return NULL;
    }
    for (int i = 0; i < RECORD_FIELDS; i++)
        PyTuple_SET_ITEM(tuple, i, items[i]);
    return tuple;
}

static PyObject *Engine_take(EngineObject *self, PyObject *Py_UNUSED(ignored))
{
    if (!engine_usable(self))
        return NULL;
    uint32_t count = engine_ring_count(self->engine);
    PyObject *list = PyList_New(count);
    if (!list)
        return NULL;
    for (uint32_t i = 0; i < count; i++) {
        PyObject *record = record_tuple(engine_ring_peek(self->engine, i));
        if (!record) {
            Py_DECREF(list); /* the records stay in the ring */
            return NULL;
        }
        PyList_SET_ITEM(list, i, record);
    }
    engine_ring_consume(self->engine, count);
    return list;
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
    {"flush", (PyCFunction)Engine_flush, METH_NOARGS,
     "End every flow (forced) as far as the ring has room; returns the flows left."},
    {"counters", (PyCFunction)Engine_counters, METH_NOARGS, "Engine counters as a dict."},
    {"stop", (PyCFunction)Engine_stop, METH_NOARGS, "Make a running run() return RUN_STOPPED."},
    {"close", (PyCFunction)Engine_close, METH_NOARGS, "Close sources and free the tables."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Engine_getset[] = {
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
        PyModule_AddIntConstant(m, "SLOT_BYTES", (long)engine_slot_bytes()) < 0 ||
        PyModule_AddIntConstant(m, "DEFAULT_SNAPLEN", CAPTURE_DEFAULT_SNAPLEN) < 0 ||
        PyModule_AddIntConstant(m, "DEFAULT_BUFFER_BYTES", CAPTURE_DEFAULT_BUFFER_BYTES) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
