/* dnsctl.resolver._replay: the UDP reader's loop (resolver/udp_reader.py) for one socket, in C.
 *
 * Why: a reader answers a replay with two system calls (recvfrom, sendto), but in Python each datagram
 * also costs the interpreter's loop and the socket module's wrappers (an address tuple and str, argument
 * parsing); at a high rate that user time is most of the answer's CPU. Here a datagram that the Python
 * loop would answer from a replay, with no rate limiter, is answered without making any of those objects.
 * Every other datagram (no valid replay, a limiter, the timed one in `sample`, an empty one, an error)
 * goes to the reader's `datagram(data, addr, timed)` method, the very code the Python loop runs, so that
 * what happens to it is decided in one place.
 *
 * The GIL is released around the system calls only: a reply is sent, and the next datagram read, in one
 * release. Everything the event loop replaces whole (engine.replays, steering.rendered) is re-read for
 * every datagram, as the Python loop does.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#define MAX_DATAGRAM 65535

/* Attribute names, interned once. */
static PyObject *s_replays, *s_rendered, *s_of, *s_until, *s_tail, *s_counted, *s_cached, *s_cache_hits,
    *s_stopping, *s_datagram;

/* What one `serve` call reads on every datagram (borrowed from its arguments). */
typedef struct {
    PyObject *reader, *engine, *steering, *memo, *allowed, *clock, *queries, *counts;
    /* The str of the last client address: a flood comes from few clients, inet_ntop and a str per
     * datagram would cost more than the lookup they serve. */
    PyObject *host;
    int host_family;
    unsigned char host_addr[16];
} Loop;

/* The client's address as socket.recvfrom gives its host (inet_ntop), cached; NULL without an
 * exception for a family other than IPv4 and IPv6. Borrowed reference. */
static PyObject *host_of(Loop *loop, const struct sockaddr_storage *from)
{
    const void *addr;
    size_t size;
    char text[INET6_ADDRSTRLEN];

    if (from->ss_family == AF_INET) {
        addr = &((const struct sockaddr_in *)from)->sin_addr;
        size = 4;
    } else if (from->ss_family == AF_INET6) {
        addr = &((const struct sockaddr_in6 *)from)->sin6_addr;
        size = 16;
    } else {
        return NULL;
    }
    if (loop->host != NULL && loop->host_family == from->ss_family && memcmp(loop->host_addr, addr, size) == 0)
        return loop->host;
    if (inet_ntop(from->ss_family, addr, text, sizeof text) == NULL)
        return NULL;
    PyObject *host = PyUnicode_FromString(text);
    if (host == NULL)
        return NULL;
    Py_XSETREF(loop->host, host);
    loop->host_family = from->ss_family;
    memcpy(loop->host_addr, addr, size);
    return host;
}

/* The address tuple socket.recvfrom would give (None for another family). New reference. */
static PyObject *address_tuple(const struct sockaddr_storage *from, socklen_t len)
{
    char text[INET6_ADDRSTRLEN];

    if (len >= (socklen_t)sizeof(struct sockaddr_in) && from->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)from;
        if (inet_ntop(AF_INET, &a->sin_addr, text, sizeof text) == NULL)
            return PyErr_SetFromErrno(PyExc_OSError);
        return Py_BuildValue("(si)", text, (int)ntohs(a->sin_port));
    }
    if (len >= (socklen_t)sizeof(struct sockaddr_in6) && from->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)from;
        if (inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text) == NULL)
            return PyErr_SetFromErrno(PyExc_OSError);
        return Py_BuildValue("(siII)", text, (int)ntohs(a->sin6_port), (unsigned int)ntohl(a->sin6_flowinfo),
                             (unsigned int)a->sin6_scope_id);
    }
    Py_RETURN_NONE;
}

/* `old` + 1 (1 when `old` is NULL: a count not there yet). New reference, NULL with an exception. */
static PyObject *plus_one(PyObject *old)
{
    PyObject *one = PyLong_FromLong(1);
    if (one == NULL || old == NULL)
        return one;
    PyObject *now = PyNumber_Add(old, one);
    Py_DECREF(one);
    return now;
}

/* dict[key] += 1 (from 0), as `queries[counted] = queries.get(counted, 0) + 1`. */
static int count_in(PyObject *dict, PyObject *key)
{
    PyObject *old = PyDict_GetItemWithError(dict, key); /* borrowed */
    if (old == NULL && PyErr_Occurred())
        return -1;
    PyObject *now = plus_one(old);
    if (now == NULL)
        return -1;
    int failed = PyDict_SetItem(dict, key, now);
    Py_DECREF(now);
    return failed;
}

