/*
 * module_devices.c: the device table into Python: fingerprint events, device entries,
 * counters. Part of the binding; see module.c.
 */
#include "module.h"

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

PyObject *Engine_take_device_events(EngineObject *self, PyObject *Py_UNUSED(ignored))
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
        Py_ssize_t addr_len = ev->family == 4 ? 4 : ev->family == 6 ? 16 : 0;
        PyObject *item = Py_BuildValue("(y#KOy#y#)", (const char *)ev->mac, (Py_ssize_t)6,
                                       (unsigned long long)ev->ts_us, kind,
                                       (const char *)ev->value, (Py_ssize_t)ev->len,
                                       (const char *)ev->addr, addr_len);
        if (!item) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, item);
    }
    devices_event_consume(t, count);
    return list;
}

/* PyTuple_SetItem takes a NULL item without complaint and returns 0, so a failed
 * allocation would go on with its MemoryError set and a hole in the tuple: stop there. */
static int tuple_put(PyObject *tuple, Py_ssize_t i, PyObject *item)
{
    return item && !PyTuple_SetItem(tuple, i, item);
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
        ok = tuple_put(v4, i, PyBytes_FromStringAndSize((const char *)v->v4[i], 4));
    for (int i = 0; ok && i < v->n_v6; i++)
        ok = tuple_put(v6, i, PyBytes_FromStringAndSize((const char *)v->v6[i], 16));
    for (int i = 0; ok && i < v->n_vlans; i++)
        ok = tuple_put(vlans, i, PyLong_FromLong(v->vlans[i]));
    for (int i = 0; ok && i < v->n_services; i++)
        ok = tuple_put(services, i,
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

PyObject *Engine_devices(EngineObject *self, PyObject *args)
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

PyObject *Engine_device_counters(EngineObject *self, PyObject *Py_UNUSED(ignored))
{
    struct device_table *t = usable_devices(self);
    if (!t)
        return NULL;
    const struct device_counters *c = devices_counters(t);
    const struct named_counter counters[] = {
        {"devices_created", c->devices_created},
        {"devices_evicted", c->devices_evicted},
        {"devices_active", devices_active(t)},
        {"max_devices", devices_max(t)},
        {"device_events_emitted", c->events_emitted},
        {"device_events_dropped", c->events_dropped},
        {"extract_ok", c->extract_ok},
        {"extract_partial", c->extract_partial},
        {"extract_malformed", c->extract_malformed},
        {"addresses_overflow", c->addresses_overflow},
        {"hl7_messages", c->hl7_messages},
    };
    return counters_dict(counters, sizeof counters / sizeof *counters);
}
