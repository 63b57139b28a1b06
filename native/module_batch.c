/*
 * module_batch.c: finished flow records into a batch that C encodes (native/flow_batch.c),
 * so the daemon's flows never become Python objects. Part of the binding; see module.c.
 *
 *   FlowBatch(collect_names=True)      an empty batch (False: [privacy] tls_sni "drop")
 *   Engine.take_into_batch(batch, max_records) -> int
 *                                      move up to max_records waiting records from the
 *                                      engine's ring into the batch (oldest first)
 *   FlowBatch.encode(start, stop) -> (fragment, entries, names)
 *                                      wire schema 3 keys 16..27 for the batch's records
 *                                      start..stop-1 in (ts_us, serial) order, the number
 *                                      of map entries in it, and the distinct server names
 *                                      (list of str in order of first use, None when none)
 *   FlowBatch.add_record(fields)       one record from a tuple in FlowRecord's field order
 *                                      (end reason as its number): for the tests, which
 *                                      feed both encoders the same records
 *   FlowBatch.clear(), FlowBatch.count
 */
#include "module.h"

#include "flow_batch.h"

typedef struct {
    PyObject_HEAD struct flow_batch *batch;
} FlowBatchObject;

static int FlowBatch_init(FlowBatchObject *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"collect_names", NULL};
    int collect_names = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|p", keywords, &collect_names))
        return -1;
    flow_batch_free(self->batch);
    self->batch = flow_batch_new(collect_names);
    if (!self->batch) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void FlowBatch_dealloc(FlowBatchObject *self)
{
    flow_batch_free(self->batch);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int batch_usable(FlowBatchObject *self)
{
    if (!self->batch) {
        PyErr_SetString(PyExc_ValueError, "FlowBatch.__init__ was not called");
        return 0;
    }
    return 1;
}

static PyObject *raise_batch_status(enum flow_batch_status status)
{
    switch (status) {
    case FLOW_BATCH_NOMEM:
        return PyErr_NoMemory();
    case FLOW_BATCH_FULL:
        PyErr_SetString(PyExc_OverflowError, "the flow batch holds its most records");
        return NULL;
    case FLOW_BATCH_BAD_RECORD:
        PyErr_SetString(PyExc_ValueError, "a record the wire schema cannot carry");
        return NULL;
    default:
        PyErr_SetString(PyExc_IndexError, "batch range out of bounds or empty");
        return NULL;
    }
}

static PyObject *FlowBatch_encode(FlowBatchObject *self, PyObject *args)
{
    unsigned int start, stop;
    if (!PyArg_ParseTuple(args, "II", &start, &stop) || !batch_usable(self))
        return NULL;
    struct flow_batch_result result;
    enum flow_batch_status status = flow_batch_encode(self->batch, start, stop, &result);
    if (status != FLOW_BATCH_OK)
        return raise_batch_status(status);
    PyObject *names = Py_NewRef(Py_None);
    if (result.name_count) {
        Py_SETREF(names, PyList_New(result.name_count));
        for (uint32_t i = 0; names && i < result.name_count; i++) {
            PyObject *name = PyUnicode_DecodeUTF8(result.names[i], result.name_lengths[i], NULL);
            if (!name)
                Py_CLEAR(names);
            else
                PyList_SET_ITEM(names, i, name);
        }
    }
    PyObject *fragment =
        names ? PyBytes_FromStringAndSize((const char *)result.bytes, (Py_ssize_t)result.len)
              : NULL;
    PyObject *out = fragment ? Py_BuildValue("(OIO)", fragment, result.entries, names) : NULL;
    Py_XDECREF(fragment);
    Py_XDECREF(names);
    flow_batch_result_free(&result);
    return out;
}

/* An optional 6-byte MAC field into the record; 0, or -1 with an exception set. */
static int mac_field(PyObject *value, struct flow_record *r, int end)
{
    if (value == Py_None)
        return 0;
    if (!PyBytes_Check(value) || PyBytes_GET_SIZE(value) != 6) {
        PyErr_SetString(PyExc_ValueError, "a MAC must be 6 bytes or None");
        return -1;
    }
    memcpy(r->mac[end], PyBytes_AS_STRING(value), 6);
    r->mac_seen |= (uint8_t)(1u << end);
    return 0;
}

static PyObject *FlowBatch_add_record(FlowBatchObject *self, PyObject *args)
{
    struct flow_record r;
    memset(&r, 0, sizeof r);
    const char *orig, *resp, *conn_state, *history;
    Py_ssize_t orig_len, resp_len;
    PyObject *vlan, *inner_vlan, *service, *orig_mac, *resp_mac, *name;
    unsigned long long serial, ts_us, duration_us, counts[6];
    unsigned char proto, flags[2], end_reason;
    unsigned short ports[2];
    if (!PyArg_ParseTuple(args, "(KKKby#Hy#HOOKKKKKKbbssbOOOO)", &serial, &ts_us, &duration_us,
                          &proto, &orig, &orig_len, &ports[0], &resp, &resp_len, &ports[1],
                          &vlan, &inner_vlan, &counts[0], &counts[1], &counts[2], &counts[3],
                          &counts[4], &counts[5], &flags[0], &flags[1], &conn_state, &history,
                          &end_reason, &service, &orig_mac, &resp_mac, &name) ||
        !batch_usable(self))
        return NULL;
    if (orig_len != resp_len || (orig_len != 4 && orig_len != 16) ||
        strlen(conn_state) >= sizeof r.conn_state || strlen(history) >= sizeof r.history) {
        PyErr_SetString(PyExc_ValueError, "bad address, conn_state or history");
        return NULL;
    }
    r.serial = serial;
    r.ts_us = ts_us;
    r.duration_us = duration_us;
    r.proto = proto;
    r.family = orig_len == 4 ? 4 : 6;
    memcpy(r.addr[0], orig, (size_t)orig_len);
    memcpy(r.addr[1], resp, (size_t)resp_len);
    memcpy(r.port, ports, sizeof ports);
    for (int i = 0; i < 2; i++) {
        r.pkts[i] = counts[3 * i];
        r.ip_bytes[i] = counts[3 * i + 1];
        r.payload_bytes[i] = counts[3 * i + 2];
        r.tcp_flags[i] = flags[i];
    }
    PyObject *vlans[2] = {vlan, inner_vlan};
    for (int i = 0; i < 2 && vlans[i] != Py_None; i++) {
        long v = PyLong_AsLong(vlans[i]);
        if (v == -1 && PyErr_Occurred())
            return NULL;
        if (v < 0 || v > 4095) {
            PyErr_SetString(PyExc_ValueError, "a VLAN must be from 0 to 4095");
            return NULL;
        }
        r.vlan[i] = (uint16_t)v;
        r.vlan_count = (uint8_t)(i + 1);
    }
    strcpy(r.conn_state, conn_state);
    strcpy(r.history, history);
    r.end_reason = end_reason;
    if (service != Py_None) {
        int found = 0;
        for (int i = 1; i < SVC_COUNT && !found; i++)
            if (PyUnicode_Check(service) && PyUnicode_Compare(service, service_names[i]) == 0)
                r.service = (uint8_t)i, found = 1;
        if (!found) {
            PyErr_SetString(PyExc_ValueError, "unknown service");
            return NULL;
        }
    }
    if (mac_field(orig_mac, &r, 0) < 0 || mac_field(resp_mac, &r, 1) < 0)
        return NULL;
    if (name != Py_None) {
        Py_ssize_t len;
        const char *text = PyUnicode_Check(name) ? PyUnicode_AsUTF8AndSize(name, &len) : NULL;
        if (!text || len < 1 || len >= (Py_ssize_t)sizeof r.server_name ||
            strlen(text) != (size_t)len) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "a server name must be 1-253 bytes");
            return NULL;
        }
        memcpy(r.server_name, text, (size_t)len);
    }
    enum flow_batch_status status = flow_batch_add(self->batch, &r);
    if (status != FLOW_BATCH_OK)
        return raise_batch_status(status);
    Py_RETURN_NONE;
}

