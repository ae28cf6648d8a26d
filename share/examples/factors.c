/* Example oys function in C, run as WebAssembly: the prime factors of a number.
 *   stdin {"num": 100}  ->  stdout {"num":100,"factors":[2,2,5,5]}
 * the same answer as factors.js. Build it with Debian's clang and wasi-libc:
 *   clang-14 --target=wasm32-wasi --sysroot=/usr -O2 -s -o factors.wasm factors.c
 * and run it on its own with any WASI runtime, or as an oys function:
 *   oys-capnp --wasm factors.wasm --port 8080 > config.capnp
 * Bad input: a message on stderr and exit status 1 (oys answers 500 with the message). */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define MAX_INPUT (1 << 20)
#define MAX_SAFE 9007199254740991ULL /* 2^53 - 1, as Number.isSafeInteger */

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* A JSON string at p (at its opening quote); copies at most outsz-1 bytes of it, unescaped
 * only as far as a key needs. Returns the position after the closing quote, or NULL. */
static const char *json_string(const char *p, char *out, size_t outsz)
{
	size_t n = 0;
	if (*p++ != '"')
		return NULL;
	for (; *p != '"'; p++) {
		if (*p == '\0')
			return NULL;
		if (*p == '\\' && *++p == '\0')
			return NULL;
		if (out && n + 1 < outsz)
			out[n++] = *p;
	}
	if (out)
		out[n] = '\0';
	return p + 1;
}

/* Skips any JSON value; returns the position of the ',' or '}' after it, or NULL. */
static const char *json_skip(const char *p)
{
	int depth = 0;
	for (;;) {
		if (*p == '\0')
			return NULL;
		if (*p == '"') {
			if ((p = json_string(p, NULL, 0)) == NULL)
				return NULL;
			continue;
		}
		if (depth == 0 && (*p == ',' || *p == '}'))
			return p;
		if (*p == '{' || *p == '[')
			depth++;
		else if (*p == '}' || *p == ']')
			depth--;
		p++;
	}
}

/* The value of "num" in a JSON object: 1 and *num set, 0 if absent or not a whole number. */
static int find_num(const char *p, uint64_t *num)
{
	char key[16];
	int found = 0;
	p = skip_ws(p);
	if (*p++ != '{')
		return 0;
	p = skip_ws(p);
	if (*p == '}')
		return 0;
	for (;;) {
		if ((p = json_string(skip_ws(p), key, sizeof key)) == NULL)
			return 0;
		p = skip_ws(p);
		if (*p++ != ':')
			return 0;
		p = skip_ws(p);
		if (strcmp(key, "num") == 0) {
			uint64_t v = 0;
			const char *d = p;
			while (isdigit((unsigned char)*p) && v <= MAX_SAFE)
				v = v * 10 + (uint64_t)(*p++ - '0');
			if (p == d || v > MAX_SAFE || (*skip_ws(p) != ',' && *skip_ws(p) != '}'))
				return 0; /* negative, fractional, too large, or not a number */
			*num = v;
			found = 1;
		} else if ((p = json_skip(p)) == NULL) {
			return 0;
		}
		p = skip_ws(p);
		if (*p == '}')
			return found;
		if (*p++ != ',')
			return 0;
	}
}

int main(void)
{
	static char in[MAX_INPUT + 1];
	size_t len = fread(in, 1, MAX_INPUT, stdin);
	in[len] = '\0';
	uint64_t num = 0;
	if (!find_num(in, &num) || num < 2) {
		fputs("factors: send JSON like {\"num\": 100}; num must be a whole number >= 2\n", stderr);
		return 1;
	}
	printf("{\"num\":%llu,\"factors\":[", (unsigned long long)num);
	uint64_t n = num;
	const char *sep = "";
	for (uint64_t d = 2; d * d <= n; d++) {
		while (n % d == 0) {
			printf("%s%llu", sep, (unsigned long long)d);
			sep = ",";
			n /= d;
		}
	}
	if (n > 1)
		printf("%s%llu", sep, (unsigned long long)n);
	printf("]}");
	return 0;
}
