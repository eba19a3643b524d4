/* ca_bundle.h: which file of CA certificates HTTPS upstreams are checked against */
#ifndef OAF_CA_BUNDLE_H
#define OAF_CA_BUNDLE_H
#include <stdbool.h>

/* Where the distributions a host may run keep their bundle, in the order
 * tried: Debian/Ubuntu, RHEL/CloudLinux/AlmaLinux (two), Alpine, SUSE.
 * NULL-terminated. */
extern const char *const ca_bundle_system_paths[];

/* configured (the CA_BUNDLE setting) when it is set, else the first of
 * candidates (NULL-terminated) that usable() accepts, else NULL. Returns
 * one of the pointers passed in; allocates nothing. */
const char *ca_bundle_pick(const char *configured, const char *const *candidates,
			   bool (*usable)(const char *path));

/* Is path a regular file this process can read? */
bool ca_bundle_readable(const char *path);

#endif