/* `counts.cache_hits += 1`. */
static int count_hit(PyObject *counts)
{
    PyObject *old = PyObject_GetAttr(counts, s_cache_hits);
    if (old == NULL)
        return -1;
    PyObject *now = plus_one(old);
    Py_DECREF(old);
    if (now == NULL)
        return -1;
    int failed = PyObject_SetAttr(counts, s_cache_hits, now);
    Py_DECREF(now);
    return failed;
}

/* The reply to `in` (n bytes) from a replay, written to `out` and counted, exactly when the Python loop
 * would send one: 1 when `out` holds it, 0 when the datagram is for `datagram`, -1 with an exception. */
static int answer(Loop *loop, const unsigned char *in, Py_ssize_t n, const struct sockaddr_storage *from,
                  unsigned char *out, Py_ssize_t *out_len)
{
    PyObject *replays, *key, *replay, *of = NULL, *rendered = NULL, *until = NULL, *tail = NULL,
                                      *counted = NULL, *cached = NULL, *host, *verdict;
    int result = -1;

    replays = PyObject_GetAttr(loop->engine, s_replays); /* replaced whole by the event loop: re-read */
    if (replays == NULL)
        return -1;
    if (!PyDict_Check(replays)) {
        Py_DECREF(replays);
        return 0;
    }
    key = PyBytes_FromStringAndSize((const char *)in + 2, n - 2); /* data[2:]: the query but its ID */
    if (key == NULL) {
        Py_DECREF(replays);
        return -1;
    }
    replay = PyDict_GetItemWithError(replays, key);
    Py_DECREF(key);
    Py_XINCREF(replay); /* ours, whatever the dict becomes */
    Py_DECREF(replays);
    if (replay == NULL)
        return PyErr_Occurred() ? -1 : 0;

    if ((of = PyObject_GetAttr(replay, s_of)) == NULL || (rendered = PyObject_GetAttr(loop->steering, s_rendered)) == NULL)
        goto done;
    result = 0;
    if (of != rendered) /* made for another steering table */
        goto done;
    host = host_of(loop, from);
    if (host == NULL) {
        result = PyErr_Occurred() ? -1 : 0;
        goto done;
    }
    verdict = PyDict_GetItemWithError(loop->memo, host);
    if (verdict != loop->allowed) { /* not classified yet, refused, or in a view: the event loop's */
        result = PyErr_Occurred() ? -1 : 0;
        goto done;
    }
    if ((until = PyObject_GetAttr(replay, s_until)) == NULL) {
        result = -1;
        goto done;
    }
    double expires = PyFloat_AsDouble(until);
    if (expires == -1.0 && PyErr_Occurred()) {
        result = -1;
        goto done;
    }
    if (!(isinf(expires) && expires > 0)) { /* a cached answer: read the clock, as the Python loop does */
        PyObject *now = PyObject_CallNoArgs(loop->clock);
        if (now == NULL) {
            result = -1;
            goto done;
        }
        double t = PyFloat_AsDouble(now);
        Py_DECREF(now);
        if (t == -1.0 && PyErr_Occurred()) {
            result = -1;
            goto done;
        }
        if (!(t < expires))
            goto done;
    }
    if ((tail = PyObject_GetAttr(replay, s_tail)) == NULL || (counted = PyObject_GetAttr(replay, s_counted)) == NULL ||
        (cached = PyObject_GetAttr(replay, s_cached)) == NULL) {
        result = -1;
        goto done;
    }
    if (!PyBytes_Check(tail) || PyBytes_GET_SIZE(tail) > MAX_DATAGRAM - 2)
        goto done;
    int is_cached = PyObject_IsTrue(cached);
    if (is_cached < 0 || count_in(loop->queries, counted) < 0 || (is_cached && count_hit(loop->counts) < 0)) {
        result = -1;
        goto done;
    }
    /* The client's ID, then the reply as made: data[:2] + replay.tail. */
    out[0] = in[0];
    out[1] = in[1];
    memcpy(out + 2, PyBytes_AS_STRING(tail), (size_t)PyBytes_GET_SIZE(tail));
    *out_len = PyBytes_GET_SIZE(tail) + 2;
    result = 1;
done:
    Py_XDECREF(of);
    Py_XDECREF(rendered);
    Py_XDECREF(until);
    Py_XDECREF(tail);
    Py_XDECREF(counted);
    Py_XDECREF(cached);
    Py_DECREF(replay);
    return result;
}

/* reader.datagram(data, addr, timed): the Python loop's handling of one datagram; -1 with an exception,
 * 1 when the reader is to end, else 0. */
