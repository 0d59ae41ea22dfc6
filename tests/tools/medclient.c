/*
 * medclient.c - a small client of tund-mediator for tests (not
 * installed): it speaks shared/medproto.h over plain blocking sockets and
 * poll(), and prints what it gets, one "name value" line at a time, so
 * shell tests can grep its output.
 *
 *   medclient binding  -m ADDR:PORT [--change-port] [--tcp]
 *   medclient register -m ADDR:PORT -k KEYFILE -M MEDIATOR_PUB -s SERVER_ID
 *                      [-l ADDR:PORT]... [--hold SECONDS] [--answer accept|refuse]
 *                      [--bad-proof]
 *   medclient connect  -m ADDR:PORT -k KEYFILE -M MEDIATOR_PUB -t TARGET
 *                      [-l ADDR:PORT]... [--tcp-only | --udp-only | --both]
 *
 * register: NONCE then REGISTER over TCP, prints "registered", then for
 * --hold seconds (default 30) answers every CONNECT indication with an
 * ANSWER over UDP and a copy over TCP, and sends a Binding keepalive every
 * 15 s. --bad-proof sends a REGISTER whose TUND-AUTH is wrong.
 * connect: CONNECT over UDP (retransmitted), and over TCP too when no
 * reply came within a second (or at once: --tcp-only, --both); prints
 * every reply, waiting up to a second more after a success without
 * PUBLIC-ADDR for the update that brings it.
 *
 * Exit: 0 success, 3 an error reply, 1 no reply in time or I/O failure,
 * 2 usage. Every wait is bounded.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <sodium.h>

#include "addr.h"
#include "keys.h"
#include "medproto.h"
#include "stun.h"

#define REPLY_WAIT_MS 5000
#define TCP_AFTER_MS 1000          /* connect: when TCP joins UDP */
#define UPDATE_WAIT_MS 1000        /* connect: for a success with PUBLIC-ADDR */
#define KEEPALIVE_MS 15000

struct opts {
	struct endpoint mediator;
	bool has_mediator;
	const char *keyfile;
	const char *mediator_pub;
	char server_id[MEDPROTO_SERVER_ID_MAX];
	char target[MEDPROTO_TARGET_MAX];
	struct endpoint local[MEDPROTO_MAX_ADDRS];
	unsigned n_local;
	unsigned hold_s;
	uint32_t decision;
	bool bad_proof, change_port, tcp, tcp_only, udp_only, both;
};

struct ident {
	uint8_t priv[KEY_LEN], pub[KEY_LEN], mpub[KEY_LEN], k[32];
};

/* A TCP stream of STUN messages. */
struct stream {
	int fd;
	size_t len;
	uint8_t buf[STUN_MAX_MSG];
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "medclient: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static void print_ep(const char *name, const struct endpoint *ep)
{
	char s[ENDPOINT_STR_LEN];
	endpoint_format(s, ep);
	printf("%s %s\n", name, s);
}

static void print_key(const char *name, const uint8_t key[KEY_LEN])
{
	char s[KEY_B64_LEN + 1];
	key_to_base64(s, key);
	printf("%s %s\n", name, s);
}

/* ------------------------------------------------------------ sockets */

static int udp_socket(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int tcp_connect(const struct endpoint *to)
{
	struct sockaddr_in sa;
	struct pollfd pfd;
	int err = 0, one = 1;
	socklen_t elen = sizeof(err);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	endpoint_to_sockaddr(&sa, to);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		goto fail;
	pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&pfd, 1, REPLY_WAIT_MS) != 1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err) {
		errno = err ? err : ETIMEDOUT;
		goto fail;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
fail:
	close(fd);
	return -1;
}

static int send_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN && poll(&pfd, 1, REPLY_WAIT_MS) == 1)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads what is there; the length of a whole message at the start of the
 * buffer, 0 when none yet, -1 on EOF, error or a bad frame. */
