/*
 * serverid.c - see serverid.h.
 */
#include "serverid.h"

#include <stdio.h>
#include <unistd.h>

void serverid_get(const struct cfg *c, char out[MEDPROTO_SERVER_ID_MAX])
{
	char host[256] = "";
	size_t o = 0;

	if (c->server_id[0]) {
		snprintf(out, MEDPROTO_SERVER_ID_MAX, "%s", c->server_id);
		return;
	}
	gethostname(host, sizeof(host) - 1);
	for (size_t i = 0; host[i] && host[i] != '.' && o + 1 < MEDPROTO_SERVER_ID_MAX; i++) {
		char ch = host[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')))
			ch = '-';
		if (o == 0 && ch == '-')
			continue;
		out[o++] = ch;
	}
	out[o] = '\0';
	if (!medproto_server_id_ok(out))
		snprintf(out, MEDPROTO_SERVER_ID_MAX, "server");
}
