/*
 * curl multi on libuv, after curl's docs/examples/multi-uv.c, hardened:
 * every curl and uv return is checked, handles are freed only in their
 * close callbacks, a poll is stopped before curl closes its fd, and the
 * multi handle is cleaned up before the polls and the timer are closed.
 *
 * Every option is set once on a template easy handle in http_new() (so a
 * curl that lacks one fails there, not per request); each request is a
 * curl_easy_duphandle() of it plus its URL, buffers and timeout.
 */
#include "consul/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "base/container_of.h"
#include "consul/consul_addr.h"
#include "base/buf.h"
#include "base/xmalloc.h"

#define HTTP_CONNECT_TIMEOUT_MS 10000

struct http_sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct http *h;
	struct http_sock *prev, *next;
};

struct http_request {
	struct http *h;
	CURL *easy;
	http_done_cb cb;
	void *data;
	struct buf body;
	struct buf headers;   /* "name\0value\0" pairs of the last response */
	bool too_big;         /* the body passed max_body */
	bool headers_too_big; /* the headers passed HTTP_MAX_HEADER_BYTES */
	bool in_headers;      /* between a status line and the blank line */
	bool finishing;       /* its callback is running */
	char errbuf[CURL_ERROR_SIZE];
	struct http_request *prev, *next;
};

struct http {
	uv_loop_t *loop;
	CURLM *multi;
	CURL *tmpl; /* every option but the per-request ones */
	uv_timer_t timer;
	char *base_url;
	struct curl_slist *req_headers; /* holds the token: never logged */
	struct curl_slist *connect_to;
	size_t max_body;
	long connect_ms;  /* CURLOPT_CONNECTTIMEOUT_MS of short requests */
	bool unix_socket; /* the agent is at a unix:// path */
	struct http_sock *socks;
	struct http_request *reqs;
	struct http_stats stats;
	unsigned dispatching; /* inside http_check_done() */
	unsigned pending_closes;
	bool closing;
	bool shut_down;
	void (*closed)(void *data);
	void *closed_data;
};

static void http_shutdown(struct http *h);

static void http_maybe_finalize(struct http *h)
{
	void (*closed)(void *data);
	void *data;

	if (!h->closing || !h->shut_down || h->pending_closes > 0)
		return;
	closed = h->closed;
	data = h->closed_data;
	curl_slist_free_all(h->req_headers);
	curl_slist_free_all(h->connect_to);
	free(h->base_url);
	free(h);
	if (closed != NULL)
		closed(data);
}

static void http_sock_closed(uv_handle_t *handle)
{
	struct http_sock *s = container_of(handle, struct http_sock, poll);
	struct http *h = s->h;

	free(s);
	h->pending_closes--;
	http_maybe_finalize(h);
}

static void http_sock_close(struct http_sock *s)
{
	struct http *h = s->h;

	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		h->socks = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	h->stats.sockets--;
	h->pending_closes++;
	uv_close((uv_handle_t *)&s->poll, http_sock_closed);
}

static void http_timer_closed(uv_handle_t *handle)
{
	struct http *h = container_of(handle, struct http, timer);

	h->pending_closes--;
	http_maybe_finalize(h);
}

static void http_request_unlink(struct http_request *req)
{
	struct http *h = req->h;

	if (req->prev != NULL)
		req->prev->next = req->next;
	else
		h->reqs = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	req->prev = req->next = NULL;
	h->stats.in_flight--;
}

static void http_request_free(struct http_request *req)
{
	curl_easy_cleanup(req->easy);
	buf_free(&req->body);
	buf_free(&req->headers);
	free(req);
}

/*
 * curl refuses a single header line above CURL_MAX_HTTP_HEADER (100 KiB)
 * with CURLE_OUT_OF_MEMORY before 8.6 (its bounded buffer says so, with
 * no message) and CURLE_TOO_LARGE since. Neither is a lack of memory
 * when it comes in the middle of a response's headers.
 */
#define HTTP_CURL_HEADER_LINE_MAX (100u * 1024)

static bool http_header_line_refused(const struct http_request *req,
                                     CURLcode code)
{
#if CURL_AT_LEAST_VERSION(8, 6, 0)
	if (code == CURLE_TOO_LARGE)
		return true;
#endif
	return code == CURLE_OUT_OF_MEMORY && req->in_headers;
}