static int stream_fill(struct stream *s)
{
	ssize_t n = recv(s->fd, s->buf + s->len, sizeof(s->buf) - s->len, MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN))
		return -1;
	if (n > 0)
		s->len += (size_t)n;
	int f = stun_frame_len(s->buf, s->len);
	return f < 0 ? -1 : (size_t)f <= s->len ? f : 0;
}

static void stream_consume(struct stream *s, size_t n)
{
	memmove(s->buf, s->buf + n, s->len - n);
	s->len -= n;
}

/* ------------------------------------------------------------ messages */

static int load_ident(const struct opts *o, struct ident *id)
{
	char err[512];
	if (!o->keyfile || !o->mediator_pub)
		return die("-k KEYFILE and -M MEDIATOR_PUB are required");
	if (key_read_file(id->priv, o->keyfile, err, sizeof(err)) < 0)
		return die("%s", err);
	if (key_public(id->pub, id->priv) < 0)
		return die("%s: not a usable private key", o->keyfile);
	if (key_from_base64(id->mpub, o->mediator_pub) < 0)
		return die("-M: not a base64 public key");
	if (medproto_auth_key(id->k, id->priv, id->mpub, id->pub, id->mpub) < 0)
		return die("-M: a degenerate public key");
	return 0;
}

static void print_msg(const struct medmsg *mm, const char *auth)
{
	char hex[STUN_TXID_LEN * 2 + 1];
	printf("reply %s %s\n", medproto_method_name(mm->method),
	       mm->cls == STUN_SUCCESS ? "success" : mm->cls == STUN_ERROR ? "error" :
	       mm->cls == STUN_INDICATION ? "indication" : "request");
	if (mm->error_code)
		printf("error %u %s\n", mm->error_code, mm->error_reason);
	if (mm->has_peer_key)
		print_key("peer-key", mm->peer_key);
	if (mm->server_id[0])
		printf("server-id %s\n", mm->server_id);
	if (mm->has_connect_id) {
		sodium_bin2hex(hex, sizeof(hex), mm->connect_id, STUN_TXID_LEN);
		printf("connect-id %s\n", hex);
	}
	if (mm->has_public)
		print_ep("public-addr", &mm->public_addr);
	for (unsigned i = 0; i < mm->n_local; i++)
		print_ep("local-addr", &mm->local[i]);
	if (mm->has_mapped)
		print_ep("mapped", &mm->mapped);
	printf("auth %s\n", auth);
	fflush(stdout);
}

/* Decodes a reply; "ok", "none" or "bad" for its TUND-AUTH. */
static int parse_reply(const struct ident *id, const uint8_t *buf, size_t len, struct medmsg *mm,
		       const char **auth)
{
	struct stun_msg sm;
	if (stun_decode(buf, len, &sm) < 0 || medproto_parse(&sm, mm) < 0)
		return -1;
	*auth = !mm->has_auth ? "none" :
		medproto_auth_ok(&sm, id->k, MEDPROTO_DIR_FROM_MEDIATOR) ? "ok" : "bad";
	return 0;
}

static int encode(const struct ident *id, const struct medmsg *mm, uint8_t *buf, size_t cap)
{
	int n = medproto_encode(buf, cap, mm, id ? id->k : NULL, MEDPROTO_DIR_TO_MEDIATOR, false);
	if (n < 0)
		die("cannot encode %s: %s", medproto_method_name(mm->method), strerror(-n));
	return n;
}

/* Sends req on s and waits for the message with its transaction id;
 * copies it to out (STUN_MAX_MSG bytes): its length, or -1. */
