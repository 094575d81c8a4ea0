/* web.c — clipsort-label-web: the labelling loop of ui_core.h served over HTTP with
 * libmicrohttpd.  One page (label/static/, embedded at build time), a small JSON API,
 * images by opaque id.  Security model: clipsort-label-web(1), SECURITY. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "exitcode.h"
#include "num.h"
#include "ui_core.h"
#include "ui_img.h"
#include "web_static.h"
#include "xalloc.h"

#define MAX_WEB_SESSIONS 1024
#define THUMB_BOX 256
#define FULL_BOX 1024
#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " \
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

typedef struct wsess {
	char sid[33], csrf[33];
	int core_sid;
	time_t created;
} wsess;

static struct {
	ui_core *core;
	ui_imgcache *img;
	char *token;
	char **hosts;           /* allowed Host header values (lowercase, with port) */
	size_t nhosts;
	size_t max_body;
	pthread_mutex_t mu;
	wsess *sess;
	size_t nsess;
} W;

typedef struct req {
	char *body;
	size_t len;
	int too_big;
} req;

static void usage(void)
{
	fprintf(stderr,
		"usage: %s --cache FILE --labels FILE --classes FILE [--zeroshot FILE] [--clusters FILE]\n"
		"       [--root DIR] [--journal FILE] [--workdir DIR] [--listen ADDR] [--port N]\n"
		"       [--token-file FILE] [--allow-host HOST] [--retrain-every N] [--lease SECONDS]\n"
		"       [--timeout SECONDS] [--max-body BYTES] [--threads N] [--connections N]\n"
		"       [--cache-mb N] [--tools DIR]\n", diag_prog());
	exit(CS_EXIT_USAGE);
}

/* --- small helpers --------------------------------------------------------------------- */

static void random_hex(char out[33])
{
	unsigned char b[16];
	size_t got = 0;
	while (got < sizeof b) {
		ssize_t r = getrandom(b + got, sizeof b - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			cs_die(CS_EXIT_IO, "getrandom:");
		}
		got += (size_t)r;
	}
	for (size_t i = 0; i < sizeof b; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/* Constant-time comparison of two NUL-terminated secrets. */
static int secret_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;
	for (size_t i = 0; i < la; i++)
		d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return d == 0;
}

static void add_common_headers(struct MHD_Response *r)
{
	MHD_add_response_header(r, "Content-Security-Policy", CSP);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Cross-Origin-Resource-Policy", "same-origin");
}

static enum MHD_Result send_buf(struct MHD_Connection *c, unsigned status, const char *type,
		void *buf, size_t len, enum MHD_ResponseMemoryMode mode, const char *cache,
		const char *cookie)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, buf, mode);
	if (!r)
		return MHD_NO;
	add_common_headers(r);
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", cache ? cache : "no-store");
	if (cookie)
		MHD_add_response_header(r, "Set-Cookie", cookie);
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *j, const char *cookie)
{
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!s)
		return MHD_NO;
	return send_buf(c, status, "application/json; charset=utf-8", s, strlen(s), MHD_RESPMEM_MUST_FREE,
			NULL, cookie);
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
	return send_json(c, status, json_pack("{s:s}", "error", msg), NULL);
}

/* --- sessions -------------------------------------------------------------------------- */

/* The web session of the request's cookie, copied into *out; 0 if none. */
static int find_session(struct MHD_Connection *c, wsess *out)
{
	const char *sid = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "cs_sid");
	int found = 0;
	if (!sid || strlen(sid) != 32)
		return 0;
	pthread_mutex_lock(&W.mu);
	for (size_t i = 0; i < W.nsess; i++)
		if (secret_eq(W.sess[i].sid, sid)) {
			*out = W.sess[i];
			found = 1;
			break;
		}
	pthread_mutex_unlock(&W.mu);
	return found;
}

static int valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > UI_NAME_MAX)
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			return 0;
	return s[0] != ' ';
}

static int valid_sub(const char *s)
{
	size_t n = strlen(s);
	if (n < 8 || n > UI_SUB_MAX)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
				*s == '-' || *s == '_'))
			return 0;
	return 1;
}

/* --- JSON views ------------------------------------------------------------------------ */

static json_t *class_or_null(int k)
{
	return k >= 0 ? json_string(ui_core_class(W.core, (size_t)k)) : json_null();
}

