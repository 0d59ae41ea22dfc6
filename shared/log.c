/*
 * log.c - see log.h. The threshold is set once at start-up, before the
 * event loop runs; nothing else in the process writes it.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static enum log_level threshold = LOG_LVL_INFO;

void log_set_level(enum log_level lvl) { threshold = lvl; }
enum log_level log_get_level(void) { return threshold; }

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *const words[] = { "error", "warn", "info", "debug" };
	static const int prio[] = { 3, 4, 6, 7 };
	if (lvl > threshold)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (getenv("JOURNAL_STREAM"))
		fprintf(stderr, "<%d>%s\n", prio[lvl], line);
	else
		fprintf(stderr, "%s: %s\n", words[lvl], line);
}