static int hand_over(Loop *loop, const unsigned char *in, Py_ssize_t n, const struct sockaddr_storage *from,
                     socklen_t from_len, int timed)
{
    PyObject *data = PyBytes_FromStringAndSize((const char *)in, n);
    if (data == NULL)
        return -1;
    PyObject *addr = address_tuple(from, from_len);
    if (addr == NULL) {
        Py_DECREF(data);
        return -1;
    }
    PyObject *ended = PyObject_CallMethodObjArgs(loop->reader, s_datagram, data, addr, timed ? Py_True : Py_False, NULL);
    Py_DECREF(data);
    Py_DECREF(addr);
    if (ended == NULL)
        return -1;
    int result = PyObject_IsTrue(ended);
    Py_DECREF(ended);
    return result;
}

static PyObject *serve(PyObject *Py_UNUSED(module), PyObject *args)
{
    int fd, limited;
    unsigned long sample;
    Loop loop = {0};
    if (!PyArg_ParseTuple(args, "iOOOO!OOO!Okp:serve", &fd, &loop.reader, &loop.engine, &loop.steering, &PyDict_Type,
                          &loop.memo, &loop.allowed, &loop.clock, &PyDict_Type, &loop.queries, &loop.counts, &sample,
                          &limited))
        return NULL;

    unsigned char *in = PyMem_Malloc(MAX_DATAGRAM), *out = PyMem_Malloc(MAX_DATAGRAM);
    if (in == NULL || out == NULL) {
        PyMem_Free(in);
        PyMem_Free(out);
        return PyErr_NoMemory();
    }
    struct sockaddr_storage from, to;
    socklen_t from_len = 0, to_len = 0;
    Py_ssize_t out_len = 0; /* a reply to send to `to` before the next read */
    unsigned long received = 0;
    PyObject *result = NULL;

    for (;;) {
        ssize_t n;
        Py_BEGIN_ALLOW_THREADS
        if (out_len > 0) {
            /* Any error but EINTR: the client's address is unreachable; nothing to do, as for any UDP reply. */
            while (sendto(fd, out, (size_t)out_len, 0, (struct sockaddr *)&to, to_len) < 0 && errno == EINTR)
                ;
        }
        do {
            from_len = sizeof from;
            n = recvfrom(fd, in, MAX_DATAGRAM, 0, (struct sockaddr *)&from, &from_len);
        } while (n < 0 && errno == EINTR);
        Py_END_ALLOW_THREADS
        out_len = 0;

        /* After `stop`, the first wake ends the loop, whatever it brought: a flood must not keep the
         * reader on a socket that is about to be closed (its number would then be another socket's). */
        PyObject *stopping = PyObject_GetAttr(loop.reader, s_stopping);
        int stop = stopping == NULL ? -1 : PyObject_IsTrue(stopping);
        Py_XDECREF(stopping);
        if (stop < 0)
            goto end;
        if (stop) {
            result = Py_NewRef(Py_None);
            goto end;
        }
        if (n < 0)
            continue; /* an ICMP error for an earlier reply: nothing to do, as for any UDP reply */
        int timed = 0;
        if (n > 0) {
            received++;
            timed = (received & sample) == 0; /* as `received & _SAMPLE_MASK` in the Python loop */
            if (!timed && !limited && n >= 2) {
                int answered = answer(&loop, in, (Py_ssize_t)n, &from, out, &out_len);
                if (answered > 0) {
                    memcpy(&to, &from, from_len); /* the raw source address, never re-parsed */
                    to_len = from_len;
                    continue;
                }
                out_len = 0;
                if (answered < 0)
                    PyErr_Clear(); /* the Python code decides; it raises again if it is a bug */
            }
        }
        int ended = hand_over(&loop, in, (Py_ssize_t)n, &from, from_len, timed);
        if (ended < 0)
            goto end;
        if (ended) {
            result = Py_NewRef(Py_None);
            goto end;
        }
    }
end:
    Py_XDECREF(loop.host);
    PyMem_Free(in);
    PyMem_Free(out);
    return result;
}

static PyMethodDef methods[] = {
    {"serve", serve, METH_VARARGS,
     "serve(fd, reader, engine, steering, memo, allowed, clock, queries, counts, sample, limited)\n"
     "Read the UDP socket `fd` until the reader stops (see resolver/udp_reader.py)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "dnsctl.resolver._replay",
    .m_doc = "The UDP reader's loop in C (resolver/udp_reader.py).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__replay(void)
{
    struct {
        PyObject **slot;
        const char *name;
    } names[] = {
        {&s_replays, "replays"}, {&s_rendered, "rendered"}, {&s_of, "of"}, {&s_until, "until"},
        {&s_tail, "tail"}, {&s_counted, "counted"}, {&s_cached, "cached"}, {&s_cache_hits, "cache_hits"},
        {&s_stopping, "stopping"}, {&s_datagram, "datagram"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (*names[i].slot == NULL && (*names[i].slot = PyUnicode_InternFromString(names[i].name)) == NULL)
            return NULL;
    }
    return PyModule_Create(&module);
}