static json_t *item_json(size_t id)
{
	ui_item_info in;
	ui_core_info(W.core, id, &in);
	/* the location is shown to the user as text: JSON-escaped here, inserted with
	 * textContent by the page, never as HTML */
	return json_pack("{s:I, s:s, s:s, s:o, s:s, s:o, s:f, s:o, s:f, s:i, s:b}",
			"id", (json_int_t)id,
			"key", ui_core_key(W.core, id),
			"path", ui_core_loc(W.core, id),
			"label", class_or_null(in.label),
			"labeller", in.labeller,
			"pred", class_or_null(in.pred), "pred_p", in.pred_p,
			"zs", class_or_null(in.zs), "zs_p", in.zs_p,
			"cluster", in.cluster,
			"flagged", in.flagged);
}

static json_t *stats_json(void)
{
	ui_stats s;
	json_t *lab = json_object(), *pred = json_object();
	ui_core_stats(W.core, &s);
	for (size_t k = 0; k < ui_core_nclasses(W.core); k++) {
		json_object_set_new(lab, ui_core_class(W.core, k), json_integer((json_int_t)s.labelled[k]));
		json_object_set_new(pred, ui_core_class(W.core, k), json_integer((json_int_t)s.predicted[k]));
	}
	return json_pack("{s:I, s:I, s:I, s:o, s:o, s:I, s:I, s:b, s:o, s:s, s:s, s:I, s:b, s:I}",
			"items", (json_int_t)s.nitems, "labelled", (json_int_t)s.nlabelled,
			"flagged", (json_int_t)s.nflagged, "per_class", lab, "predicted", pred,
			"npredicted", (json_int_t)s.npredicted, "confident", (json_int_t)s.nconfident,
			"has_model", s.has_model,
			"cv_accuracy", s.cv_accuracy >= 0 ? json_real(s.cv_accuracy) : json_null(),
			"model_time", s.model_time, "model_msg", s.model_msg,
			"retrains", (json_int_t)s.retrains, "retraining", s.retraining,
			"labels_since", (json_int_t)s.labels_since);
}

static json_t *history_json(int sid)
{
	ui_decision d[UI_HISTORY];
	size_t n = ui_core_history(W.core, sid, d);
	static const char *const acts[] = { "", "label", "skip", "flag" };
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:I, s:s, s:o, s:s}", "id", (json_int_t)d[i].id,
				"act", acts[d[i].act], "class", class_or_null(d[i].cls),
				"path", ui_core_loc(W.core, d[i].id)));
	return a;
}

static json_t *classes_json(void)
{
	json_t *a = json_array();
	for (size_t k = 0; k < ui_core_nclasses(W.core); k++) {
		char key[2] = { ui_core_class_key(W.core, k), 0 };
		json_array_append_new(a, json_pack("{s:s, s:s}", "name", ui_core_class(W.core, k), "key", key));
	}
	return a;
}

/* --- routes ------------------------------------------------------------------------------ */

static enum MHD_Result get_static(struct MHD_Connection *c, const char *url)
{
	for (size_t i = 0; i < web_static_n; i++)
		if (strcmp(url, web_static[i].url) == 0)
			return send_buf(c, MHD_HTTP_OK, web_static[i].type, (void *)(uintptr_t)web_static[i].data,
					web_static[i].len, MHD_RESPMEM_PERSISTENT, "no-cache", NULL);
	return send_error(c, MHD_HTTP_NOT_FOUND, "not found");
}

/* Parse a decimal id in [0, n). */
static int parse_id(const char *s, size_t *id)
{
	const char *e;
	if (!s || !*s || strspn(s, "0123456789") != strlen(s))
		return -1;
	long long v = num_parse_ll(s, 0, (long long)ui_core_nitems(W.core) - 1, &e);
	if (e)
		return -1;
	*id = (size_t)v;
	return 0;
}

static enum MHD_Result get_image(struct MHD_Connection *c, const char *idstr)
{
	const char *s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "s");
	size_t id, len;
	unsigned char *jpg;
	char err[512];

	if (parse_id(idstr, &id) != 0)
		return send_error(c, MHD_HTTP_NOT_FOUND, "no such image");
	int box = s && strcmp(s, "thumb") == 0 ? THUMB_BOX : FULL_BOX;
	if (ui_img_get(W.img, ui_core_root(W.core), ui_core_loc(W.core, id), id, box, &jpg, &len, err, sizeof err) != 0) {
		cs_warn("%s", err);
		return send_error(c, MHD_HTTP_UNPROCESSABLE_CONTENT, "cannot read this image (see the server log)");
	}
	return send_buf(c, MHD_HTTP_OK, "image/jpeg", jpg, len, MHD_RESPMEM_MUST_FREE, "private, max-age=3600", NULL);
}

