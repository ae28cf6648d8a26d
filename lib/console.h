/* console.h: a function's console, workerd's merged stdout and stderr: kept bounded while it
 * comes, and cleaned of workerd's internal noise for the function's author. */
#ifndef OYS_CONSOLE_H
#define OYS_CONSOLE_H

#include <stddef.h>

#include "buf.h"

#define OYS_CONSOLE_KEEP (32 * 1024)

/* Raw output, bounded: the first OYS_CONSOLE_KEEP bytes, then a window of the last
 * OYS_CONSOLE_KEEP bytes; what falls between is counted, not kept. */
struct oys_console {
	struct oys_buf first;
	struct oys_buf last;
	size_t dropped;
};

/* Keeps p[0..n), the next bytes of output. */
void oys_console_keep(struct oys_console *c, const char *p, size_t n);
void oys_console_free(struct oys_console *c);

/* The console, cleaned: console.log/error lines as they are, uncaught exceptions as
 * "Uncaught Error: msg" followed by their JS stack, workerd's own errors shortened to
 * "workerd: <message>". Appended to out. */
void oys_console_text(const struct oys_console *c, struct oys_buf *out);

/* The line that explains a failed start ("Uncaught SyntaxError: ... at worker.js:2:32"), or
 * the last non-empty line of the output. */
void oys_console_start_error(const struct oys_console *c, char *out, size_t outsz);

#endif