static int http_result(const struct http_request *req, CURLcode code)
{
	if (http_header_line_refused(req, code))
		return -E2BIG;
	switch (code) {
	case CURLE_OK:
		return 0;
	case CURLE_WRITE_ERROR:
		return req->too_big || req->headers_too_big ? -E2BIG : -EIO;
	case CURLE_FILESIZE_EXCEEDED:
		return -E2BIG;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return -ECONNRESET;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_BAD_CONTENT_ENCODING:
	case CURLE_HTTP2:
		return -EPROTO;
	default:
		return -EIO;
	}
}

/* The host of url (scheme://[user@]host[:port]/...), brackets dropped. */
static void http_url_host(const char *url, char *buf, size_t size)
{
	const char *p = strstr(url, "://"), *end, *at;
	size_t n;

	p = p != NULL ? p + 3 : url;
	end = p + strcspn(p, "/?#");
	at = memchr(p, '@', (size_t)(end - p));
	if (at != NULL)
		p = at + 1;
	if (*p == '[') {
		p++;
		n = strcspn(p, "]");
	} else {
		n = strcspn(p, ":/?#");
	}
	if (n > (size_t)(end - p))
		n = (size_t)(end - p);
	snprintf(buf, size, "%.*s", (int)n, p);
}

/*
 * A connect(2) that failed with EPERM never left the host: a local
 * policy refused it. To a loopback address that is rare; to anything
 * else it is usually the packaged unit's IPAddressAllow=localhost (or a
 * firewall's OUTPUT rule), which curl reports only as "Couldn't connect
 * to server". Say so once in the message (the watcher logs it once per
 * change of state).
 */
static bool http_denied_hint(const struct http *h, CURL *easy, char *buf,
                             size_t size, const char *errmsg)
{
	long oserr = 0;
	char *ip = NULL, host[256];

	if (h->unix_socket ||
	    curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &oserr) != CURLE_OK ||
	    oserr != EPERM)
		return false;
	if (curl_easy_getinfo(easy, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK &&
	    ip != NULL && *ip != '\0')
		snprintf(host, sizeof(host), "%s", ip);
	else
		http_url_host(h->base_url, host, sizeof(host));
	if (consul_addr_is_loopback(host))
		return false;
	(void)!snprintf(
	        buf, size,
	        "%.200s (connect to %.64s: Operation not permitted: a local "
	        "policy refused it, most likely the systemd unit's "
	        "IPAddressAllow=, which allows only localhost in the "
	        "packaged unit, or a firewall; allow the Consul address in "
	        "a drop-in, see remote-consul.conf in consul-hosts(8))",
	        errmsg, host);
	return true;
}

/* "64 MiB", "100 KiB", "5000000 bytes". */
static const char *http_size(char *out, size_t size, size_t n)
{
	if (n >= (1u << 20) && n % (1u << 20) == 0)
		snprintf(out, size, "%zu MiB", n >> 20);
	else if (n >= 1024 && n % 1024 == 0)
		snprintf(out, size, "%zu KiB", n >> 10);
	else
		snprintf(out, size, "%zu bytes", n);
	return out;
}

static void http_finish(struct http *h, CURL *easy, CURLcode code)
{
	struct http_request *req;
	struct http_response resp;
	char *priv = NULL;
	long connects = 0;
	const char *errmsg;
	char toobig[128], size[32], denied[800];
	int result;

	if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) != CURLE_OK ||
	    priv == NULL)
		return;
	req = (struct http_request *)(void *)priv;
	(void)curl_multi_remove_handle(h->multi, easy);
	http_request_unlink(req);
	if (curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects) ==
	            CURLE_OK &&
	    connects > 0)
		h->stats.connects += (uint64_t)connects;
	result = http_result(req, code);
	memset(&resp, 0, sizeof(resp));
	if (result == 0 && curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE,
	                                     &resp.status) != CURLE_OK)
		result = -EIO;
	resp.body = buf_str(&req->body);
	resp.len = req->body.len;
	resp.req = req;
	errmsg =
	        req->errbuf[0] != '\0' ? req->errbuf : curl_easy_strerror(code);
	if (result == -E2BIG) {
		/* Name the limit that was passed, and its size. */
		if (req->headers_too_big)
			snprintf(toobig, sizeof(toobig),
			         "response headers larger than the %s limit",
			         http_size(size, sizeof(size),
			                   HTTP_MAX_HEADER_BYTES));
		else if (http_header_line_refused(req, code))
			snprintf(toobig, sizeof(toobig),
			         "a response header line larger than curl's "
			         "%s limit",
			         http_size(size, sizeof(size),
			                   HTTP_CURL_HEADER_LINE_MAX));
		else
			snprintf(toobig, sizeof(toobig),
			         "response larger than the %s limit",
			         http_size(size, sizeof(size), h->max_body));
		errmsg = toobig;
	} else if (result < 0 &&
	           http_denied_hint(h, easy, denied, sizeof(denied), errmsg)) {
		result = -EPERM;
		errmsg = denied;
	}
	req->finishing = true;
	req->cb(req->data, result, result == 0 ? &resp : NULL,
	        result == 0 ? "" : errmsg);
	http_request_free(req);
}