static enum MHD_Result get_api(struct MHD_Connection *c, const char *url, const wsess *ws, int have)
{
	if (strcmp(url, "/api/state") == 0) {
		json_t *j = json_pack("{s:o, s:o}", "classes", classes_json(), "stats", stats_json());
		if (have) {
			char name[UI_NAME_MAX + 1];
			json_object_set_new(j, "user", json_string(ui_core_session_name(W.core, ws->core_sid, name)));
			json_object_set_new(j, "csrf", json_string(ws->csrf));
			json_object_set_new(j, "history", history_json(ws->core_sid));
		} else {
			json_object_set_new(j, "user", json_null());
		}
		return send_json(c, MHD_HTTP_OK, j, NULL);
	}
	if (!have)
		return send_error(c, MHD_HTTP_UNAUTHORIZED, "log in first");
	if (strcmp(url, "/api/next") == 0) {
		const char *ns = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "n");
		const char *e = NULL;
		size_t n = ns ? (size_t)num_parse_ll(ns, 1, 16, &e) : 4, ids[16];
		if (e)
			return send_error(c, MHD_HTTP_BAD_REQUEST, "n: 1..16");
		size_t got = ui_core_next(W.core, ws->core_sid, ids, n);
		json_t *a = json_array();
		for (size_t i = 0; i < got; i++)
			json_array_append_new(a, item_json(ids[i]));
		return send_json(c, MHD_HTTP_OK, json_pack("{s:o, s:o, s:o}", "items", a, "stats", stats_json(),
				"history", history_json(ws->core_sid)), NULL);
	}
	if (strcmp(url, "/api/item") == 0) {
		size_t id;
		if (parse_id(MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "id"), &id) != 0)
			return send_error(c, MHD_HTTP_NOT_FOUND, "no such image");
		return send_json(c, MHD_HTTP_OK, item_json(id), NULL);
	}
	if (strcmp(url, "/api/review") == 0) {
		const char *cls = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "class");
		const char *ls = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
		const char *e = NULL;
		int k = cls ? ui_core_class_index(W.core, cls) : -1;
		size_t lim = ls ? (size_t)num_parse_ll(ls, 1, 2000, &e) : 200;
		if (k < 0 || e)
			return send_error(c, MHD_HTTP_BAD_REQUEST, "class: one of the classes; limit: 1..2000");
		size_t *ids = xmalloc(lim * sizeof *ids);
		double *conf = xmalloc(lim * sizeof *conf);
		size_t n = ui_core_review(W.core, k, ids, conf, lim);
		json_t *a = json_array();
		for (size_t i = 0; i < n; i++) {
			json_t *it = item_json(ids[i]);
			json_object_set_new(it, "confidence", json_real(conf[i]));
			json_array_append_new(a, it);
		}
		free(ids);
		free(conf);
		return send_json(c, MHD_HTTP_OK, json_pack("{s:s, s:o}", "class", cls, "items", a), NULL);
	}
	return send_error(c, MHD_HTTP_NOT_FOUND, "not found");
}

static enum MHD_Result post_login(struct MHD_Connection *c, json_t *body)
{
	const char *name = json_string_value(json_object_get(body, "name"));
	wsess ws;
	char cookie[128];

	if (!name || !valid_name(name))
		return send_error(c, MHD_HTTP_BAD_REQUEST, "name: 1-64 bytes, no control characters or backslash");
	int sid = ui_core_session(W.core, name);
	if (sid < 0)
		return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "too many active users");
	random_hex(ws.sid);
	random_hex(ws.csrf);
	ws.core_sid = sid;
	ws.created = time(NULL);
	pthread_mutex_lock(&W.mu);
	size_t slot = W.nsess;
	for (size_t i = 0; i < W.nsess; i++)
		if (W.sess[i].core_sid == sid) {   /* that core session was recycled */
			slot = i;
			break;
		}
	if (slot == W.nsess)
		W.nsess++;
	W.sess[slot] = ws;
	pthread_mutex_unlock(&W.mu);
	snprintf(cookie, sizeof cookie, "cs_sid=%s; Path=/; HttpOnly; SameSite=Strict", ws.sid);
	return send_json(c, MHD_HTTP_OK, json_pack("{s:s, s:s}", "user", name, "csrf", ws.csrf), cookie);
}

