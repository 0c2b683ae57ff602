/*
 * HTTP GETs to the Consul agent: one curl multi handle driven by a uv loop.
 *
 * struct http owns the curl multi handle, one uv_poll_t per socket curl
 * uses (kept with curl_multi_assign()) and one uv_timer_t set from
 * CURLMOPT_TIMERFUNCTION. Connections are kept alive and reused; at most
 * conf.max_host_connections are open to the agent at once, and transfers
 * beyond that wait in curl's queue for a free connection. Since every
 * in-flight blocking query holds one connection, that limit must be at
 * least the number of concurrent long polls (see HTTP_MAX_CONNECTIONS).
 *
 * http_get() starts a transfer and returns at once. Its callback fires
 * exactly once on the loop (never from inside http_get()), unless the
 * request was cancelled with http_cancel() or the http was closed first:
 *
 *	cb(data, result, resp, errmsg)
 *	  result 0: a complete HTTP response of any status; resp is set
 *	  result < 0: no response. -ETIMEDOUT (the request's timeout),
 *	    -ECONNREFUSED / -EHOSTUNREACH (connect), -EPERM (a local
 *	    policy refused the connect to a non-loopback address; errmsg
 *	    says so and names the likely cause), -ECONNRESET (the
 *	    connection broke, a truncated body included), -E2BIG (a bound
 *	    was passed: errmsg names it and its size, "response larger
 *	    than the 16 MiB limit", "response headers larger than the 64
 *	    KiB limit", "a response header line larger than curl's 100 KiB
 *	    limit"), -EPROTO (garbage, TLS errors), -EIO (anything else).
 *	    errmsg is curl's error text otherwise (it never contains the
 *	    token: headers are not part of curl's messages).
 *	resp, its body and errmsg are borrowed until the callback returns; the
 *	request is freed right after it. The callback may start new requests
 *	and cancel other ones.
 *
 * The token is sent as an X-Consul-Token header on every request and kept
 * nowhere else. The body is bounded by conf.max_body (the watcher passes
 * the config's max_response_size; an announced Content-Length above it
 * fails before the body is read); the response headers by
 * HTTP_MAX_HEADER_BYTES in all, and each header line by curl's 100 KiB.
 *
 * http_close() cancels every request without callbacks, cleans up the multi
 * handle, closes the polls and the timer, and calls closed(data) from the
 * last close callback; the struct is gone after that.
 */
#ifndef CH_HTTP_H
#define CH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "base/err.h"

/*
 * Connections to the agent at once. Consul allows 200 per client IP
 * (limits.http_max_conns_per_client) and answers 429 above that; 150
 * leaves room for the consul CLI, health checks and other local clients
 * while allowing 150 concurrent long polls (consul-template warns at 128
 * dependencies).
 */
#define HTTP_MAX_CONNECTIONS  150
#define HTTP_MAX_BODY         (64u * 1024 * 1024)
#define HTTP_MAX_HEADER_BYTES (64u * 1024)

struct http_conf {
	const char *base_url;   /* "http://127.0.0.1:8500"; paths are added */
	const char *unix_path;  /* CURLOPT_UNIX_SOCKET_PATH, or NULL */
	const char *connect_to; /* CURLOPT_CONNECT_TO entry, or NULL */
	const char *token;      /* X-Consul-Token, or NULL; never logged */
	bool verify;            /* TLS peer and host verification */
	const char *ca_cert;    /* CURLOPT_CAINFO */
	const char *ca_path;    /* CURLOPT_CAPATH */
	const char *cert;       /* CURLOPT_SSLCERT */
	const char *key;        /* CURLOPT_SSLKEY */
	long max_host_connections;   /* 0: HTTP_MAX_CONNECTIONS */
	size_t max_body;             /* bytes; 0: HTTP_MAX_BODY */
	uint64_t connect_timeout_ms; /* 0: 10 s */
};

struct http_response {
	long status;
	const char *body; /* NUL-terminated; "" when empty */
	size_t len;
	const struct http_request *req; /* for http_response_header() */
};

struct http;
struct http_request;

typedef void (*http_done_cb)(void *data, int result,
                             const struct http_response *resp,
                             const char *errmsg);

struct http_stats {
	uint64_t requests;      /* transfers started */
	uint64_t timer_fires;   /* curl timeout timer callbacks */
	uint64_t socket_events; /* uv_poll callbacks */
	uint64_t connects;      /* connections opened (reuse keeps it low) */
	unsigned sockets;       /* sockets curl asked to poll now (idle
	                           kept-alive connections are not polled) */
	unsigned in_flight;     /* transfers not finished */
};

/* conf is copied. */
int http_new(uv_loop_t *loop, const struct http_conf *conf, struct http **ret,
             struct err *e);
/*
 * GET base_url + path ("/v1/...?..."; the caller URL-encodes). timeout_ms
 * bounds the whole transfer (0: none). *ret (may be NULL) is the request,
 * valid until its callback returns or it is cancelled.
 */
int http_get(struct http *h, const char *path, uint64_t timeout_ms,
             http_done_cb cb, void *data, struct http_request **ret);
/* Abort a transfer; its callback never fires. NULL-safe. */
void http_cancel(struct http_request *req);
/* A response header's value, name matched case-insensitively (borrowed). */
const char *http_response_header(const struct http_response *resp,
                                 const char *name);
void http_get_stats(const struct http *h, struct http_stats *ret);
void http_close(struct http *h, void (*closed)(void *data), void *data);

#endif
