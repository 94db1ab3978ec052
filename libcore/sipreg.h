/*
 * sipreg: the names of the SIP usage of RELOAD (RFC 7904): addresses of
 * record, the SipRegistration value stored under them, and the GRUUs that
 * name one device by its destination list.
 *
 * The SipRegistration codec itself (p2p_sip_reg_decode/encode, the
 * P2P_SIPREG_* types) lives with the other stored-value codecs in
 * body_store.h; this module builds on it.
 *
 * AOR. The Resource Name of a registration is the AOR without scheme,
 * "user@domain", and it must equal the user name (rfc822Name) of the
 * registering node's certificate. p2p_sip_aor_norm() turns what a SIP
 * message carries (a bare AOR, a URI, a name-addr with display name,
 * angle brackets, URI parameters and headers) into that form:
 *   - the scheme "sip:" or "sips:" is dropped (SIP and SIPS share one
 *     registration; the choice is the Application-ID's, not the name's);
 *   - URI parameters (";...") and headers ("?...") are dropped, as is a
 *     port after the host, which names a transport address, not a user;
 *   - %XX escapes in the user part are decoded, so that "al%69ce" and
 *     "alice" are one AOR; the user part is otherwise kept as it is (SIP
 *     compares it case-sensitively), the domain is put in lower case;
 *   - refused: no user or no domain, a password ("user:pw@"), characters
 *     outside the RFC 3261 user and hostname sets (an IPv6 reference
 *     included: an overlay's domain is a DNS name), a decoded byte that
 *     is a control character, a space or "@", and input longer than
 *     P2P_SIP_URI_MAX or a result longer than P2P_SIP_AOR_MAX.
 *
 * GRUU (RFC 7904 s5). A GRUU of this usage is the AOR with a "gr" URI
 * parameter whose value is the base64 (RFC 4648 alphabet) of the
 * encoded destination list, each "=" of padding written as "~" (an "="
 * may not stand unescaped in a parameter value):
 *     alice@example.org;gr=AQAQ...~~
 * p2p_sip_gruu_make() writes it without a scheme (the form AORs take
 * here; a SIP message puts "sip:" in front); p2p_sip_gruu_parse() takes
 * any form p2p_sip_aor_norm() takes and insists on exactly one "gr"
 * parameter with a value that decodes to a well-formed, non-empty
 * destination list. %-escapes inside the gr value are not accepted (the
 * alphabet never needs them).
 *
 * Parsing never allocates from the heap: the destination list and the
 * bytes it points into are taken from the caller's arena, as the other
 * codecs do (msg.h).
 */
#ifndef P2P_SIPREG_H
#define P2P_SIPREG_H

#include <stddef.h>
#include <stdint.h>

#include "body_store.h"
#include "buf.h"
#include "id.h"
#include "msg.h"

/* Longest URI or name-addr accepted as input. */
#define P2P_SIP_URI_MAX		1024
/* Longest normalized AOR (a certificate user name is at most 255). */
#define P2P_SIP_AOR_MAX		255
/* Most Destinations a GRUU may carry. */
#define P2P_SIP_GRUU_MAX_DESTS	16

/*
 * Normalize an AOR (see above) into out (cap bytes, NUL included).
 * Returns the length of the result, or -1 when in is not an acceptable
 * AOR or the result does not fit.
 */
int p2p_sip_aor_norm(const char *in, char *out, size_t cap);

/*
 * A route registration of ndests Destinations with no contact
 * preferences, ready for p2p_sip_reg_encode (dests is borrowed).
 */
void p2p_sip_reg_route(p2p_sip_reg *r, const p2p_dest *dests,
    size_t ndests);

/*
 * The GRUU of a normalized aor (checked with p2p_sip_aor_norm) and a
 * destination list of 1..P2P_SIP_GRUU_MAX_DESTS entries, NUL-terminated
 * in out. Returns its length, or -1 when an argument is bad or it does
 * not fit in cap.
 */
int p2p_sip_gruu_make(char *out, size_t cap, const char *aor,
    const p2p_dest *dests, size_t ndests);

/* What a GRUU names. dests and their data point into the arena. */
typedef struct p2p_sip_gruu {
	char aor[P2P_SIP_AOR_MAX + 1];	/* normalized */
	p2p_dest *dests;
	size_t ndests;
} p2p_sip_gruu;

/*
 * Parse a GRUU of len bytes (no NUL needed). 0 on success; -1 with err
 * set (reload_code Error_Invalid_Message) when it is not a GRUU of this
 * usage or is malformed. Nothing is taken from the arena on failure.
 */
int p2p_sip_gruu_parse(const char *in, size_t len, p2p_arena *a,
    p2p_sip_gruu *out, p2p_err *err);

/* Does this URI carry a "gr" parameter (whether or not well formed)? */
int p2p_sip_is_gruu(const char *in, size_t len);

#endif
