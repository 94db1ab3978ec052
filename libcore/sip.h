/*
 * sip: SIP messages (RFC 3261) for the node's SIP front, on top of
 * libosip2's parser and builder.
 *
 * Why libosip2: it is a parser and builder only, with no event loop and
 * no threads of its own, so it sits under the node's libuv loop without
 * friction; sofia-sip brings its own reactor (su_root) and a much larger
 * stack the proxy does not need. libosip2 is packaged in Debian
 * (libosip2-dev) and maintained.
 *
 * What this module adds to it:
 *   - p2p_sip_parse: parse one message and insist on what a proxy needs
 *     (Via, From, To, Call-ID, CSeq whose method matches a request's,
 *     a sane size), so the layers above never meet a half message;
 *   - p2p_sip_frame: cut a byte stream (TCP, TLS) into messages with the
 *     Content-Length rule of RFC 3261 s18.3;
 *   - small accessors and editors the proxy uses (top Via branch, Via
 *     and Route push/pop, URI parameters) and p2p_sip_response to build
 *     an answer to a request.
 *
 * Every function checks its input; none of them aborts on bad data.
 */
#ifndef P2P_SIP_H
#define P2P_SIP_H

#include <stddef.h>
#include <stdint.h>

#include <osipparser2/osip_parser.h>

/* The largest SIP message accepted on any transport. */
#define P2P_SIP_MAX_MSG 65535

/* Call once before any other function (libosip2's parser tables; its
 * own traces to stderr are turned off). */
void p2p_sip_init(void);

/* Parse buf; NULL with a reason in err when it is not a usable SIP
 * message. Free the result with osip_message_free. */
osip_message_t *p2p_sip_parse(const char *buf, size_t len, char *err,
    size_t errlen);

/* Serialize; *out is malloc'd (free with osip_free / free). 0 or -1. */
int p2p_sip_to_str(osip_message_t *m, char **out, size_t *len);

/*
 * Stream framing: the length of the first whole message in buf (leading
 * CRLF keep-alives included, so the caller drops that many bytes), 0 when
 * more bytes are needed, -1 when the stream is not SIP or a message would
 * exceed max bytes. *skip gets the number of leading CRLF bytes.
 */
long p2p_sip_frame(const uint8_t *buf, size_t len, size_t max, size_t *skip);

/* The branch of the topmost Via, or NULL. */
const char *p2p_sip_top_branch(osip_message_t *m);
/* Insert a Via (header value text) at the top. 0 or -1. */
int p2p_sip_push_via(osip_message_t *m, const char *value);
/* Remove the topmost Via. 0 or -1 when there is none. */
int p2p_sip_pop_via(osip_message_t *m);
/* Insert a Record-Route (header value text) at the top. */
int p2p_sip_push_record_route(osip_message_t *m, const char *value);
/* The topmost Route, or NULL; remove it. */
osip_route_t *p2p_sip_top_route(osip_message_t *m);
void p2p_sip_pop_route(osip_message_t *m);

/* A URI parameter's value ("" for a parameter without value), or NULL. */
const char *p2p_sip_uri_param(osip_uri_t *u, const char *name);
/* host and port of a URI (port 5060 when absent). 0 or -1. */
int p2p_sip_uri_hostport(osip_uri_t *u, char *host, size_t hostlen,
    uint16_t *port);

/*
 * An answer to req: the status line, Via (all of them), From, To (with
 * to_tag added when req's To has none and code > 100), Call-ID, CSeq,
 * Content-Length: 0. NULL when out of memory or req lacks a header.
 */
osip_message_t *p2p_sip_response(osip_message_t *req, int code,
    const char *reason, const char *to_tag);

/* The reason phrase of RFC 3261 for code ("" if unknown). */
const char *p2p_sip_reason(int code);

/* Is this an INVITE / ACK / CANCEL / REGISTER request? */
int p2p_sip_is(osip_message_t *m, const char *method);

#endif