static int tcp_exchange(struct stream *s, const uint8_t *req, size_t len,
			const uint8_t txid[STUN_TXID_LEN], uint8_t *out)
{
	uint64_t deadline = now_ms() + REPLY_WAIT_MS;
	if (send_all(s->fd, req, len) < 0)
		return die("TCP send: %s", strerror(errno)), -1;
	while (now_ms() < deadline) {
		struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
		if (poll(&pfd, 1, (int)(deadline - now_ms())) <= 0)
			continue;
		int f = stream_fill(s);
		if (f < 0)
			return die("TCP connection closed by the mediator"), -1;
		if (f == 0)
			continue;
		bool mine = memcmp(s->buf + 8, txid, STUN_TXID_LEN) == 0;
		memcpy(out, s->buf, (size_t)f);
		stream_consume(s, (size_t)f);
		if (mine)
			return f;
	}
	return die("no reply over TCP within %d ms", REPLY_WAIT_MS), -1;
}

static int tcp_request(struct stream *s, const struct ident *id, const uint8_t *req, size_t len,
		       const uint8_t txid[STUN_TXID_LEN], struct medmsg *out, const char **auth)
{
	uint8_t buf[STUN_MAX_MSG];
	int n = tcp_exchange(s, req, len, txid, buf);
	if (n < 0)
		return 1;
	if (parse_reply(id, buf, (size_t)n, out, auth) < 0)
		return die("undecodable reply over TCP");
	return 0;
}

/* ------------------------------------------------------------ binding */

static int binding_request(const struct opts *o, uint8_t *buf, uint8_t txid[STUN_TXID_LEN])
{
	struct stun_writer w;
	stun_new_txid(txid);
	stun_begin(&w, buf, STUN_MAX_MSG, STUN_METHOD_BINDING, STUN_REQUEST, txid);
	if (o->change_port)
		stun_put_u32(&w, STUN_ATTR_CHANGE_REQUEST, STUN_CHANGE_PORT);
	stun_put_fingerprint(&w);
	return stun_end(&w);
}

static int print_binding(const uint8_t *buf, size_t len, const struct endpoint *from)
{
	struct stun_msg sm;
	struct medmsg mm;
	if (stun_decode(buf, len, &sm) < 0 || medproto_parse(&sm, &mm) < 0)
		return die("undecodable Binding response");
	if (from)
		print_ep("response-from", from);
	const struct stun_attr *sw = stun_find(&sm, STUN_ATTR_SOFTWARE);
	if (sw)
		printf("software %.*s\n", (int)sw->len, (const char *)sw->val);
	if (mm.error_code) {
		printf("error %u %s\n", mm.error_code, mm.error_reason);
		return 3;
	}
	if (!mm.has_mapped)
		return die("Binding success without XOR-MAPPED-ADDRESS");
	print_ep("mapped", &mm.mapped);
	return 0;
}

static int cmd_binding(const struct opts *o)
{
	uint8_t req[STUN_MAX_MSG], buf[STUN_MAX_MSG + 1], txid[STUN_TXID_LEN];
	int n = binding_request(o, req, txid);
	if (o->tcp) {
		static struct stream s;
		s.fd = tcp_connect(&o->mediator);
		if (s.fd < 0)
			return die("TCP connect: %s", strerror(errno));
		int r = tcp_exchange(&s, req, (size_t)n, txid, buf);
		close(s.fd);
		return r < 0 ? 1 : print_binding(buf, (size_t)r, NULL);
	}
	int fd = udp_socket();
	struct sockaddr_in to;
	endpoint_to_sockaddr(&to, &o->mediator);
	for (int attempt = 0; fd >= 0 && attempt < 5; attempt++) {
		sendto(fd, req, (size_t)n, 0, (struct sockaddr *)&to, sizeof(to));
		uint64_t deadline = now_ms() + 1000;
		while (now_ms() < deadline) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			struct sockaddr_in sa;
			socklen_t salen = sizeof(sa);
			struct endpoint from;
			if (poll(&pfd, 1, (int)(deadline - now_ms())) <= 0)
				continue;
			ssize_t r = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&sa, &salen);
			if (r < STUN_HDR_LEN || memcmp(buf + 8, txid, STUN_TXID_LEN) != 0)
				continue;
			endpoint_from_sockaddr(&from, &sa);
			close(fd);
			return print_binding(buf, (size_t)r, &from);
		}
	}
	if (fd >= 0)
		close(fd);
	return die("no Binding response within 5 s");
}

