/*
 * module.c: the CPython binding of the flow engine (agent._engine): the Engine type, its
 * life cycle, sources, running and counters, and the module's init. Binding only: the
 * work lives in flowtable.c and capture.c; plain values cross the boundary (ints, bytes,
 * str, flat tuples). agent/engine.py is the one Python module that imports it. Finished
 * records are converted in module_records.c, the device table in module_devices.c.
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
 *   .take_into_batch(batch, max_records) -> int   records into a FlowBatch, which C
 *                               encodes as wire schema 3 (module_batch.c)
 *   .flush() -> int             end every flow (forced) as far as the ring allows
 *   .counters() -> dict         engine counters, flows_active, max_flows, records_lost
 *   .stop()                     make a running run() return RUN_STOPPED (any thread)
 *   .close()                    release sources and tables
 *   .write_json_lines(fd, boot_id) -> int / .flush_json_lines(fd, boot_id) -> int
 *                               take() / flush() as `flows --json` lines written to fd
 *                               (module_json.c)
 *   .take_device_events() -> list[tuple]   fingerprints found (mac, ts_us, kind, value)
 *   .devices(changed_only) -> list[tuple]  device table entries (see device_tuple)
 *   .device_counters() -> dict  device table and extractor counters
 *   .bytes_per_slot             flow table bytes per slot (slot + hash bucket share)
 *   .clock_us                   the engine's clock: largest packet time seen (microseconds)
 *   .hash_keys_from_clock       hash keys the process took from the clock (getrandom failed)
 * Errors: OpenError (LinkTypeError, FilterError) when a source cannot be opened,
 * ReadError (TruncatedError) when reading fails; all are OSError subclasses.
 */
#include "module.h"

#define ERROR_TEXT_BYTES 768 /* room for a path or interface name and pcap's message */

static PyObject *OpenError, *LinkTypeError, *FilterError, *ReadError, *TruncatedError;
PyObject *service_names[SVC_COUNT], *fp_kind_names[FP_KIND_COUNT];

int engine_usable(EngineObject *self)
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

/* ---------------------------------------------------------------- counters */

PyObject *counters_dict(const struct named_counter *counters, size_t count)
{
    PyObject *dict = PyDict_New();
    for (size_t i = 0; dict && i < count; i++) {
        PyObject *number = PyLong_FromUnsignedLongLong(counters[i].value);
        if (!number || PyDict_SetItemString(dict, counters[i].name, number) < 0)
            Py_CLEAR(dict);
        Py_XDECREF(number);
    }
    return dict;
}

static PyObject *Engine_counters(EngineObject *self, PyObject *Py_UNUSED(ignored))
{
    if (!engine_usable(self))
        return NULL;
    const struct engine_counters *c = engine_counters(self->engine);
    const struct named_counter counters[] = {
        {"packets_seen", c->packets_seen},
        {"bytes_seen", c->bytes_seen},
        {"packets_in_flows", c->packets_in_flows},
        {"non_ip", c->non_ip},
        {"malformed", c->malformed},
        {"truncated", c->truncated},
        {"fragments_unmatched", c->fragments_unmatched},
        {"flows_created", c->flows_created},
        {"clock_steps_held", c->clock_steps_held},
        {"kernel_drops", c->kernel_drops},
        {"interface_drops", c->interface_drops},
        {"flow_macs_unrecorded", c->flow_macs_unrecorded},
        {"server_names_replaced", c->server_names_replaced},
        {"flows_active", engine_flows_active(self->engine)},
        {"max_flows", engine_max_flows(self->engine)},
        {"records_lost", engine_records_lost(self->engine)},
        {"flows_ended_idle", c->flows_ended[END_IDLE]},
        {"flows_ended_active", c->flows_ended[END_ACTIVE]},
        {"flows_ended_end", c->flows_ended[END_END]},
        {"flows_ended_forced", c->flows_ended[END_FORCED]},
        {"flows_ended_resources", c->flows_ended[END_RESOURCES]},
    };
    return counters_dict(counters, sizeof counters / sizeof *counters);
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
    {"take_into_batch", (PyCFunction)Engine_take_into_batch, METH_VARARGS,
     "Move up to max_records waiting records into a FlowBatch; returns how many."},
    {"flush", (PyCFunction)Engine_flush, METH_NOARGS,
     "End every flow (forced) as far as the ring has room; returns the flows left."},
    {"write_json_lines", (PyCFunction)Engine_write_json_lines, METH_VARARGS,
     "Write every waiting record to fd as a flows --json line; returns how many."},
    {"flush_json_lines", (PyCFunction)Engine_flush_json_lines, METH_VARARGS,
     "flush() written to fd as flows --json lines; returns how many records."},
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

static PyObject *Engine_get_hash_keys_from_clock(EngineObject *Py_UNUSED(self),
                                                  void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLong(engine_random_seed_fallbacks());
}

static PyGetSetDef Engine_getset[] = {
    {"clock_us", (getter)Engine_get_clock_us, NULL,
     "The engine's clock: the largest packet time seen, in microseconds.", NULL},
    {"hash_keys_from_clock", (getter)Engine_get_hash_keys_from_clock, NULL,
     "Hash keys this process took from the clock because getrandom failed (guessable).",
     NULL},
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
        module_batch_add_type(m) < 0 ||
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