static enum MHD_Result post_api(struct MHD_Connection *c, const char *url, const wsess *ws, json_t *body)
{
	char err[512];
	int dup = 0, rc;
	size_t id;
	json_t *jid = json_object_get(body, "id");
	const char *sub = json_string_value(json_object_get(body, "sub"));

	if (sub && !valid_sub(sub))
		return send_error(c, MHD_HTTP_BAD_REQUEST, "sub: 8-64 characters [A-Za-z0-9_-]");
	int need_id = strcmp(url, "/api/undo") != 0 && strcmp(url, "/api/retrain") != 0;
	if (need_id && (!json_is_integer(jid) || json_integer_value(jid) < 0 ||
			(size_t)json_integer_value(jid) >= ui_core_nitems(W.core)))
		return send_error(c, MHD_HTTP_BAD_REQUEST, "id: an image id");
	id = need_id ? (size_t)json_integer_value(jid) : 0;

	if (strcmp(url, "/api/label") == 0) {
		const char *cls = json_string_value(json_object_get(body, "class"));
		int k = cls ? ui_core_class_index(W.core, cls) : -1;
		if (k < 0)
			return send_error(c, MHD_HTTP_BAD_REQUEST, "class: one of the classes");
		rc = ui_core_label(W.core, ws->core_sid, id, k, sub, &dup, err, sizeof err);
	} else if (strcmp(url, "/api/skip") == 0) {
		rc = ui_core_skip(W.core, ws->core_sid, id);
	} else if (strcmp(url, "/api/flag") == 0) {
		rc = ui_core_flag(W.core, ws->core_sid, id, sub, &dup, err, sizeof err);
	} else if (strcmp(url, "/api/undo") == 0) {
		rc = ui_core_undo(W.core, ws->core_sid, sub, &id, &dup, err, sizeof err);
		if (rc == 1)
			return send_json(c, MHD_HTTP_OK, json_pack("{s:b, s:b}", "ok", 1, "nothing", 1), NULL);
	} else if (strcmp(url, "/api/retrain") == 0) {
		ui_core_retrain_now(W.core);
		rc = 0;
	} else {
		return send_error(c, MHD_HTTP_NOT_FOUND, "not found");
	}
	if (rc != 0) {
		cs_warn("%s", err);
		return send_error(c, rc == CS_EXIT_BUSY ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_INTERNAL_SERVER_ERROR,
				"not recorded: the labels log could not be written (see the server log)");
	}
	return send_json(c, MHD_HTTP_OK, json_pack("{s:b, s:b, s:I}", "ok", 1, "duplicate", dup, "id", (json_int_t)id), NULL);
}

/* --- request checks -------------------------------------------------------------------- */

static int host_ok(const char *host)
{
	if (!host)
		return 0;
	for (size_t i = 0; i < W.nhosts; i++)
		if (strcasecmp(host, W.hosts[i]) == 0)
			return 1;
	return 0;
}

