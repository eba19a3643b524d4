/* ca_bundle.c: which file of CA certificates HTTPS upstreams are checked against */
#include "ca_bundle.h"

#include <stddef.h>
#include <sys/stat.h>
#include <unistd.h>

/* The static build's libcurl has no compiled-in CA path (it cannot know
 * the host's), so it looks where each family of distributions puts one. */
const char *const ca_bundle_system_paths[] = {
	"/etc/ssl/certs/ca-certificates.crt",                 /* Debian, Ubuntu */
	"/etc/pki/tls/certs/ca-bundle.crt",                   /* RHEL, CloudLinux, AlmaLinux, CentOS */
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  /* the same, where only ca-trust is */
	"/etc/ssl/cert.pem",                                  /* Alpine (and the BSDs) */
	"/etc/ssl/ca-bundle.pem",                             /* SUSE */
	NULL,
};

const char *ca_bundle_pick(const char *configured, const char *const *candidates,
			   bool (*usable)(const char *path))
{
	if (configured && *configured)
		return configured;
	for (const char *const *c = candidates; c && *c; c++)
		if (usable(*c))
			return *c;
	return NULL;
}

bool ca_bundle_readable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0;
}
