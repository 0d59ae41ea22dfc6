/*
 * serverid.h - the name a publishing tund goes by, the SERVER of
 * "SERVER.SYSTEM" at the mediator (REGISTER) and at the relay (its listen
 * requests): server_id from tund.conf, else one derived from the host
 * name. Both links take it from here so that one name reaches a server
 * either way.
 */
#ifndef TUND_SERVERID_H
#define TUND_SERVERID_H

#include "config.h"
#include "medproto.h"

/* The host name's first label, lowercased, other characters as '-', or
 * "server" when that is no valid id (medproto_server_id_ok). */
void serverid_get(const struct cfg *c, char out[MEDPROTO_SERVER_ID_MAX]);

#endif
