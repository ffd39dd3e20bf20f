#include "CHTTPServer.h"
#include <sys/types.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct isp_http_server {
    struct MHD_Daemon *daemon;
    isp_http_handler handler;
    void *context;
    size_t max_body;
    atomic_uint in_flight;
    atomic_uint connections;
    atomic_int draining;
    uint16_t port;
};

// Per request: the body read so far.
typedef struct request {
    unsigned char *body;
    size_t length, capacity;
    int too_large;
} request;

static enum MHD_Result answer(isp_http_server *server, struct MHD_Connection *connection, const isp_http_response *r) {
    struct MHD_Response *response = MHD_create_response_from_buffer(r->length, r->body, MHD_RESPMEM_MUST_FREE);
    if (!response) { free(r->body); return MHD_NO; }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type ? r->content_type : "application/json");
    if (r->retry_after) MHD_add_response_header(response, MHD_HTTP_HEADER_RETRY_AFTER, r->retry_after);
    if (r->allow) MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, r->allow);
    // Shutting down: keep-alive clients must not send the next request on this connection.
    if (atomic_load(&server->draining)) MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result result = MHD_queue_response(connection, (unsigned)r->status, response);
    MHD_destroy_response(response);
    return result;
}

// The query, checked whole: at most one `top`, with a value, no other names; empty pieces (a
// trailing or doubled '&') are ignored. MHD decodes each value in place, so a %00 in it shows as
// a value shorter than its size. (MHD stops at MHD_NO.)
typedef struct query {
    const char *top;
    char problem[160];
} query;

static enum MHD_Result check_parameter(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size, const char *value,
                                       size_t value_size) {
    (void)kind;
    query *q = cls;
    if (key_size == 0 && (value == NULL || value_size == 0)) return MHD_YES;
    if (key_size != 3 || memcmp(key, "top", 3) != 0) {
        snprintf(q->problem, sizeof q->problem, "unknown query parameter '%.64s': the only one is top", key);
    } else if (q->top) {
        snprintf(q->problem, sizeof q->problem, "top given more than once");
    } else if (value == NULL) {
        snprintf(q->problem, sizeof q->problem, "top needs a value: top=K");
    } else if (strlen(value) != value_size) {
        snprintf(q->problem, sizeof q->problem, "top's value holds a NUL byte");
    } else {
        q->top = value;
        return MHD_YES;
    }
    return MHD_NO;
}

static enum MHD_Result count_length(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind; (void)value;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) *(int *)cls += 1;
    return MHD_YES;
}

// `problem`: what is wrong with the request's headers (NULL: nothing).
static void call_handler(isp_http_server *server, struct MHD_Connection *connection, const char *method, const char *url,
                         request *req, const char *problem, isp_http_response *out) {
    query q = {NULL, {0}};
    MHD_get_connection_values_n(connection, MHD_GET_ARGUMENT_KIND, check_parameter, &q);
    memset(out, 0, sizeof *out);
    server->handler(server->context, method, url, q.problem[0] ? NULL : q.top, q.problem[0] ? q.problem : NULL, problem,
                    req ? req->body : NULL, req ? req->length : 0, req ? req->too_large : 0, out);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls) {
    (void)version;
    isp_http_server *server = cls;
    request *req = *con_cls;
    if (!req) {  // headers only: set up the request
        req = calloc(1, sizeof *req);
        if (!req) return MHD_NO;
        *con_cls = req;
        atomic_fetch_add(&server->in_flight, 1);
        // Two lengths: libmicrohttpd reads the body by the first, a proxy in front may have used
        // the other (request smuggling); HTTP/1.1 says to refuse such a request (RFC 9112, 6.3).
        int lengths = 0;
        MHD_get_connection_values(connection, MHD_HEADER_KIND, count_length, &lengths);
        if (lengths > 1) {
            isp_http_response out;
            call_handler(server, connection, method, url, NULL, "Content-Length given more than once", &out);
            return answer(server, connection, &out);
        }
        // A declared length over the limit is refused before any of the body is read.
        const char *declared = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (declared && strtoull(declared, NULL, 10) > server->max_body) {
            req->too_large = 1;
            isp_http_response out;
            call_handler(server, connection, method, url, req, NULL, &out);
            return answer(server, connection, &out);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->too_large) return MHD_YES;
        if (req->length + n > server->max_body) {
            req->too_large = 1;
            free(req->body); req->body = NULL; req->length = req->capacity = 0;
            return MHD_YES;
        }
        if (req->length + n > req->capacity) {
            size_t capacity = req->capacity ? req->capacity : 65536;
            while (capacity < req->length + n) capacity *= 2;
            if (capacity > server->max_body) capacity = server->max_body;  // never more than the limit
            unsigned char *grown = realloc(req->body, capacity);
            if (!grown) return MHD_NO;
            req->body = grown; req->capacity = capacity;
        }
        memcpy(req->body + req->length, upload_data, n);
        req->length += n;
        return MHD_YES;
    }
    isp_http_response out;
    call_handler(server, connection, method, url, req, NULL, &out);
    return answer(server, connection, &out);
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls, enum MHD_RequestTerminationCode code) {
    (void)connection; (void)code;
    isp_http_server *server = cls;
    request *req = *con_cls;
    if (!req) return;
    free(req->body);
    free(req);
    *con_cls = NULL;
    atomic_fetch_sub(&server->in_flight, 1);
}