/* ----------------------------------------------------------- register */

static int send_answer(const struct opts *o, const struct ident *id, int udp, int tcp,
		       const struct medmsg *ind)
{
	struct medmsg a = { .method = MEDPROTO_METHOD_ANSWER, .cls = STUN_REQUEST, .has_key = true,
			    .has_connect_id = true, .has_decision = true, .decision = o->decision };
	uint8_t buf[STUN_MAX_MSG];
	struct sockaddr_in to;

	memcpy(a.key, id->pub, KEY_LEN);
	memcpy(a.connect_id, ind->connect_id, STUN_TXID_LEN);
	stun_new_txid(a.txid);
	int n = encode(id, &a, buf, sizeof(buf));
	if (n < 0)
		return -1;
	endpoint_to_sockaddr(&to, &o->mediator);
	/* UDP first: from it the mediator learns our public UDP mapping. */
	sendto(udp, buf, (size_t)n, 0, (struct sockaddr *)&to, sizeof(to));
	stun_new_txid(a.txid);
	n = encode(id, &a, buf, sizeof(buf));
	return n < 0 ? -1 : send_all(tcp, buf, (size_t)n);
}

static void keepalive(int tcp)
{
	uint8_t buf[STUN_HDR_LEN + 8], txid[STUN_TXID_LEN];
	struct stun_writer w;

	stun_new_txid(txid);
	stun_begin(&w, buf, sizeof(buf), STUN_METHOD_BINDING, STUN_REQUEST, txid);
	int n = stun_end(&w);
	if (n > 0)
		send_all(tcp, buf, (size_t)n);
}

/* One message from the mediator while registered. */
static int on_server_msg(const struct opts *o, const struct ident *id, int udp, int tcp,
			 const uint8_t *buf, size_t len, const char *via)
{
	struct medmsg mm;
	const char *auth;

	if (parse_reply(id, buf, len, &mm, &auth) < 0) {
		printf("undecodable message via %s\n", via);
		return 0;
	}
	if (mm.method == MEDPROTO_METHOD_CONNECT && mm.cls == STUN_INDICATION) {
		printf("via %s\n", via);
		print_msg(&mm, auth);
		if (strcmp(auth, "ok") != 0 || !mm.has_connect_id)
			return 0;
		printf("answering %s\n", o->decision == MEDPROTO_DECISION_ACCEPT ? "accept" : "refuse");
		fflush(stdout);
		return send_answer(o, id, udp, tcp, &mm);
	}
	if (mm.method == MEDPROTO_METHOD_ANSWER) {
		printf("answer-ack %s %s auth %s\n", via, mm.cls == STUN_SUCCESS ? "success" : "error",
		       auth);
		fflush(stdout);
	}
	return 0;
}

static int serve(const struct opts *o, const struct ident *id, int udp, struct stream *s)
{
	uint64_t deadline = now_ms() + (uint64_t)o->hold_s * 1000;
	uint64_t next_ka = now_ms() + KEEPALIVE_MS;
	uint8_t buf[STUN_MAX_MSG + 1];

	for (uint64_t t = now_ms(); t < deadline; t = now_ms()) {
		struct pollfd pfd[2] = { { .fd = s->fd, .events = POLLIN }, { .fd = udp, .events = POLLIN } };
		uint64_t until = next_ka < deadline ? next_ka : deadline;
		if (poll(pfd, 2, until > t ? (int)(until - t) : 0) < 0)
			return die("poll: %s", strerror(errno));
		if (now_ms() >= next_ka) {
			keepalive(s->fd);
			next_ka = now_ms() + KEEPALIVE_MS;
		}
		if (pfd[1].revents & POLLIN) {
			ssize_t r = recv(udp, buf, sizeof(buf), MSG_DONTWAIT);
			if (r > 0 && on_server_msg(o, id, udp, s->fd, buf, (size_t)r, "udp") < 0)
				return 1;
		}
		if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		for (int f; (f = stream_fill(s)) != 0;) {
			if (f < 0) {
				printf("connection closed by the mediator\n");
				fflush(stdout);
				return 1;
			}
			memcpy(buf, s->buf, (size_t)f);
			stream_consume(s, (size_t)f);
			if (on_server_msg(o, id, udp, s->fd, buf, (size_t)f, "tcp") < 0)
				return 1;
		}
	}
	return 0;
}

