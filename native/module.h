/*
 * module.h: what the binding's three files share (module.c: the Engine type and the
 * module; module_records.c: finished flow records; module_devices.c: the device table).
 * Internal to the binding: the engine itself is behind engine.h.
 */
#ifndef IOMT_MODULE_H
#define IOMT_MODULE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "engine.h"

#define RECORD_FIELDS 25

typedef struct {
    PyObject_HEAD struct engine *engine;
    struct capture *capture;
    int running; /* run() is inside capture_run with the GIL released */
    /* bind_record_type(): the class, its slot offsets in field order, end reason names */
    PyTypeObject *record_type;
    Py_ssize_t record_offsets[RECORD_FIELDS];
    PyObject *end_reason_names[END_REASON_COUNT];
} EngineObject;

/* Interned names of flow labels (enum app_service) and fingerprint kinds (enum fp_kind). */
extern PyObject *service_names[SVC_COUNT], *fp_kind_names[FP_KIND_COUNT];

/* 1 when the engine is open and not running in another thread, else 0 with an exception. */
int engine_usable(EngineObject *self);
/* Counters cross the boundary as a dict of name -> int: NULL with an exception set. */
struct named_counter {
    const char *name;
    unsigned long long value;
};
PyObject *counters_dict(const struct named_counter *counters, size_t count);

/* module_records.c */
PyObject *Engine_take(EngineObject *self, PyObject *ignored);
PyObject *Engine_take_records(EngineObject *self, PyObject *ignored);
PyObject *Engine_bind_record_type(EngineObject *self, PyObject *args);

/* module_batch.c: FlowBatch (flows encoded by C, native/flow_batch.c) */
PyObject *Engine_take_into_batch(EngineObject *self, PyObject *args);
int module_batch_add_type(PyObject *module);

/* module_json.c */
PyObject *Engine_write_json_lines(EngineObject *self, PyObject *args);
PyObject *Engine_flush_json_lines(EngineObject *self, PyObject *args);

/* module_devices.c */
PyObject *Engine_take_device_events(EngineObject *self, PyObject *ignored);
PyObject *Engine_devices(EngineObject *self, PyObject *args);
PyObject *Engine_device_counters(EngineObject *self, PyObject *ignored);

#endif