/* Origin, when a browser sends one, must be this server. */
static int origin_ok(const char *origin)
{
	if (!origin)
		return 1;
	if (strncmp(origin, "http://", 7) != 0)
		return 0;
	return host_ok(origin + 7);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
		const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	req *rq = *con_cls;
	(void)cls; (void)version;

	if (!rq) {      /* first call: headers only */
		rq = xcalloc(1, sizeof *rq);
		*con_cls = rq;
		/* refuse early, before any body is read */
		if (!host_ok(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST)))
			return send_error(c, MHD_HTTP_MISDIRECTED_REQUEST, "unexpected Host header");
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		const char *e;
		if (cl && (num_parse_ll(cl, 0, (long long)W.max_body, &e), e))
			return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
		return MHD_YES;
	}
	if (*upload_size) {
		if (!rq->too_big && rq->len + *upload_size <= W.max_body) {
			rq->body = xrealloc(rq->body, rq->len + *upload_size + 1);
			memcpy(rq->body + rq->len, upload, *upload_size);
			rq->len += *upload_size;
			rq->body[rq->len] = '\0';
		} else {
			rq->too_big = 1;
		}
		*upload_size = 0;
		return MHD_YES;
	}

	if (!host_ok(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST)))
		return send_error(c, MHD_HTTP_MISDIRECTED_REQUEST, "unexpected Host header");
	if (rq->too_big)
		return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");

	int is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	int is_post = strcmp(method, "POST") == 0;

	if (W.token) {
		if (is_get && strcmp(url, "/login") == 0) {
			const char *t = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
			if (!t || !secret_eq(t, W.token))
				return send_error(c, MHD_HTTP_UNAUTHORIZED, "wrong or missing access token");
			char *cookie = xasprintf("cs_token=%s; Path=/; HttpOnly; SameSite=Strict", W.token);
			struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)(uintptr_t)"", MHD_RESPMEM_PERSISTENT);
			add_common_headers(r);
			MHD_add_response_header(r, "Set-Cookie", cookie);
			MHD_add_response_header(r, "Location", "/");
			MHD_add_response_header(r, "Cache-Control", "no-store");
			enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_SEE_OTHER, r);
			MHD_destroy_response(r);
			free(cookie);
			return ret;
		}
		const char *t = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "cs_token");
		if (!t || !secret_eq(t, W.token))
			return send_error(c, MHD_HTTP_UNAUTHORIZED, "access token required: open the /login?token=... address");
	}

	wsess ws;
	int have = find_session(c, &ws);

	if (is_get) {
		if (strncmp(url, "/img/", 5) == 0)
			return get_image(c, url + 5);
		if (strncmp(url, "/api/", 5) == 0)
			return get_api(c, url, &ws, have);
		return get_static(c, url);
	}
	if (!is_post)
		return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
	if (strncmp(url, "/api/", 5) != 0)
		return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
	if (!origin_ok(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin")))
		return send_error(c, MHD_HTTP_FORBIDDEN, "cross-origin request refused");
	const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (!ct || strncasecmp(ct, "application/json", 16) != 0)
		return send_error(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json");
	json_error_t je;
	json_t *body = json_loadb(rq->body ? rq->body : "", rq->len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(body)) {
		json_decref(body);
		return send_error(c, MHD_HTTP_BAD_REQUEST, "body: a JSON object");
	}
	enum MHD_Result ret;
	if (strcmp(url, "/api/login") == 0) {
		ret = post_login(c, body);
	} else if (!have) {
		ret = send_error(c, MHD_HTTP_UNAUTHORIZED, "log in first");
	} else {
		const char *tok = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token");
		if (!tok || !secret_eq(tok, ws.csrf))
			ret = send_error(c, MHD_HTTP_FORBIDDEN, "missing or wrong CSRF token");
		else
			ret = post_api(c, url, &ws, body);
	}
	json_decref(body);
	return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	req *rq = *con_cls;
	(void)cls; (void)c; (void)toe;
	if (rq) {
		free(rq->body);
		free(rq);
	}
	*con_cls = NULL;
}

/* --- setup --------------------------------------------------------------------------------- */

/* Allow Host header value h (with its port, or the bound port added). */
static void add_host(const char *h, unsigned port)
{
	const char *colon = strrchr(h, ':'), *br = strrchr(h, ']');
	int has_port = colon && (!br || colon > br) && (br || colon == strchr(h, ':')) &&
		colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1);
	W.hosts = xreallocarray(W.hosts, W.nhosts + 1, sizeof *W.hosts);
	W.hosts[W.nhosts++] = has_port ? xstrdup(h) : xasprintf("%s:%u", h, port);
}

static char *read_token(const char *path)
{
	FILE *fp = fopen(path, "r");
	char buf[512];
	if (!fp)
		cs_die(CS_EXIT_IO, "%s:", path);
	if (!fgets(buf, sizeof buf, fp))
		buf[0] = '\0';
	fclose(fp);
	buf[strcspn(buf, "\r\n")] = '\0';
	if (strlen(buf) < 16)
		cs_die(CS_EXIT_USAGE, "%s: the access token must be at least 16 characters", path);
	for (char *p = buf; *p; p++)
		if (*p <= ' ' || *p == ';' || *p == ',' || *p == '"' || *p == '\\' || (unsigned char)*p >= 0x7f)
			cs_die(CS_EXIT_USAGE, "%s: the access token may use printable ASCII except space ; , \" \\", path);
	return xstrdup(buf);
}

int main(int argc, char **argv)
{
	ui_params p;
	const char *listen_addr = "127.0.0.1", *token_file = NULL;
	const char **allow = NULL;
	size_t nallow = 0;
	unsigned port = 8077, timeout = 30, threads = 4, conns = 256;
	size_t cache_mb = 256;
	char err[1024];
	enum { O_LISTEN = UI_O_END, O_PORT, O_TOKEN, O_ALLOW, O_TIMEOUT, O_BODY, O_THREADS, O_CONNS,
		O_CACHEMB };
	static const struct option lo[] = {
		UI_OPTIONS, { "listen", 1, 0, O_LISTEN },
		{ "port", 1, 0, O_PORT }, { "token-file", 1, 0, O_TOKEN }, { "allow-host", 1, 0, O_ALLOW },
		{ "timeout", 1, 0, O_TIMEOUT },
		{ "max-body", 1, 0, O_BODY }, { "threads", 1, 0, O_THREADS }, { "connections", 1, 0, O_CONNS },
		{ "cache-mb", 1, 0, O_CACHEMB }, { 0, 0, 0, 0 },
	};
	int ch;

	diag_init(argv[0]);
	ui_params_default(&p);
	W.max_body = 16384;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case O_LISTEN: listen_addr = optarg; break;
		case O_PORT: port = (unsigned)num_arg_ll("--port", optarg, 0, 65535); break;
		case O_TOKEN: token_file = optarg; break;
		case O_ALLOW:
			allow = xreallocarray(allow, nallow + 1, sizeof *allow);
			allow[nallow++] = optarg;
			break;
		case O_TIMEOUT: timeout = (unsigned)num_arg_ll("--timeout", optarg, 1, 3600); break;
		case O_BODY: W.max_body = (size_t)num_arg_ll("--max-body", optarg, 256, 1 << 20); break;
		case O_THREADS: threads = (unsigned)num_arg_ll("--threads", optarg, 1, 64); break;
		case O_CONNS: conns = (unsigned)num_arg_ll("--connections", optarg, 1, 10000); break;
		case O_CACHEMB: cache_mb = (size_t)num_arg_ll("--cache-mb", optarg, 1, 65536); break;
		default:
			if (!ui_params_option(&p, ch, optarg))
				usage();
		}
	}
	if (optind != argc || !p.cache || !p.labels || !p.classes)
		usage();

	/* where to listen, and whether that is safe */
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	int loopback, v6 = 0;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, listen_addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		loopback = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	} else if (inet_pton(AF_INET6, listen_addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		loopback = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
		v6 = 1;
	} else {
		cs_die(CS_EXIT_USAGE, "--listen: %s: not a numeric IPv4 or IPv6 address", listen_addr);
	}
	if (token_file)
		W.token = read_token(token_file);
	if (!loopback && !W.token)
		cs_die(CS_EXIT_USAGE, "--listen %s is not a loopback address: refusing to serve labels to the "
				"network without an access token (--token-file)", listen_addr);

	if (ui_img_init(argv[0]) != 0)
		cs_die(CS_EXIT_INTERNAL, "cannot initialise libvips");
	int st;
	W.core = ui_core_open(&p, argv[0], &st, err, sizeof err);
	if (!W.core)
		cs_die(st, "%s", err);
	W.img = ui_imgcache_new(cache_mb << 20);
	W.sess = xcalloc(MAX_WEB_SESSIONS, sizeof *W.sess);
	pthread_mutex_init(&W.mu, NULL);

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct MHD_Daemon *d = MHD_start_daemon(
			MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0),
			(uint16_t)port, NULL, NULL, handler, NULL,
			MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			MHD_OPTION_THREAD_POOL_SIZE, threads,
			MHD_OPTION_CONNECTION_LIMIT, conns,
			MHD_OPTION_CONNECTION_TIMEOUT, timeout,
			MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536,
			MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
			MHD_OPTION_END);
	if (!d)
		cs_die(CS_EXIT_IO, "cannot listen on %s port %u:", listen_addr, port);
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	unsigned bound = di ? di->port : port;
	add_host("localhost", bound);
	add_host("127.0.0.1", bound);
	add_host("[::1]", bound);
	if (!loopback) {
		char *h = v6 ? xasprintf("[%s]", listen_addr) : xstrdup(listen_addr);
		add_host(h, bound);
		free(h);
	}
	for (size_t i = 0; i < nallow; i++)
		add_host(allow[i], bound);
	fprintf(stderr, "%s: %zu images, %zu classes; listening on http://%s%s%s:%u/%s\n", diag_prog(),
			ui_core_nitems(W.core), ui_core_nclasses(W.core), v6 ? "[" : "", listen_addr, v6 ? "]" : "",
			bound, W.token ? "login?token=..." : "");
	fflush(stderr);

	int sig;
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	ui_core_free(W.core);
	ui_imgcache_free(W.img);
	for (size_t i = 0; i < W.nhosts; i++)
		free(W.hosts[i]);
	free(W.hosts);
	free(W.sess);
	free(W.token);
	free(allow);
	return CS_EXIT_OK;
}