static int do_register(const struct opts *o, const struct ident *id, struct stream *s)
{
	struct medmsg req = { .method = MEDPROTO_METHOD_NONCE, .cls = STUN_REQUEST }, rep;
	uint8_t buf[STUN_MAX_MSG];
	const char *auth;

	stun_new_txid(req.txid);
	int n = encode(NULL, &req, buf, sizeof(buf));
	if (n < 0 || tcp_request(s, id, buf, (size_t)n, req.txid, &rep, &auth))
		return 1;
	if (!rep.has_nonce)
		return die("NONCE reply without a nonce");
	req = (struct medmsg){ .method = MEDPROTO_METHOD_REGISTER, .cls = STUN_REQUEST,
			       .has_key = true, .has_nonce = true, .n_local = o->n_local };
	stun_new_txid(req.txid);
	memcpy(req.key, id->pub, KEY_LEN);
	memcpy(req.nonce, rep.nonce, MEDPROTO_NONCE_LEN);
	memcpy(req.server_id, o->server_id, sizeof(req.server_id));
	memcpy(req.local, o->local, sizeof(req.local));
	n = encode(id, &req, buf, sizeof(buf));
	if (n < 0)
		return 1;
	if (o->bad_proof)
		buf[n - 1] ^= 0x01;   /* TUND-AUTH is last: flip a bit of the MAC */
	if (tcp_request(s, id, buf, (size_t)n, req.txid, &rep, &auth))
		return 1;
	print_msg(&rep, auth);
	if (rep.cls != STUN_SUCCESS)
		return 3;
	if (strcmp(auth, "ok") != 0)
		return die("REGISTER success without a valid TUND-AUTH");
	printf("registered\n");
	fflush(stdout);
	return 0;
}

static int cmd_register(const struct opts *o)
{
	struct ident id;
	static struct stream s;
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);

	if (!o->server_id[0])
		return die("-s SERVER_ID is required");
	if (load_ident(o, &id))
		return 1;
	int udp = udp_socket();
	if (udp < 0 || getsockname(udp, (struct sockaddr *)&sa, &salen) < 0)
		return die("UDP socket: %s", strerror(errno));
	printf("udp-port %u\n", ntohs(sa.sin_port));
	s.fd = tcp_connect(&o->mediator);
	if (s.fd < 0)
		return die("TCP connect: %s", strerror(errno));
	int rc = do_register(o, &id, &s);
	if (rc == 0 && o->hold_s)
		rc = serve(o, &id, udp, &s);
	close(s.fd);
	close(udp);
	sodium_memzero(&id, sizeof(id));
	return rc;
}

/* ------------------------------------------------------------ connect */

struct conn_state {
	int udp, tcp;
	struct stream s;
	bool got;
	int rc;
	uint64_t deadline;
};

