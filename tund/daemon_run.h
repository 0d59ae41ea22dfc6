/*
 * daemon_run.h - what main() calls: start the daemon on a loop, stop it.
 */
#ifndef TUND_DAEMON_RUN_H
#define TUND_DAEMON_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "daemon.h"

/* d->cfg must be filled. On error, err says what failed; call
 * daemon_stop() and run the loop to release what was opened. */
int daemon_start(struct daemon *d, uv_loop_t *loop, const uint8_t priv[KEY_LEN], char *err, size_t errlen);
/* Closes every handle; the loop then ends on its own. Idempotent. */
void daemon_stop(struct daemon *d);

#endif