// Open connections, so shutting down can wait for keep-alive clients to be told to close.
static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    (void)connection; (void)socket_context;
    isp_http_server *server = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) atomic_fetch_add(&server->connections, 1);
    else atomic_fetch_sub(&server->connections, 1);
}

isp_http_server *isp_http_start(const char *host, uint16_t port, size_t max_body, unsigned connection_limit,
                                isp_http_handler handler, void *context, char *error, size_t error_size) {
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    if (inet_pton(AF_INET, host, &address.sin_addr) != 1) {
        snprintf(error, error_size, "'%s' is not an IPv4 address", host);
        return NULL;
    }
    isp_http_server *server = calloc(1, sizeof *server);
    if (!server) { snprintf(error, error_size, "out of memory"); return NULL; }
    server->handler = handler; server->context = context; server->max_body = max_body;
    atomic_init(&server->in_flight, 0);
    atomic_init(&server->connections, 0);
    atomic_init(&server->draining, 0);
    server->daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC
                                      , port, NULL, NULL, on_request, server,
                                      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&address,
                                      MHD_OPTION_CONNECTION_LIMIT, connection_limit,
                                      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                                      MHD_OPTION_NOTIFY_COMPLETED, on_completed, server,
                                      MHD_OPTION_NOTIFY_CONNECTION, on_connection, server,
                                      MHD_OPTION_END);
    if (!server->daemon) {
        // MHD leaves bind's errno in place.
        const int e = errno;
        if (e == EADDRINUSE) snprintf(error, error_size, "port %u on %s is already in use", (unsigned)port, host);
        else if (e == EACCES) snprintf(error, error_size, "not allowed to listen on port %u (ports below 1024 need privileges)", (unsigned)port);
        else snprintf(error, error_size, "cannot listen on %s:%u (%s)", host, (unsigned)port, e ? strerror(e) : "unknown reason");
        free(server);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    server->port = info ? info->port : port;
    return server;
}

uint16_t isp_http_port(const isp_http_server *server) { return server->port; }

void isp_http_quiesce(isp_http_server *server) {
    atomic_store(&server->draining, 1);
    MHD_socket listener = MHD_quiesce_daemon(server->daemon);
    if (listener != MHD_INVALID_SOCKET) close(listener);
}

unsigned isp_http_in_flight(const isp_http_server *server) { return atomic_load(&((isp_http_server *)server)->in_flight); }

unsigned isp_http_connections(const isp_http_server *server) { return atomic_load(&((isp_http_server *)server)->connections); }

void isp_http_stop(isp_http_server *server) {
    MHD_stop_daemon(server->daemon);
    free(server);
}
