/*
 * libFuzzer target: the overlay configuration document.
 *
 * The input is parsed with p2p_config_parse. A document that parses is
 * written back with p2p_config_write; that output must parse again, by its
 * instance name too, with the same instance name, sequence, kinds and
 * STUN/TURN servers. The input is also given to p2p_config_verify with an
 * empty trust store, which must refuse it (there is no root to chain to)
 * without crashing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static p2p_trust *empty_trust;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if ((empty_trust = p2p_trust_new()) == NULL)
		abort();
	return 0;
}

static int
str_same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static int
kind_same(const p2p_kind_def *a, const p2p_kind_def *b)
{
	if (a->id != b->id || a->named != b->named || a->model != b->model ||
	    a->policy != b->policy || a->max_count != b->max_count ||
	    a->max_size != b->max_size ||
	    a->max_node_multiple != b->max_node_multiple ||
	    a->domain_restriction != b->domain_restriction ||
	    a->domain_enable != b->domain_enable ||
	    a->npatterns != b->npatterns || !str_same(a->signature,
	    b->signature) || !str_same(a->label, b->label))
		return 0;
	for (size_t i = 0; i < a->npatterns; i++)
		if (!str_same(a->patterns[i], b->patterns[i]))
			return 0;
	return 1;
}

static int
servers_same(const p2p_ice_server_cfg *a, size_t na,
    const p2p_ice_server_cfg *b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (!str_same(a[i].address, b[i].address) ||
		    a[i].port != b[i].port ||
		    !str_same(a[i].username, b[i].username) ||
		    !str_same(a[i].password, b[i].password))
			return 0;
	return 1;
}

static void
same_config(const p2p_config *a, const p2p_config *b)
{
	if (!str_same(a->instance_name, b->instance_name) ||
	    a->sequence != b->sequence || a->nkinds != b->nkinds ||
	    !servers_same(a->stun_servers, a->nstun_servers, b->stun_servers,
	    b->nstun_servers) ||
	    !servers_same(a->turn_servers, a->nturn_servers, b->turn_servers,
	    b->nturn_servers) ||
	    !str_same(a->turn_username, b->turn_username) ||
	    !str_same(a->turn_password, b->turn_password))
		abort();
	for (size_t i = 0; i < a->nkinds; i++)
		if (!kind_same(&a->kinds[i], &b->kinds[i]))
			abort();
}

static void
round_trip(const p2p_config *c)
{
	p2p_config c2, c3;
	p2p_wbuf w;
	p2p_err err;

	p2p_w_init(&w, 4096);
	if (p2p_config_write(c, &w, &err) != 0)
		abort();	/* what was parsed can be written */
	if (p2p_config_parse((const char *)w.p, w.len, NULL, &c2, &err) != 0)
		abort();	/* and what was written parses */
	same_config(c, &c2);
	if (c->instance_name != NULL) {
		if (p2p_config_parse((const char *)w.p, w.len,
		    c->instance_name, &c3, &err) != 0)
			abort();
		same_config(c, &c3);
		p2p_config_free(&c3);
	}
	p2p_config_free(&c2);
	p2p_w_free(&w);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *doc = (const char *)data;
	p2p_config c;
	p2p_sig_who who;
	p2p_err err;

	memset(&err, 0, sizeof(err));
	if (p2p_config_parse(doc, size, NULL, &c, &err) == 0)
		round_trip(&c);
	else if (err.what == NULL)
		abort();
	p2p_config_free(&c);
	memset(&err, 0, sizeof(err));
	if (p2p_config_verify(doc, size, empty_trust, NULL, 0, &who, &err) ==
	    0)
		abort();	/* nothing can chain to an empty trust store */
	if (err.what == NULL)
		abort();
	return 0;
}
