/*
 * log.h - leveled log lines on stderr, which journald keeps. Each line is
 * prefixed with the syslog priority in sd-daemon(3) form ("<6>") when
 * stderr is the journal (JOURNAL_STREAM is set), and with a level word
 * otherwise. The level threshold is process-wide configuration set once
 * by main(); it is the only global, and it is not mutated by modules.
 */
#ifndef TUND_LOG_H
#define TUND_LOG_H

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_get_level() >= LOG_LVL_DEBUG) log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)

#endif