/* Hand finished transfers to their callbacks; runs after curl returns. */
static void http_check_done(struct http *h)
{
	CURLMsg *msg;
	int left;

	h->dispatching++;
	while (!h->closing &&
	       (msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (msg->msg == CURLMSG_DONE)
			http_finish(h, msg->easy_handle, msg->data.result);
	}
	h->dispatching--;
	if (h->closing && h->dispatching == 0 && !h->shut_down)
		http_shutdown(h);
}

static void http_poll_cb(uv_poll_t *poll, int status, int events)
{
	struct http_sock *s = container_of(poll, struct http_sock, poll);
	struct http *h = s->h;
	int flags = 0, running;

	h->stats.socket_events++;
	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	/* s may be closed (not freed) by the socket callback in here. */
	(void)curl_multi_socket_action(h->multi, s->fd, flags, &running);
	http_check_done(h);
}

static void http_timer_cb(uv_timer_t *timer)
{
	struct http *h = container_of(timer, struct http, timer);
	int running;

	h->stats.timer_fires++;
	(void)curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0,
	                               &running);
	http_check_done(h);
}

/* CURLMOPT_TIMERFUNCTION: never act from inside curl, only arm the timer. */
static int http_timer_fn(CURLM *multi, long timeout_ms, void *userp)
{
	struct http *h = userp;

	(void)multi;
	if (timeout_ms < 0 || h->closing)
		return uv_timer_stop(&h->timer) < 0 ? -1 : 0;
	/* A 0 ms timeout still runs on the next loop iteration, not here. */
	return uv_timer_start(&h->timer, http_timer_cb, (uint64_t)timeout_ms,
	                      0) < 0
	               ? -1
	               : 0;
}

/* CURLMOPT_SOCKETFUNCTION: one uv_poll_t per socket. */
static int http_socket_fn(CURL *easy, curl_socket_t fd, int what, void *userp,
                          void *socketp)
{
	struct http *h = userp;
	struct http_sock *s = socketp;
	int events = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			/* Stop before curl closes the fd. */
			(void)uv_poll_stop(&s->poll);
			if (!h->closing)
				(void)curl_multi_assign(h->multi, fd, NULL);
			http_sock_close(s);
		}
		return 0;
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->fd = fd;
		s->h = h;
		if (uv_poll_init_socket(h->loop, &s->poll, fd) < 0) {
			free(s);
			return -1;
		}
		s->next = h->socks;
		if (h->socks != NULL)
			h->socks->prev = s;
		h->socks = s;
		h->stats.sockets++;
		if (curl_multi_assign(h->multi, fd, s) != CURLM_OK) {
			http_sock_close(s);
			return -1;
		}
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	if (uv_poll_start(&s->poll, events, http_poll_cb) < 0)
		return -1;
	return 0;
}

static size_t http_write_fn(char *p, size_t size, size_t n, void *userp)
{
	struct http_request *req = userp;

	if (buf_append(&req->body, p, n) < 0) {
		req->too_big = true;
		return 0;
	}
	return n;
}

