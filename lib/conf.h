/* conf.h: settings, resolved once per process, and the one module of lib/ that reads the
 * environment.
 *
 * cmd/ parses its flags, then calls these: every value is the flag when given, else the OYS_*
 * variable when set and not empty, else the built-in default. The library below receives the
 * values in its option structures and never looks at the environment itself, so a setting is
 * resolved in one place and every tool that shares it honours the same variable.
 *
 * A bad value is an error naming where it came from: "--timeout: 'x' is not a number of
 * seconds" (OYS_EUSAGE) or "OYS_TIMEOUT: 'x' is not a number of seconds" (OYS_ECONFIG). */
#ifndef OYS_CONF_H
#define OYS_CONF_H

#include <stddef.h>

#include "err.h"

struct oys_run_opts;
struct oys_serve_opts;
struct oys_fetch_opts;

/* The flag when not NULL, else the variable when set and not empty, else def. */
const char *oys_conf(const char *flag, const char *env, const char *def);

/* What every tool shares, read once at start by oys_opt_init(): OYS_RUNTIME_DIR (see
 * oys_runtime_dir()), OYS_SHARE_DIR (see oys_share_path()) and OYS_LOG_FORMAT. */
void oys_conf_process(void);

/* The cgroup pool prefix: flag, OYS_CGROUP_PREFIX, "workerd_". */
const char *oys_conf_prefix(const char *flag);

/* The workerd binary: flag, OYS_WORKERD, the installed copy (<exe>/../libexec/oys/workerd),
 * the project's pinned copy, workerd on PATH. Not found: OYS_ECONFIG saying how to get it. */
int oys_conf_workerd(const char *flag, char *out, size_t outsz, struct oys_err *e);

/* The enclave's signing key file: flag, OYS_SIGNING_KEY, RUNTIME/signing.key. NULL when the
 * path does not fit in out. */
const char *oys_conf_signing_key(const char *flag, char *out, size_t outsz);

/* The peer of an inetd-style server, as the UCSPI environment describes it ($PROTO,
 * ${PROTO}REMOTEIP/PORT), else socat's SOCAT_PEERADDR/SOCAT_PEERPORT: "1.2.3.4:5",
 * "[::1]:5" (IPv6 in its short form, whether socat wrote it in full or not), "vsock:3:5"
 * (socat's VSOCK peers: a CID, never an IP address), "unknown" (a UNIX socket's path, or
 * anything else that is no address), or "-" when there is no peer information at all. */
void oys_conf_peer(char *out, size_t outsz);

/* Where code comes from, for fields left NULL: store (OYS_STORE, the default store),
 * attestation_url (OYS_ATTESTATION_URL, the default), rpc_url (OYS_RPC_URL), contract
 * (OYS_CODE_CONTRACT). */
void oys_conf_fetch(struct oys_fetch_opts *o);

/* The command line of a run, as text; NULL: not given. */
struct oys_run_flags {
	const char *store, *attestation_url, *rpc_url, *contract;
	const char *outbound, *compat_date, *prefix, *workerd;
	const char *timeout, *start_timeout, *memory, *cpu, *max_response, *confirmations;
	const char *fetch_timeout;
	const char *sandbox_uid;
	const char *max_memory, *max_cpu, *max_timeout, *outbound_allowed;
};

/* Fills o (oys-run and oys-serve share it) from the flags, then OYS_STORE,
 * OYS_ATTESTATION_URL, OYS_RPC_URL, OYS_CODE_CONTRACT, OYS_OUTBOUND, OYS_COMPAT_DATE,
 * OYS_CGROUP_PREFIX, OYS_WORKERD, OYS_TIMEOUT, OYS_START_TIMEOUT, OYS_FETCH_TIMEOUT, OYS_MEMORY,
 * OYS_CPU, OYS_MAX_RESPONSE, OYS_CHAIN_CONFIRMATIONS, OYS_SANDBOX_UID, then the defaults; and
 * the most a function's own settings may ask for, o->max, from OYS_MAX_MEMORY, OYS_MAX_CPU,
 * OYS_MAX_TIMEOUT and OYS_OUTBOUND_ALLOWED, by default what the host gives a function that asks
 * for nothing (memory and CPU left 0 for oys_run() to read the pool's; the timeout; the
 * outbound policy).
 * The strings it sets live as long as the flags and the environment, except workerd, which
 * points into o's own storage. */
int oys_conf_run(const struct oys_run_flags *f, struct oys_run_opts *o, struct oys_err *e);

struct oys_serve_flags {
	struct oys_run_flags run;
	const char *max_body, *read_timeout, *drain_grace, *write_timeout, *max_connections;
	const char *trust_no_peer; /* "1": --trust-no-peer */
	const char *signing_key;
};

/* oys_conf_run() for o->run, then OYS_MAX_BODY, OYS_READ_TIMEOUT, OYS_DRAIN_GRACE,
 * OYS_WRITE_TIMEOUT, OYS_MAX_CONNECTIONS, OYS_TRUST_NO_PEER (0 or 1), OYS_SIGNING_KEY
 * (oys_conf_signing_key()), OYS_ADMIN_TOKEN and the peer. */
int oys_conf_serve(const struct oys_serve_flags *f, struct oys_serve_opts *o, struct oys_err *e);

#endif
