/* log.h — process log (startup, warnings, errors) to stderr, one line each,
 * prefixed with time and level.  Access log lines are obs/'s business.  Never
 * pass a credential or message content to these functions. */
#ifndef CMX_CORE_LOG_H
#define CMX_CORE_LOG_H

typedef enum { CMX_LOG_DEBUG, CMX_LOG_INFO, CMX_LOG_WARN, CMX_LOG_ERROR } cmx_log_level;

void cmx_log_set_level(cmx_log_level level);
void cmx_log(cmx_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define cmx_debug(...) cmx_log(CMX_LOG_DEBUG, __VA_ARGS__)
#define cmx_info(...) cmx_log(CMX_LOG_INFO, __VA_ARGS__)
#define cmx_warn(...) cmx_log(CMX_LOG_WARN, __VA_ARGS__)
#define cmx_error_log(...) cmx_log(CMX_LOG_ERROR, __VA_ARGS__)

#endif
