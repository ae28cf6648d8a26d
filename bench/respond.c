/* bench/respond: the least an inetd-style handler can do, to weigh socat's own fork and exec
 * against oys-serve's: reads a request head on stdin, answers 200 "ok" on stdout, exits.
 * With -v it only prints a line and exits, to weigh a bare C program's start against
 * `oys-serve --version`. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		puts("respond");
		return 0;
	}
	char buf[8192];
	size_t len = 0;
	while (len < sizeof buf - 1) {
		ssize_t n = read(0, buf + len, sizeof buf - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	static const char r[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
	return write(1, r, sizeof r - 1) == (ssize_t)sizeof r - 1 ? 0 : 1;
}