static PyObject *FlowBatch_clear(FlowBatchObject *self, PyObject *Py_UNUSED(ignored))
{
    if (!batch_usable(self))
        return NULL;
    flow_batch_clear(self->batch);
    Py_RETURN_NONE;
}

static PyObject *FlowBatch_get_count(FlowBatchObject *self, void *Py_UNUSED(closure))
{
    if (!batch_usable(self))
        return NULL;
    return PyLong_FromUnsignedLong(flow_batch_count(self->batch));
}

static PyMethodDef FlowBatch_methods[] = {
    {"encode", (PyCFunction)FlowBatch_encode, METH_VARARGS,
     "Wire schema 3 keys 16..27 of records start..stop-1: (fragment, entries, names)."},
    {"add_record", (PyCFunction)FlowBatch_add_record, METH_VARARGS,
     "Add one record from a tuple in FlowRecord's field order (end reason as a number)."},
    {"clear", (PyCFunction)FlowBatch_clear, METH_NOARGS, "Drop every record."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef FlowBatch_getset[] = {
    {"count", (getter)FlowBatch_get_count, NULL, "Records in the batch.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

PyTypeObject FlowBatchType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "agent._engine.FlowBatch",
    .tp_basicsize = sizeof(FlowBatchObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Finished flow records encoded by C as wire schema 3's flows body.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)FlowBatch_init,
    .tp_dealloc = (destructor)FlowBatch_dealloc,
    .tp_methods = FlowBatch_methods,
    .tp_getset = FlowBatch_getset,
};

PyObject *Engine_take_into_batch(EngineObject *self, PyObject *args)
{
    PyObject *batch_object;
    unsigned int max_records;
    if (!PyArg_ParseTuple(args, "O!I", &FlowBatchType, &batch_object, &max_records) ||
        !engine_usable(self) || !batch_usable((FlowBatchObject *)batch_object))
        return NULL;
    struct flow_batch *batch = ((FlowBatchObject *)batch_object)->batch;
    uint32_t count = engine_ring_count(self->engine);
    if (count > max_records)
        count = max_records;
    for (uint32_t i = 0; i < count; i++) {
        enum flow_batch_status status = flow_batch_add(batch, engine_ring_peek(self->engine, i));
        if (status != FLOW_BATCH_OK) {
            /* the records taken so far are the batch's; the rest stay in the ring */
            engine_ring_consume(self->engine, i);
            return raise_batch_status(status);
        }
    }
    engine_ring_consume(self->engine, count);
    return PyLong_FromUnsignedLong(count);
}

int module_batch_add_type(PyObject *module)
{
    if (PyType_Ready(&FlowBatchType) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "FlowBatch", (PyObject *)&FlowBatchType);
}