static size_t http_header_fn(char *p, size_t size, size_t n, void *userp)
{
	struct http_request *req = userp;
	const char *colon, *v, *end = p + n;
	size_t nlen;

	if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		/* A new response (after a 100 Continue): forget the old one. */
		buf_reset(&req->headers);
		req->in_headers = true;
		return n;
	}
	colon = memchr(p, ':', n);
	if (colon == NULL || colon == p) {
		/* the blank line, or a folded continuation */
		if (n >= 1 && n <= 2 && (p[0] == '\r' || p[0] == '\n'))
			req->in_headers = false;
		return n;
	}
	nlen = (size_t)(colon - p);
	v = colon + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' ||
	                   end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (buf_append(&req->headers, p, nlen) < 0 ||
	    buf_putc(&req->headers, '\0') < 0 ||
	    buf_append(&req->headers, v, (size_t)(end - v)) < 0 ||
	    buf_putc(&req->headers, '\0') < 0) {
		req->headers_too_big = true;
		return 0;
	}
	return n;
}

const char *http_response_header(const struct http_response *resp,
                                 const char *name)
{
	const struct buf *b = &resp->req->headers;
	const char *p = b->data, *end = b->data + b->len;

	if (p == NULL)
		return NULL;
	while (p < end) {
		const char *v = p + strlen(p) + 1;

		if (v >= end)
			break;
		if (strcasecmp(p, name) == 0)
			return v;
		p = v + strlen(v) + 1;
	}
	return NULL;
}

/*
 * Sockets are opened close-on-exec: libcurl does not ask for it and
 * uv_spawn does not close inherited descriptors, so a command (or a
 * daemon it leaves behind) would otherwise hold the agent connections.
 */
static curl_socket_t http_open_socket(void *clientp, curlsocktype purpose,
                                      struct curl_sockaddr *a)
{
	(void)clientp;
	(void)purpose;
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static int http_setup_template(struct http *h, const struct http_conf *conf,
                               struct err *e)
{
	CURL *t = h->tmpl;
	long connect_ms = conf->connect_timeout_ms != 0
	                          ? (long)conf->connect_timeout_ms
	                          : HTTP_CONNECT_TIMEOUT_MS;
	CURLcode c;