/* A reply to our CONNECT: print it, decide how much longer to wait. */
static void on_connect_reply(struct conn_state *c, const struct ident *id, const uint8_t *txid,
			     const uint8_t *buf, size_t len, const char *via)
{
	struct medmsg mm;
	const char *auth;

	if (parse_reply(id, buf, len, &mm, &auth) < 0 || mm.method != MEDPROTO_METHOD_CONNECT ||
	    memcmp(mm.txid, txid, STUN_TXID_LEN) != 0)
		return;
	printf("via %s\n", via);
	print_msg(&mm, auth);
	uint64_t t = now_ms();
	if (!c->got) {
		c->got = true;
		c->rc = mm.cls == STUN_SUCCESS ? 0 : 3;
		c->deadline = t + (mm.cls == STUN_SUCCESS && !mm.has_public ? UPDATE_WAIT_MS : 200);
	} else if (mm.has_public && c->deadline > t + 200) {
		c->deadline = t + 200;
	}
}

static int connect_loop(const struct opts *o, const struct ident *id, struct conn_state *c,
			const uint8_t *req, size_t len, const uint8_t *txid)
{
	static const unsigned udp_at[] = { 0, 500, 1500, 3500 };
	uint64_t t0 = now_ms();
	uint64_t tcp_at = o->udp_only ? UINT64_MAX : (o->tcp_only || o->both) ? t0 : t0 + TCP_AFTER_MS;
	unsigned n_udp = 0;
	uint8_t buf[STUN_MAX_MSG + 1];
	struct sockaddr_in to;

	endpoint_to_sockaddr(&to, &o->mediator);
	c->deadline = t0 + REPLY_WAIT_MS;
	for (uint64_t t = t0; t < c->deadline; t = now_ms()) {
		if (c->udp >= 0 && !c->got && n_udp < 4 && t >= t0 + udp_at[n_udp]) {
			sendto(c->udp, req, len, 0, (struct sockaddr *)&to, sizeof(to));
			n_udp++;
		}
		if (c->tcp < 0 && !c->got && t >= tcp_at) {
			c->tcp = c->s.fd = tcp_connect(&o->mediator);
			if (c->tcp < 0 || send_all(c->tcp, req, len) < 0)
				return die("TCP: %s", strerror(errno));
		}
		struct pollfd pfd[2] = { { .fd = c->udp, .events = POLLIN }, { .fd = c->tcp, .events = POLLIN } };
		if (poll(pfd, 2, 50) <= 0)
			continue;
		if (pfd[0].revents & POLLIN) {
			ssize_t r = recv(c->udp, buf, sizeof(buf), MSG_DONTWAIT);
			if (r > 0)
				on_connect_reply(c, id, txid, buf, (size_t)r, "udp");
		}
		if (!(pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		for (int f; (f = stream_fill(&c->s)) != 0;) {
			if (f < 0) {
				close(c->tcp);
				c->tcp = c->s.fd = -1;
				tcp_at = UINT64_MAX;   /* do not reconnect */
				break;
			}
			memcpy(buf, c->s.buf, (size_t)f);
			stream_consume(&c->s, (size_t)f);
			on_connect_reply(c, id, txid, buf, (size_t)f, "tcp");
		}
	}
	return 0;
}

static int cmd_connect(const struct opts *o)
{
	struct ident id;
	static struct conn_state c;
	struct medmsg req = { .method = MEDPROTO_METHOD_CONNECT, .cls = STUN_REQUEST, .has_key = true,
			      .n_local = o->n_local };
	uint8_t buf[STUN_MAX_MSG];

	if (!o->target[0])
		return die("-t TARGET is required");
	if (load_ident(o, &id))
		return 1;
	memcpy(req.key, id.pub, KEY_LEN);
	memcpy(req.target, o->target, sizeof(req.target));
	memcpy(req.local, o->local, sizeof(req.local));
	stun_new_txid(req.txid);
	int n = encode(&id, &req, buf, sizeof(buf));
	if (n < 0)
		return 1;
	c.udp = o->tcp_only ? -1 : udp_socket();
	c.tcp = c.s.fd = -1;
	int rc = connect_loop(o, &id, &c, buf, (size_t)n, req.txid);
	if (c.udp >= 0)
		close(c.udp);
	if (c.tcp >= 0)
		close(c.tcp);
	sodium_memzero(&id, sizeof(id));
	if (rc)
		return rc;
	if (!c.got)
		return die("no reply within %d ms", REPLY_WAIT_MS);
	return c.rc;
}

/* --------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: medclient binding  -m ADDR:PORT [--change-port] [--tcp]\n"
		"       medclient register -m ADDR:PORT -k KEYFILE -M MEDIATOR_PUB -s SERVER_ID\n"
		"                          [-l ADDR:PORT]... [--hold SECONDS] [--answer accept|refuse]\n"
		"                          [--bad-proof]\n"
		"       medclient connect  -m ADDR:PORT -k KEYFILE -M MEDIATOR_PUB -t TARGET\n"
		"                          [-l ADDR:PORT]... [--tcp-only | --udp-only | --both]\n");
}

static int parse_opt(struct opts *o, int c, const char *arg)
{
	char *end;
	switch (c) {
	case 'm':
		o->has_mediator = endpoint_parse(&o->mediator, arg) == 0;
		return o->has_mediator ? 0 : die("-m %s: not ADDR:PORT", arg) + 1;
	case 'k': o->keyfile = arg; return 0;
	case 'M': o->mediator_pub = arg; return 0;
	case 's':
		if (!medproto_server_id_ok(arg))
			return die("-s %s: not a server id", arg) + 1;
		snprintf(o->server_id, sizeof(o->server_id), "%s", arg);
		return 0;
	case 't':
		if (strlen(arg) >= sizeof(o->target))
			return die("-t: too long") + 1;
		snprintf(o->target, sizeof(o->target), "%s", arg);
		return 0;
	case 'l':
		if (o->n_local == MEDPROTO_MAX_ADDRS || endpoint_parse(&o->local[o->n_local], arg) < 0)
			return die("-l %s: not ADDR:PORT (at most %d)", arg, MEDPROTO_MAX_ADDRS) + 1;
		o->n_local++;
		return 0;
	case 'H':
		o->hold_s = (unsigned)strtoul(arg, &end, 10);
		return *end || o->hold_s > 3600 ? die("--hold %s: 0..3600 seconds", arg) + 1 : 0;
	case 'A':
		if (strcmp(arg, "accept") && strcmp(arg, "refuse"))
			return die("--answer: accept or refuse") + 1;
		o->decision = strcmp(arg, "accept") ? MEDPROTO_DECISION_REFUSE : MEDPROTO_DECISION_ACCEPT;
		return 0;
	case 'B': o->bad_proof = true; return 0;
	case 'C': o->change_port = true; return 0;
	case 'T': o->tcp = true; return 0;
	case 'O': o->tcp_only = true; return 0;
	case 'U': o->udp_only = true; return 0;
	case 'b': o->both = true; return 0;
	default: return 2;
	}
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "hold", required_argument, NULL, 'H' },     { "answer", required_argument, NULL, 'A' },
		{ "bad-proof", no_argument, NULL, 'B' },      { "change-port", no_argument, NULL, 'C' },
		{ "tcp", no_argument, NULL, 'T' },            { "tcp-only", no_argument, NULL, 'O' },
		{ "udp-only", no_argument, NULL, 'U' },       { "both", no_argument, NULL, 'b' },
		{ 0 },
	};
	struct opts o = { .hold_s = 30, .decision = MEDPROTO_DECISION_ACCEPT };
	int c, rc;

	if (argc < 2 || sodium_init() < 0) {
		usage(stderr);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *cmd = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "m:k:M:s:t:l:", lopts, NULL)) != -1) {
		if ((rc = parse_opt(&o, c, optarg)) != 0) {
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !o.has_mediator) {
		usage(stderr);
		return 2;
	}
	if (strcmp(cmd, "binding") == 0)
		return cmd_binding(&o);
	if (strcmp(cmd, "register") == 0)
		return cmd_register(&o);
	if (strcmp(cmd, "connect") == 0)
		return cmd_connect(&o);
	usage(stderr);
	return 2;
}
