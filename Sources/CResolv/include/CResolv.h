#ifndef BASCULE_CRESOLV_H
#define BASCULE_CRESOLV_H

// The system's stub resolver (glibc libresolv) asked for one record type, with the answer
// read by glibc's own message parser (ns_initparse / ns_parserr): the addresses and the
// smallest TTL among the answer's records. No DNS wire format is parsed in this project.
#include <stdint.h>

enum {
    CR_OK = 0,
    CR_NXDOMAIN = 1,   // the name does not exist
    CR_NODATA = 2,     // the name exists, with no record of this type
    CR_SERVFAIL = 3,   // the server answered SERVFAIL (or another failure rcode)
    CR_TIMEOUT = 4,    // no server answered in time
    CR_REFUSED = 5,    // no server listening, or the server refused
    CR_ERROR = 6       // anything else (resolver setup, malformed answer)
};

typedef struct {
    int outcome;          // CR_*
    int rcode;            // the answer's rcode when one arrived, else -1
    int error_number;     // errno after the call, for the log line
    uint32_t ttl;         // smallest TTL of the answer's records (outcome CR_OK)
    int count;            // addresses written
} cr_result;

// Queries `name` for A (ipv6 == 0) or AAAA records through res_nquery, with a resolver state
// initialised for this call (so an edited /etc/resolv.conf is read), and writes up to
// `capacity` addresses of 4 (A) or 16 (AAAA) bytes each, packed, into `out`.
void cr_query(const char *name, int ipv6, uint8_t *out, int capacity, cr_result *result);

// getaddrinfo (nsswitch: /etc/hosts, then DNS) for names the DNS does not know: no TTL.
// Writes up to `capacity` entries of 17 bytes (a family byte, 4 or 6, then 16 address bytes).
int cr_getaddrinfo(const char *name, uint8_t *out, int capacity);

#endif