	h->connect_ms = connect_ms;
	if ((c = curl_easy_setopt(t, CURLOPT_NOSIGNAL, 1L)) != CURLE_OK ||
	    (c = curl_easy_setopt(t, CURLOPT_OPENSOCKETFUNCTION,
	                          http_open_socket)) != CURLE_OK ||
#if CURL_AT_LEAST_VERSION(7, 85, 0)
	    (c = curl_easy_setopt(t, CURLOPT_PROTOCOLS_STR, "http,https")) !=
	            CURLE_OK ||
#else /* EL8 and EL9 ship 7.61 and 7.76 */
	    (c = curl_easy_setopt(t, CURLOPT_PROTOCOLS,
	                          (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS))) !=
	            CURLE_OK ||
#endif
	    (c = curl_easy_setopt(t, CURLOPT_FOLLOWLOCATION, 0L)) != CURLE_OK ||
	    (c = curl_easy_setopt(t, CURLOPT_CONNECTTIMEOUT_MS, connect_ms)) !=
	            CURLE_OK ||
	    (c = curl_easy_setopt(t, CURLOPT_TCP_KEEPALIVE, 1L)) != CURLE_OK ||
	    (c = curl_easy_setopt(t, CURLOPT_TCP_KEEPIDLE, 30L)) != CURLE_OK ||
	    (c = curl_easy_setopt(t, CURLOPT_TCP_KEEPINTVL, 15L)) != CURLE_OK ||
	    (c = curl_easy_setopt(t, CURLOPT_ACCEPT_ENCODING, "")) !=
	            CURLE_OK ||
	    (c = curl_easy_setopt(t, CURLOPT_USERAGENT,
	                          "consul-hosts/" CH_VERSION)) != CURLE_OK ||
	    (c = curl_easy_setopt(t, CURLOPT_HTTPHEADER, h->req_headers)) !=
	            CURLE_OK ||
	    (c = curl_easy_setopt(t, CURLOPT_WRITEFUNCTION, http_write_fn)) !=
	            CURLE_OK ||
	    (c = curl_easy_setopt(t, CURLOPT_HEADERFUNCTION, http_header_fn)) !=
	            CURLE_OK ||
	    (c = curl_easy_setopt(t, CURLOPT_SSL_VERIFYPEER,
	                          conf->verify ? 1L : 0L)) != CURLE_OK ||
	    (c = curl_easy_setopt(t, CURLOPT_SSL_VERIFYHOST,
	                          conf->verify ? 2L : 0L)) != CURLE_OK ||
	    /* An announced Content-Length over the bound fails at once. */
	    (c = curl_easy_setopt(t, CURLOPT_MAXFILESIZE_LARGE,
	                          (curl_off_t)h->max_body)) != CURLE_OK)
		return err_msg(e, -EINVAL, "curl: %s", curl_easy_strerror(c));
	h->unix_socket = conf->unix_path != NULL;
	if (conf->unix_path != NULL &&
	    (c = curl_easy_setopt(t, CURLOPT_UNIX_SOCKET_PATH,
	                          conf->unix_path)) != CURLE_OK)
		return err_msg(e, -EINVAL, "curl: unix socket: %s",
		               curl_easy_strerror(c));
	if (h->connect_to != NULL &&
	    (c = curl_easy_setopt(t, CURLOPT_CONNECT_TO, h->connect_to)) !=
	            CURLE_OK)
		return err_msg(e, -EINVAL, "curl: connect-to: %s",
		               curl_easy_strerror(c));
	if (conf->ca_cert != NULL &&
	    (c = curl_easy_setopt(t, CURLOPT_CAINFO, conf->ca_cert)) !=
	            CURLE_OK)
		return err_msg(e, -EINVAL, "curl: CA file: %s",
		               curl_easy_strerror(c));
	if (conf->ca_path != NULL &&
	    (c = curl_easy_setopt(t, CURLOPT_CAPATH, conf->ca_path)) !=
	            CURLE_OK)
		return err_msg(e, -EINVAL, "curl: CA path: %s",
		               curl_easy_strerror(c));
	if (conf->cert != NULL &&
	    (c = curl_easy_setopt(t, CURLOPT_SSLCERT, conf->cert)) != CURLE_OK)
		return err_msg(e, -EINVAL, "curl: client certificate: %s",
		               curl_easy_strerror(c));
	if (conf->key != NULL &&
	    (c = curl_easy_setopt(t, CURLOPT_SSLKEY, conf->key)) != CURLE_OK)
		return err_msg(e, -EINVAL, "curl: client key: %s",
		               curl_easy_strerror(c));
	return 0;
}

int http_new(uv_loop_t *loop, const struct http_conf *conf, struct http **ret,
             struct err *e)
{
	static bool curl_ready;
	long maxconn = conf->max_host_connections > 0
	                       ? conf->max_host_connections
	                       : HTTP_MAX_CONNECTIONS;
	struct http *h;
	char *line;
	int r;

	if (conf->base_url == NULL)
		return err_msg(e, -EINVAL, "no Consul address");
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return err_msg(e, -EIO, "curl_global_init failed");
		curl_ready = true;
	}
	h = xcalloc(1, sizeof(*h));
	h->loop = loop;
	h->base_url = xstrdup(conf->base_url);
	h->max_body = conf->max_body != 0 ? conf->max_body : HTTP_MAX_BODY;
	/* The list is copied by curl_slist_append; the token lives there. */
	if (conf->token != NULL && *conf->token != '\0') {
		line = xasprintf("X-Consul-Token: %s", conf->token);
		h->req_headers = curl_slist_append(NULL, line);
		explicit_bzero(line, strlen(line));
		free(line);
		if (h->req_headers == NULL) {
			r = err_msg(e, -ENOMEM, "curl_slist_append failed");
			goto fail;
		}
	}
	if (conf->connect_to != NULL) {
		h->connect_to = curl_slist_append(NULL, conf->connect_to);
		if (h->connect_to == NULL) {
			r = err_msg(e, -ENOMEM, "curl_slist_append failed");
			goto fail;
		}
	}
	h->tmpl = curl_easy_init();
	h->multi = curl_multi_init();
	if (h->tmpl == NULL || h->multi == NULL) {
		r = err_msg(e, -ENOMEM, "curl handle allocation failed");
		goto fail;
	}
	r = http_setup_template(h, conf, e);
	if (r < 0)
		goto fail;
	if (curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION,
	                      http_socket_fn) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION,
	                      http_timer_fn) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
	                      maxconn) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, maxconn) !=
	            CURLM_OK) {
		r = err_msg(e, -EINVAL, "curl_multi_setopt failed");
		goto fail;
	}
	/* Last: from here on the struct is freed only through http_close. */
	r = uv_timer_init(loop, &h->timer);
	if (r < 0) {
		err_msg(e, r, "uv_timer_init: %s", uv_strerror(r));
		goto fail;
	}
	*ret = h;
	return 0;
