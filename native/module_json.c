/*
 * module_json.c: finished records written as `flows --json` lines straight to a file
 * descriptor (json_lines.c formats them), so the command's per-flow cost stays in C. Part
 * of the binding; see module.c.
 *
 *   .write_json_lines(fd, boot_id) -> int       every waiting record, oldest first
 *   .flush_json_lines(fd, boot_id) -> int       what agent.engine.Engine.flush() returns,
 *                                               in its order: waiting records, then every
 *                                               flow ended (forced) in serial order
 *
 * Both return how many records left the ring (each once, written or not: a failed write
 * loses the ones already taken, as a failed print of take_records()' list would). Lines
 * go out through a 1 MiB buffer with write(2), the GIL released around it; a short write
 * goes on, EINTR runs Python's signal handlers (an exception there stops the writing),
 * EAGAIN waits for the descriptor with poll(2); any other error (EPIPE: the reader went
 * away) raises OSError with its errno (BrokenPipeError for EPIPE).
 */
#include "module.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "json_lines.h"

#define OUT_BYTES (1 << 20)

struct json_out {
    EngineObject *self;
    int fd;
    char *buf;
    size_t len;
};

/* Held forced lines of a flush: their text, and (serial, offset, length) to sort by. */
struct held_line {
    uint64_t serial;
    size_t offset, len;
};
struct held {
    char *text;
    size_t text_len, text_cap;
    struct held_line *lines;
    size_t count, cap;
};

/* CPython's own repr of a float (the json module prints floats with it). GIL held. */
static size_t python_repr(double x, char *out, size_t cap)
{
    char *text = PyOS_double_to_string(x, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (!text)
        return 0;
    size_t n = strlen(text);
    if (n >= cap) {
        PyMem_Free(text);
        PyErr_SetString(PyExc_ValueError, "float text too long");
        return 0;
    }
    memcpy(out, text, n + 1);
    PyMem_Free(text);
    return n;
}

/* Write out[0..len) whole; 0, or -1 with an exception set. */
static int write_all(struct json_out *o, const char *data, size_t len)
{
    while (len) {
        ssize_t n;
        int err;
        o->self->running = 1; /* the engine is not to be used while the GIL is away */
        Py_BEGIN_ALLOW_THREADS n = write(o->fd, data, len);
        err = errno;
        Py_END_ALLOW_THREADS o->self->running = 0;
        if (n >= 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (err == EINTR) {
            if (PyErr_CheckSignals() < 0)
                return -1;
            continue;
        }
        if (err == EAGAIN || err == EWOULDBLOCK) {
            struct pollfd pfd = {.fd = o->fd, .events = POLLOUT};
            int ready;
            o->self->running = 1;
            Py_BEGIN_ALLOW_THREADS ready = poll(&pfd, 1, -1);
            err = errno;
            Py_END_ALLOW_THREADS o->self->running = 0;
            if (ready < 0 && err == EINTR && PyErr_CheckSignals() < 0)
                return -1;
            if (ready < 0 && err != EINTR) {
                errno = err;
                PyErr_SetFromErrno(PyExc_OSError);
                return -1;
            }
            continue;
        }
        errno = err;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}

static int out_flush(struct json_out *o)
{
    size_t len = o->len;
    o->len = 0;
    return write_all(o, o->buf, len);
}

/* Room for one more held line (JSON_LINE_MAX bytes of text); 0, or -1 out of memory. */
static int held_reserve(struct held *h)
{
    if (h->count == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 1024;
        struct held_line *lines = realloc(h->lines, cap * sizeof *lines);
        if (!lines)
            return -1;
        h->lines = lines;
        h->cap = cap;
    }
    if (h->text_cap - h->text_len < JSON_LINE_MAX) {
        size_t cap = h->text_cap ? 2 * h->text_cap : 1 << 20;
        char *text = realloc(h->text, cap);
        if (!text)
            return -1;
        h->text = text;
        h->text_cap = cap;
    }
    return 0;
}

/* Every waiting record out of the ring into lines; forced ones into `held` when given.
 * Adds the records taken to *taken. 0, or -1 with an exception set. */
static int drain(EngineObject *self, const struct json_lines *j, struct json_out *o,
                 struct held *h, unsigned long long *taken)
{
    uint32_t count = engine_ring_count(self->engine);
    for (uint32_t i = 0; i < count; i++) {
        const struct flow_record *r = engine_ring_peek(self->engine, 0);
        int hold = h && r->end_reason == END_FORCED;
        /* Lines go straight into the output buffer (or the held text) when it has room. */
        if (hold) {
            if (held_reserve(h) < 0) {
                PyErr_NoMemory();
                return -1;
            }
        } else if (OUT_BYTES - o->len < JSON_LINE_MAX && out_flush(o) < 0) {
            return -1;
        }
        char *line = hold ? h->text + h->text_len : o->buf + o->len;
        size_t len = json_line(j, r, line);
        if (!len) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "a record's time cannot be written");
            return -1;
        }
        if (hold) {
            h->lines[h->count++] = (struct held_line){r->serial, h->text_len, len};
            h->text_len += len;
        } else {
            o->len += len;
        }
        /* Taken now: the ring is consistent whenever the GIL is released. */
        engine_ring_consume(self->engine, 1);
        ++*taken;
    }
    return 0;
}

static int by_serial(const void *a, const void *b)
{
    uint64_t x = ((const struct held_line *)a)->serial, y = ((const struct held_line *)b)->serial;
    return (x > y) - (x < y);
}

static PyObject *write_lines(EngineObject *self, PyObject *args, int flush)
{
    int fd;
    Py_buffer boot_id;
    if (!PyArg_ParseTuple(args, "iy*", &fd, &boot_id))
        return NULL;
    if (!engine_usable(self)) {
        PyBuffer_Release(&boot_id);
        return NULL;
    }
    struct json_lines j;
    json_lines_init(&j, boot_id.buf, (size_t)boot_id.len, python_repr);
    PyBuffer_Release(&boot_id);
    struct json_out o = {.self = self, .fd = fd, .buf = malloc(OUT_BYTES), .len = 0};
    struct held h = {0};
    unsigned long long taken = 0;
    int status = -1;
    if (!o.buf) {
        PyErr_NoMemory();
        goto done;
    }
    if (drain(self, &j, &o, NULL, &taken) < 0)
        goto done;
    if (flush) {
        /* As Engine.flush(): end flows as far as the ring has room, drain, again. */
        for (;;) {
            uint32_t left = engine_flush(self->engine);
            if (drain(self, &j, &o, &h, &taken) < 0)
                goto done;
            if (!left)
                break;
        }
        if (h.count) /* qsort takes no NULL, even for nothing */
            qsort(h.lines, h.count, sizeof *h.lines, by_serial);
        for (size_t i = 0; i < h.count; i++) {
            const struct held_line *line = &h.lines[i];
            if (OUT_BYTES - o.len < line->len && out_flush(&o) < 0)
                goto done;
            memcpy(o.buf + o.len, h.text + line->offset, line->len);
            o.len += line->len;
        }
    }
    if (out_flush(&o) < 0)
        goto done;
    status = 0;
done:
    free(o.buf);
    free(h.text);
    free(h.lines);
    return status < 0 ? NULL : PyLong_FromUnsignedLongLong(taken);
}

PyObject *Engine_write_json_lines(EngineObject *self, PyObject *args)
{
    return write_lines(self, args, 0);
}

PyObject *Engine_flush_json_lines(EngineObject *self, PyObject *args)
{
    return write_lines(self, args, 1);
}
