// A small HTTP/1.1 server on libmicrohttpd: it reads each request whole (up to a size limit)
// and hands it to one handler; MHD's call-per-chunk protocol and its variadic start function stay
// here, in C. One thread per connection, so a handler may block (waiting for a free worker).
#ifndef CHTTPSERVER_H
#define CHTTPSERVER_H

#include <stddef.h>
#include <stdint.h>

typedef struct isp_http_response {
    int status;
    const char *content_type;   // static string
    unsigned char *body;        // malloc'ed by the handler, freed by the server
    size_t length;
    const char *retry_after;    // NULL or a static string: the Retry-After header
    const char *allow;          // NULL or a static string: the Allow header (405)
} isp_http_response;

// `top`: the query's top parameter, if any; `bad_query`: what is wrong with the query (an unknown
// or repeated parameter, top without a value), if anything; `bad_header`: what is wrong with the
// headers (two Content-Length), if anything, then `body` is NULL and none of it was read.
// `too_large`: the body passed `max_body` (then `body` is NULL and nothing more was read).
typedef void (*isp_http_handler)(void *context, const char *method, const char *url, const char *top,
                                 const char *bad_query, const char *bad_header, const unsigned char *body, size_t length,
                                 int too_large, isp_http_response *response);

typedef struct isp_http_server isp_http_server;

// Listens on host:port (port 0: any free port). Returns NULL and fills `error` on failure.
isp_http_server *isp_http_start(const char *host, uint16_t port, size_t max_body, unsigned connection_limit,
                                isp_http_handler handler, void *context, char *error, size_t error_size);
uint16_t isp_http_port(const isp_http_server *server);
// Stops accepting connections; requests in flight go on, and every answer from now on says
// "Connection: close", so keep-alive clients leave.
void isp_http_quiesce(isp_http_server *server);
// Requests being read or answered right now.
unsigned isp_http_in_flight(const isp_http_server *server);
// Open connections (idle keep-alive ones included).
unsigned isp_http_connections(const isp_http_server *server);
void isp_http_stop(isp_http_server *server);

#endif