fail:
	curl_multi_cleanup(h->multi);
	curl_easy_cleanup(h->tmpl);
	curl_slist_free_all(h->req_headers);
	curl_slist_free_all(h->connect_to);
	free(h->base_url);
	free(h);
	return r;
}

int http_get(struct http *h, const char *path, uint64_t timeout_ms,
             http_done_cb cb, void *data, struct http_request **ret)
{
	struct http_request *req;
	char *url;
	CURLMcode mc;

	if (h->closing || cb == NULL)
		return -EINVAL;
	for (const char *p = path; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return -EINVAL;
	req = xcalloc(1, sizeof(*req));
	req->h = h;
	req->cb = cb;
	req->data = data;
	buf_init(&req->body, h->max_body);
	buf_init(&req->headers, HTTP_MAX_HEADER_BYTES);
	req->easy = curl_easy_duphandle(h->tmpl);
	if (req->easy == NULL) {
		http_request_free(req);
		return -ENOMEM;
	}
	url = xasprintf("%s%s", h->base_url, path);
	if (curl_easy_setopt(req->easy, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(req->easy, CURLOPT_PRIVATE, req) != CURLE_OK ||
	    curl_easy_setopt(req->easy, CURLOPT_WRITEDATA, req) != CURLE_OK ||
	    curl_easy_setopt(req->easy, CURLOPT_HEADERDATA, req) != CURLE_OK ||
	    curl_easy_setopt(req->easy, CURLOPT_ERRORBUFFER, req->errbuf) !=
	            CURLE_OK ||
	    curl_easy_setopt(req->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms) !=
	            CURLE_OK ||
	    /*
	     * curl arms a connect-timeout timer for every transfer and leaves
	     * it armed when the transfer reuses a kept-alive connection: an
	     * idle long poll would wake the loop once, connect_ms after it
	     * started (strace shows it). A long poll therefore connects
	     * within its whole timeout; short requests (first fetches) keep
	     * the short connect timeout that finds a dead agent quickly.
	     */
	    (timeout_ms > 2 * (uint64_t)h->connect_ms &&
	     curl_easy_setopt(req->easy, CURLOPT_CONNECTTIMEOUT_MS,
	                      (long)timeout_ms) != CURLE_OK)) {
		free(url);
		http_request_free(req);
		return -EINVAL;
	}
	free(url);
	mc = curl_multi_add_handle(h->multi, req->easy);
	if (mc != CURLM_OK) {
		http_request_free(req);
		return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
	}
	req->next = h->reqs;
	if (h->reqs != NULL)
		h->reqs->prev = req;
	h->reqs = req;
	h->stats.requests++;
	h->stats.in_flight++;
	if (ret != NULL)
		*ret = req;
	return 0;
}

void http_cancel(struct http_request *req)
{
	if (req == NULL || req->finishing)
		return;
	(void)curl_multi_remove_handle(req->h->multi, req->easy);
	http_request_unlink(req);
	http_request_free(req);
}

void http_get_stats(const struct http *h, struct http_stats *ret)
{
	*ret = h->stats;
}

static void http_shutdown(struct http *h)
{
	h->shut_down = true;
	/* Stop every poll before curl closes the sockets. */
	for (struct http_sock *s = h->socks; s != NULL; s = s->next)
		(void)uv_poll_stop(&s->poll);
	(void)curl_multi_cleanup(h->multi);
	h->multi = NULL;
	curl_easy_cleanup(h->tmpl);
	h->tmpl = NULL;
	while (h->socks != NULL)
		http_sock_close(h->socks);
	(void)uv_timer_stop(&h->timer);
	h->pending_closes++;
	uv_close((uv_handle_t *)&h->timer, http_timer_closed);
}

void http_close(struct http *h, void (*closed)(void *data), void *data)
{
	if (h == NULL || h->closing)
		return;
	h->closing = true;
	h->closed = closed;
	h->closed_data = data;
	while (h->reqs != NULL)
		http_cancel(h->reqs);
	if (h->dispatching == 0)
		http_shutdown(h);
}
